"""Microbatch models as Delta tables: each interval is audited on a copy and published as a Delta
version, by `run` and by `backfill` (whose intervals go through the same publisher)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import write_files

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")

EVENTS = "id,ts,amount\n" + "".join(
    f"{i},2026-01-{1 + i % 5:02d} {i % 24:02d}:15:00,{i}\n" for i in range(1, 51)
)  # 50 events over Jan 1-5

STG = """
{{ config(materialized='view', event_time='ts') }}
select id, cast(ts as timestamp) as ts, amount from {{ ref('events') }}
"""

FCT = """
{{ config(materialized='incremental', file_format='delta', incremental_strategy='microbatch',
          event_time='event_ts', batch_size='day', begin='2026-01-01', lookback=1) }}
select id, ts as event_ts, amount * 2 as amount2 from {{ ref('stg_events') }}
"""


def _table(root: Path) -> dict[str, int]:
    data = deltalake.DeltaTable(str(root / "lake" / "main" / "fct_events")).to_pyarrow_table()
    out: dict[str, int] = {}
    for row in data.to_pylist():
        day = row["event_ts"].date().isoformat()
        out[day] = out.get(day, 0) + row["amount2"]
    return out


def _expected(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        _id, ts, amount = line.split(",")
        out[ts[:10]] = out.get(ts[:10], 0) + 2 * int(amount)
    return out


def test_microbatch_run_and_backfill_on_delta(make_project: Callable[..., Path], cli) -> None:
    root = make_project({"seeds/events.csv": EVENTS, "models/stg_events.sql": STG,
                         "models/fct_events.sql": FCT})  # fmt: skip
    with Context(root) as ctx:
        result = ctx.run()
    assert result.exit_code == 0, [r.message for r in result.results]
    assert _table(root) == _expected(EVENTS)
    versions = deltalake.DeltaTable(str(root / "lake" / "main" / "fct_events")).version()
    with Context(root) as ctx:
        assert ctx.run().exit_code == 0  # lookback: the last interval again, same rows
    assert _table(root) == _expected(EVENTS)
    assert deltalake.DeltaTable(str(root / "lake" / "main" / "fct_events")).version() > versions
    changed = (
        "\n".join(
            line.rsplit(",", 1)[0] + ",1000" if ",2026-01-03 " in line else line
            for line in EVENTS.splitlines()
        )
        + "\n"
    )
    write_files(root, {"seeds/events.csv": changed})
    assert cli("seed", "--project-dir", root).code == 0
    res = cli("backfill", "fct_events", "--start", "2026-01-03", "--end", "2026-01-04",
              "--rerun", "all", "--project-dir", root, "--workers", "2")  # fmt: skip
    assert res.code == 0, res.out + res.err
    assert _table(root) == _expected(changed)
    with Context(root) as ctx:
        assert ctx.run(full_refresh=True).exit_code == 0
    assert _table(root) == _expected(changed)
