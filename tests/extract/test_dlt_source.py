"""dlt sources and resources declared in sources.yml and loaded by headwater's loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("dlt", reason="dlt is an optional extra: pip install 'headwater[dlt]'")

from tests.conftest import query

SOURCES = """\
version: 2
sources:
  - name: crm
    connector: dlt
    connection: {source: "tests.extract.dlt_fixture_source:crm", args: {n: N, version: V}}
    tables:
      - name: users
      - name: events
        extract: {write_disposition: append}
"""


def _project(make_project: Callable[..., Path], n: int, version: int) -> Path:
    return make_project({"sources.yml": SOURCES.replace("N", str(n)).replace("V", str(version))})


def test_dlt_source_loads_with_resource_hints(make_project: Callable[..., Path], cli) -> None:
    root = _project(make_project, 3, 1)
    res = cli("extract", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert query(root, "select id, name, address.city from crm.users order by id") == [
        (0, "user0-v1", "Oslo"), (1, "user1-v1", "Oslo"), (2, "user2-v1", "Oslo"),
    ]  # fmt: skip
    assert query(root, "select count(*) from crm.events") == [(2,)]
    # second run with changed data: users merge by the resource's primary_key, events append
    _project(make_project, 4, 2)
    res = cli("extract", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert query(root, "select count(*), count(distinct id), min(name) from crm.users") == [
        (4, 4, "user0-v2")
    ]
    assert query(root, "select count(*) from crm.events") == [(4,)]


def test_dlt_errors_name_the_source(make_project: Callable[..., Path], cli) -> None:
    root = make_project(
        {
            "sources.yml": SOURCES.replace(
                "tests.extract.dlt_fixture_source:crm", "tests.extract.nope:crm"
            )
        }
    )
    res = cli("extract", "--project-dir", root)
    assert res.code == 1 and "cannot import `tests.extract.nope:crm`" in res.out + res.err
    root = make_project(
        {
            "sources.yml": SOURCES.replace(
                "dlt_fixture_source:crm", "dlt_fixture_source:broken"
            ).replace(", args: {n: N, version: V}", "")
        },
        name="broken",
    )
    res = cli("extract", "--project-dir", root)
    assert res.code == 1 and "API down" in res.out + res.err and "crm.users" in res.out + res.err
