"""Property: snapshotting any sequence of source states gives exactly the SCD2 history that a small
Python model of dbt's rules computes (both strategies, every `hard_deletes`)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.materialize.test_snapshot_helpers import (
    fetch,
    new_project,
    run,
    set_source,
    snapshot_block,
)

BASE = datetime(2020, 1, 1)
KEYS = range(1, 5)


# -- the reference model ------------------------------------------------------------------------
@dataclass
class Version:
    id: int
    name: str
    updated_at: datetime
    stamp: object  # a data timestamp, or ("now", run) for the snapshot time of a run
    valid_to: object = None
    deleted: bool = False


def reference(
    states: list[dict[int, tuple[str, datetime]]], strategy: str, hard_deletes: str
) -> list[Version]:
    history: list[Version] = []
    for run_no, state in enumerate(states):
        now = ("now", run_no)
        current = {v.id: v for v in history if v.valid_to is None}
        if hard_deletes != "ignore":
            for key, v in current.items():
                if key not in state and not v.deleted:
                    v.valid_to = now
                    if hard_deletes == "new_record":
                        history.append(Version(key, v.name, v.updated_at, now, None, True))
        current = {v.id: v for v in history if v.valid_to is None}
        for key, (name, updated_at) in state.items():
            v = current.get(key)
            stamp = updated_at if strategy == "timestamp" else now
            if v is None:
                history.append(Version(key, name, updated_at, stamp))
                continue
            if strategy == "timestamp":
                changed = isinstance(v.stamp, datetime) and v.stamp < updated_at
            else:
                changed = (v.name, v.updated_at) != (name, updated_at)
            if changed or v.deleted:
                v.valid_to = stamp
                history.append(Version(key, name, updated_at, stamp))
    return history


# -- states --------------------------------------------------------------------------------------
@st.composite
def source_states(draw: st.DrawFn) -> list[dict[int, tuple[str, datetime]]]:
    state: dict[int, tuple[str, datetime]] = {}
    states = []
    for step in range(draw(st.integers(1, 5))):
        ts = BASE + timedelta(hours=step)
        nxt = dict(state)
        for key in KEYS:
            action = draw(
                st.sampled_from(["keep", "update", "touch", "silent", "delete", "insert"])
            )
            if key in nxt:
                name, updated_at = nxt[key]
                if action == "update":
                    nxt[key] = (draw(st.sampled_from("abc")) + str(step), ts)
                elif action == "touch":  # a later updated_at, same values
                    nxt[key] = (name, ts)
                elif action == "silent":  # new values, same updated_at
                    nxt[key] = (name + "'", updated_at)
                elif action == "delete":
                    del nxt[key]
            elif action in ("insert", "update"):
                nxt[key] = (draw(st.sampled_from("abc")), ts)
        states.append(nxt)
        state = nxt
    return states


def _normalize(rows: list[tuple], run_times: list[datetime]) -> list[tuple]:
    """Replace snapshot times by ("now", run number)."""

    def norm(value: object) -> object:
        if isinstance(value, datetime) and value >= datetime(2023, 1, 1):
            return ("now", run_times.index(value))
        return value

    return sorted((tuple(norm(v) for v in row) for row in rows), key=repr)


DELETED_AND_BACK = [
    {1: ("a", BASE), 2: ("b", BASE)},
    {1: ("a", BASE)},
    {1: ("a", BASE)},
    {1: ("a", BASE), 2: ("b", BASE + timedelta(hours=3))},
]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(states=DELETED_AND_BACK, strategy="timestamp", hard_deletes="new_record")
@example(states=DELETED_AND_BACK, strategy="timestamp", hard_deletes="invalidate")
@example(states=DELETED_AND_BACK, strategy="check", hard_deletes="new_record")
@given(
    states=source_states(),
    strategy=st.sampled_from(["timestamp", "check"]),
    hard_deletes=st.sampled_from(["ignore", "invalidate", "new_record"]),
)
def test_snapshot_history_matches_the_reference_model(
    states, strategy: str, hard_deletes: str
) -> None:
    config = f"unique_key='id', strategy='{strategy}', hard_deletes='{hard_deletes}'"
    config += ", updated_at='updated_at'" if strategy == "timestamp" else ", check_cols='all'"
    with tempfile.TemporaryDirectory() as tmp:
        root = new_project(Path(tmp) / "p", {"snapshots/snap.sql": snapshot_block(config)})
        run_times: list[datetime] = []
        for state in states:
            set_source(root, [(k, name, ts) for k, (name, ts) in sorted(state.items())])
            before = datetime.now(UTC).replace(tzinfo=None)
            result = run(root)
            assert result.exit_code == 0, result.results[0].message
            after = datetime.now(UTC).replace(tzinfo=None)
            run_times.append(before)
            # the run's snapshot time: the only one written between `before` and `after`
            seen = {r[0] for r in fetch(root, f"""
                select v from (select dbt_valid_from as v from main.snap union select dbt_valid_to from main.snap)
                where v >= timestamp '{before}' and v <= timestamp '{after}'""")}  # fmt: skip
            assert len(seen) <= 1
            if seen:
                run_times[-1] = seen.pop()
        extra = ", dbt_is_deleted = 'True'" if hard_deletes == "new_record" else ", false"
        rows = fetch(
            root,
            f"select id, name, updated_at, dbt_valid_from, dbt_valid_to{extra}, dbt_scd_id, dbt_updated_at from main.snap",
        )
    expected = reference(states, strategy, hard_deletes)
    got = _normalize([r[:6] for r in rows], run_times)
    want = sorted(
        ((v.id, v.name, v.updated_at, v.stamp, v.valid_to, v.deleted) for v in expected), key=repr
    )
    assert got == want
    for row in rows:  # dbt_scd_id = md5(key | stamp), dbt_updated_at = the stamp
        assert row[7] == row[3]
        assert row[6] == hashlib.md5(f"{row[0]}|{row[3]}".encode()).hexdigest() or row[
            3
        ] >= datetime(2023, 1, 1)
