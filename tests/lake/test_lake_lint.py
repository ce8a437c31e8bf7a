"""HW106 (missing partition filter) knows a lake input's size from its metadata: a small one is
read whole without a finding, a large one (per `lint: large_rows`) is flagged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import BASE_PROJECT

pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")

EVENTS = ("{{ config(materialized='delta', partition_by=['day']) }}\n"
          "select range as id, date '2026-01-01' + cast(range % 5 as integer) as day from range(50)\n")  # fmt: skip
READER = "select id\nfrom {{ ref('events') }}\nwhere id > 0\n"


@pytest.mark.parametrize(("large_rows", "flagged"), [(100, False), (50, True), (10, True)])
def test_hw106_uses_the_lake_tables_row_count(
    make_project: Callable[..., Path], large_rows: int, flagged: bool
) -> None:
    config = BASE_PROJECT + f"lint:\n  large_rows: {large_rows}\n"
    root = make_project({"models/events.sql": EVENTS, "models/m.sql": READER}, config)
    with Context(root) as ctx:
        before = ctx.lint(["m"])  # the table does not exist yet: its size is unknown
        assert [f.rule for f in before.findings] == ["HW106"]
        assert ctx.run(["events"]).exit_code == 0
    with Context(root) as ctx:
        after = ctx.lint(["m"])
    assert ([f.rule for f in after.findings] == ["HW106"]) is flagged


def test_large_rows_must_be_a_number(make_project: Callable[..., Path]) -> None:
    from headwater.errors import ConfigError

    root = make_project(
        {"models/m.sql": "select 1 as a\n"}, BASE_PROJECT + "lint:\n  large_rows: many\n"
    )
    with pytest.raises(ConfigError, match="large_rows"), Context(root) as ctx:
        ctx.lint()
