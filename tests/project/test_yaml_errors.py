"""A value PyYAML's resolver types but its constructor cannot build (a timestamp like `2026-13-01`)
is a YAML problem like any other: a `YamlError` naming the file, line and column, never a bare
`ValueError` traceback."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from headwater.errors import YamlError
from headwater.project.yaml import load_yaml
from tests.conftest import CliResult

STREAM = """\
streams:
  - name: orders_live
    source:
      connector: redis
      topic: orders
    schema: {order_id: BIGINT, ts: TIMESTAMP}
    event_time: ts
    start: 2026-13-01T00:00:00Z
    sink:
      table: raw.orders_live
"""

PROPERTIES = """\
version: 2
models:
  - name: a
    meta:
      since: 2026-02-30
"""


@pytest.mark.parametrize(
    ("text", "line", "column", "reason"),
    [
        ("a: 2026-13-01\n", 1, 4, "month must be in 1..12"),
        ("a:\n  b: 2026-02-30\n", 2, 6, "day is out of range for month"),
        ("a: [1, 2026-01-01T25:00:00]\n", 1, 8, "hour must be in 0..23"),
        ("a: 2026-01-01 10:00:00 +24:00\n", 1, 4, "offset must be a timedelta"),
        ("0000-01-01\n", 1, 1, "year 0 is out of range"),
    ],
)
def test_an_impossible_timestamp_is_a_yaml_error_at_its_value(
    text: str, line: int, column: int, reason: str
) -> None:
    with pytest.raises(YamlError) as info:
        load_yaml(text, "models/x.yml")
    err = info.value
    assert err.location is not None
    assert (err.location.path, err.location.line, err.location.column) == (
        "models/x.yml",
        line,
        column,
    )
    assert "is not a valid timestamp" in str(err) and reason in str(err)
    assert "quote it" in err.render()


def test_our_own_errors_inside_a_mapping_keep_their_message() -> None:
    # YamlError is a ValueError: the wrapper for the constructor's errors must not re-wrap it
    with pytest.raises(YamlError, match="duplicate key `a`") as info:
        load_yaml("x:\n  a: 1\n  a: 2\n", "models/x.yml")
    assert "is not a valid" not in str(info.value)


def test_an_unhashable_key_is_a_yaml_error() -> None:
    with pytest.raises(YamlError, match="a set is used as a key"):
        load_yaml("? !!set {a: null}\n: 1\n", "models/x.yml")


def test_valid_and_quoted_dates_still_load() -> None:
    data = load_yaml('a: 2024-02-29\nb: "2026-13-01"\n', "models/x.yml")
    assert data == {"a": date(2024, 2, 29), "b": "2026-13-01"}


@pytest.mark.parametrize(
    ("files", "where"),
    [
        ({"streams/s.yml": STREAM}, "streams/s.yml:8"),
        ({"models/a.sql": "select 1 as x", "models/props.yml": PROPERTIES}, "models/props.yml:5"),
    ],
)
def test_the_cli_names_the_file_and_line(
    make_project: Callable[..., Path],
    cli: Callable[..., CliResult],
    files: dict[str, str],
    where: str,
) -> None:
    root = make_project(files)
    compiled = cli("compile", "--project-dir", root)
    assert compiled.code == 2
    assert where in compiled.err and "is not a valid timestamp" in compiled.err
    assert "Traceback" not in compiled.err
    # listing works on a project with broken files: the problem is a warning, as for any bad YAML
    listed = cli("ls", "--project-dir", root)
    assert listed.code == 0
    assert f"warning: {where}" in listed.err


def test_a_bad_date_in_the_project_file_exits_2(
    make_project: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    from tests.conftest import BASE_PROJECT

    root = make_project({}, project_yml=BASE_PROJECT + "vars:\n  start: 2026-13-01\n")
    result = cli("ls", "--project-dir", root)
    assert result.code == 2
    assert "headwater.yml:" in result.err and "month must be in 1..12" in result.err


def test_an_impossible_date_in_vars_or_fromyaml_is_an_error_not_a_crash() -> None:
    from headwater.cli.common import parse_vars
    from headwater.errors import UsageError
    from headwater.sql.context import fromyaml

    with pytest.raises(UsageError, match=r"month must be in 1\.\.12"):
        parse_vars(argparse.Namespace(vars="{start: 2026-13-01}"))
    assert fromyaml("start: 2026-13-01", default="fallback") == "fallback"
