"""Conformance: snapshots (SCD type 2: timestamp and check strategies, hard deletes) and the
`scd1` / `scd3` materializations on each engine, over a seed rewritten between builds."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engines.test_materializations import build, column_types, read, rows

Project = Callable[..., Path]
T0, T1, T2 = dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2), dt.datetime(2020, 1, 3)
HISTORY = "id, name, updated_at, dbt_valid_from, dbt_valid_to"


def csv(data: list[tuple]) -> str:
    return "id,name,updated_at\n" + "".join(f"{i},{n},{t:%Y-%m-%d %H:%M:%S}\n" for i, n, t in data)


def snapshot(config: str) -> str:
    return f"{{% snapshot snap %}}\n{{{{ config({config}) }}}}\nselect * from {{{{ ref('src') }}}}\n{{% endsnapshot %}}\n"


def project(engine_project: Project, data: list[tuple], **files: str) -> Path:
    return engine_project({"seeds/src.csv": csv(data), **files})


def set_source(root: Path, data: list[tuple]) -> None:
    (root / "seeds/src.csv").write_text(csv(data), encoding="utf-8")


def ok(root: Path) -> object:
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]
    return result


TIMESTAMP = "unique_key='id', strategy='timestamp', updated_at='updated_at'"


def test_timestamp_snapshot_keeps_history(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = project(
        engine_project, [(1, "a", T0), (2, "b", T0)], **{"snapshots/snap.sql": snapshot(TIMESTAMP)}
    )
    ok(root)
    set_source(root, [(1, "a2", T1), (2, "b", T0), (3, "c", T1)])
    ok(root)
    history = Counter(
        [
            (1, "a", T0, T0, T1),
            (1, "a2", T1, T1, None),
            (2, "b", T0, T0, None),
            (3, "c", T1, T1, None),
        ]
    )
    assert rows(engine_name, schema_name, root, "snap", HISTORY) == history
    set_source(
        root, [(1, "silently changed", T1), (2, "b", T0), (3, "c", T1)]
    )  # no later updated_at: no change
    ok(root)
    assert rows(engine_name, schema_name, root, "snap", HISTORY) == history
    ids = read(
        engine_name,
        schema_name,
        root,
        f'SELECT count(DISTINCT dbt_scd_id), count(*) FROM "{schema_name}"."snap"',
    )
    assert ids == [(4, 4)]


def test_check_snapshot_versions_changed_rows_at_the_snapshot_time(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = project(engine_project, [(1, "a", T0), (2, "b", T0)],
                   **{"snapshots/snap.sql": snapshot("unique_key='id', strategy='check', check_cols=['name']")})  # fmt: skip
    ok(root)
    set_source(
        root, [(1, "a2", T0), (2, "b", T2)]
    )  # 1's name changed; 2 only its (unchecked) updated_at
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    ok(root)
    got = read(
        engine_name,
        schema_name,
        root,
        f'SELECT {HISTORY} FROM "{schema_name}"."snap" ORDER BY id, dbt_valid_from',
    )
    assert [(r[0], r[1], r[4] is None) for r in got] == [
        (1, "a", False),
        (1, "a2", True),
        (2, "b", True),
    ]
    closed, current = got[0], got[1]
    assert (
        closed[4] == current[3] and closed[4] >= started
    )  # closed at the new version's start: this run's time
    assert got[2][2] == T0  # the unchecked column did not make a version
    ok(root)  # unchanged: nothing new
    assert len(read(engine_name, schema_name, root, f'SELECT * FROM "{schema_name}"."snap"')) == 3


@pytest.mark.parametrize("mode", ["invalidate", "new_record"])
def test_hard_deletes(
    engine_name: str, engine_project: Project, schema_name: str, mode: str
) -> None:
    root = project(engine_project, [(1, "a", T0), (2, "b", T0)],
                   **{"snapshots/snap.sql": snapshot(f"{TIMESTAMP}, hard_deletes='{mode}'")})  # fmt: skip
    ok(root)
    set_source(root, [(1, "a", T0)])  # 2 is deleted
    ok(root)
    got = read(
        engine_name,
        schema_name,
        root,
        f'SELECT {HISTORY} FROM "{schema_name}"."snap" WHERE id = 2 ORDER BY dbt_valid_from',
    )
    assert (
        got[0][:4] == (2, "b", T0, T0) and got[0][4] is not None and got[0][4] > T0
    )  # closed at the snapshot time
    current = read(
        engine_name,
        schema_name,
        root,
        f'SELECT id FROM "{schema_name}"."snap" WHERE dbt_valid_to IS NULL',
    )
    if mode == "invalidate":
        assert len(got) == 1 and Counter(current) == Counter([(1,)])
    else:  # a deletion record carries the key from the deletion on
        flags = read(
            engine_name,
            schema_name,
            root,
            f'SELECT id, dbt_is_deleted FROM "{schema_name}"."snap" WHERE dbt_valid_to IS NULL',
        )
        assert len(got) == 2 and Counter(flags) == Counter([(1, "False"), (2, "True")])
    set_source(root, [(1, "a", T0), (2, "b", T2)])  # 2 comes back
    ok(root)
    current = read(
        engine_name,
        schema_name,
        root,
        f'SELECT id, name FROM "{schema_name}"."snap" WHERE dbt_valid_to IS NULL',
    )
    assert Counter(current) == Counter([(1, "a"), (2, "b")])


# -- scd1 / scd3 -------------------------------------------------------------------------------------
def dim(config: str) -> str:
    return f"{{{{ config({config}) }}}}\nselect * from {{{{ ref('src') }}}}\n"


def test_scd1_updates_in_place_and_deletes_gone_keys(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    config = "materialized='scd1', unique_key='id', updated_at='updated_at', hard_deletes='delete'"
    root = project(engine_project, [(1, "a", T0), (2, "b", T0)], **{"models/dim.sql": dim(config)})
    ok(root)
    set_source(root, [(1, "a2", T1), (3, "c", T1)])
    ok(root)
    assert rows(engine_name, schema_name, root, "dim") == Counter([(1, "a2", T1), (3, "c", T1)])
    set_source(root, [(1, "older", T0), (3, "c", T1)])  # an older row never replaces a newer one
    ok(root)
    assert rows(engine_name, schema_name, root, "dim") == Counter([(1, "a2", T1), (3, "c", T1)])


def test_scd3_keeps_the_previous_value(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    config = "materialized='scd3', unique_key='id', scd_columns=['name']"
    root = project(engine_project, [(1, "a", T0), (2, "b", T0)], **{"models/dim.sql": dim(config)})
    ok(root)
    assert [n for n, _ in column_types(engine_name, schema_name, root, "dim")] == [
        "id",
        "name",
        "updated_at",
        "previous_name",
    ]
    set_source(root, [(1, "a2", T1), (2, "b", T1)])
    ok(root)
    assert rows(engine_name, schema_name, root, "dim") == Counter(
        [(1, "a2", T1, "a"), (2, "b", T1, None)]
    )
    set_source(root, [(1, "a3", T2), (2, "b", T1)])
    ok(root)
    assert rows(engine_name, schema_name, root, "dim") == Counter(
        [(1, "a3", T2, "a2"), (2, "b", T1, None)]
    )
