"""`materialized: scd1` and `materialized: scd3`: one row per key, kept up to date in place."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.materialize.test_snapshot_helpers import checksum, fetch, new_project, run, set_source

T0, T1, T2 = datetime(2020, 1, 1), datetime(2020, 1, 2), datetime(2020, 1, 3)
COLUMNS = "id INTEGER, name VARCHAR, tier VARCHAR, updated_at TIMESTAMP"


def model(config: str) -> str:
    return f"{{{{ config({config}) }}}}\nselect * from {{{{ source('raw', 'src') }}}}\n"


def project(tmp_path: Path, config: str, **files: str) -> Path:
    return new_project(tmp_path / "p", {"models/dim.sql": model(config), **files})


def source(root: Path, rows: list[tuple]) -> None:
    set_source(root, rows, columns=COLUMNS)


def ok(result) -> None:
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]


def table(root: Path) -> list[tuple]:
    return fetch(root, "select * from main.dim order by id")


SCD1 = "materialized='scd1', unique_key='id', updated_at='updated_at'"


def test_scd1_first_build_keeps_the_latest_row_per_key(tmp_path: Path) -> None:
    root = project(tmp_path, SCD1)
    source(
        root,
        [
            (1, "a", "x", T0),
            (1, "a-new", "x", T1),
            (2, "b", "y", T0),
            (2, "b-tie-2", "y", T0),
            (2, "b-tie-1", "y", T0),
        ],
    )
    result = run(root, "build")
    ok(result)
    assert result.results[-1].rows == 2
    # ties on updated_at are broken by the other columns (deterministic)
    assert table(root) == [(1, "a-new", "x", T1), (2, "b", "y", T0)]


def test_scd1_updates_in_place_keeps_gone_keys_and_is_idempotent(tmp_path: Path) -> None:
    root = project(tmp_path, SCD1)
    source(root, [(1, "a", "x", T0), (2, "b", "y", T0)])
    ok(run(root, "build"))
    source(root, [(1, "a2", "x", T1), (3, "c", "z", T1)])
    result = run(root, "build")
    ok(result)
    assert result.results[-1].rows == 2  # one updated, one inserted
    assert table(root) == [(1, "a2", "x", T1), (2, "b", "y", T0), (3, "c", "z", T1)]
    before = checksum(root, "main.dim")
    result = run(root, "build")
    ok(result)
    assert result.results[-1].rows == 0 and checksum(root, "main.dim") == before
    # an older row does not overwrite a newer one
    source(root, [(1, "stale", "x", T0), (3, "c", "z", T1)])
    ok(run(root, "build"))
    assert table(root)[0] == (1, "a2", "x", T1)


def test_scd1_hard_deletes_delete(tmp_path: Path) -> None:
    root = project(tmp_path, f"{SCD1}, hard_deletes='delete'")
    source(root, [(1, "a", "x", T0), (2, "b", "y", T0)])
    ok(run(root, "build"))
    source(root, [(2, "b", "y", T0)])
    result = run(root, "build")
    ok(result)
    assert result.results[-1].rows == 1 and table(root) == [(2, "b", "y", T0)]


def test_scd1_without_updated_at_and_composite_key(tmp_path: Path) -> None:
    root = project(tmp_path, "materialized='scd1', unique_key=['id', 'tier']")
    source(root, [(1, "a", "x", T0), (1, "b", "y", T0)])
    ok(run(root, "build"))
    source(root, [(1, "a2", "x", T0), (1, "b", "y", T0)])
    ok(run(root, "build"))
    assert table(root) == [(1, "a2", "x", T0), (1, "b", "y", T0)]


def test_scd1_new_columns_and_full_refresh(tmp_path: Path) -> None:
    root = project(tmp_path, SCD1)
    source(root, [(1, "a", "x", T0), (2, "b", "y", T0)])
    ok(run(root, "build"))
    set_source(root, [(1, "a", "x", T1, 5)], columns=COLUMNS + ", score INTEGER")
    ok(run(root, "build"))
    assert fetch(root, "select id, score from main.dim order by id") == [(1, 5), (2, None)]
    ok(run(root, "build", full_refresh=True))  # rebuilt from the SELECT alone
    assert fetch(root, "select id, score from main.dim order by id") == [(1, 5)]


def test_scd1_replaces_a_view_of_the_same_name(tmp_path: Path) -> None:
    root = project(tmp_path, "materialized='view'")
    source(root, [(1, "a", "x", T0)])
    ok(run(root, "build"))
    (root / "models" / "dim.sql").write_text(model(SCD1))
    ok(run(root, "build"))
    assert fetch(
        root, "select table_type from information_schema.tables where table_name = 'dim'"
    ) == [("BASE TABLE",)]


SCD3 = "materialized='scd3', unique_key='id', scd_columns=['tier'], updated_at='updated_at'"


def test_scd3_keeps_the_previous_value_of_tracked_columns(tmp_path: Path) -> None:
    root = project(tmp_path, SCD3)
    source(root, [(1, "a", "bronze", T0), (2, "b", "gold", T0)])
    ok(run(root, "build"))
    assert fetch(root, "select column_name from (describe main.dim)")[-1] == ("previous_tier",)
    assert table(root) == [(1, "a", "bronze", T0, None), (2, "b", "gold", T0, None)]
    source(root, [(1, "a", "silver", T1), (2, "b-renamed", "gold", T1), (3, "c", "gold", T1)])
    ok(run(root, "build"))
    # tier changed: previous kept; only an untracked column changed: previous stays as it was
    assert table(root) == [
        (1, "a", "silver", T1, "bronze"),
        (2, "b-renamed", "gold", T1, None),
        (3, "c", "gold", T1, None),
    ]
    before = checksum(root, "main.dim")
    ok(run(root, "build"))
    assert checksum(root, "main.dim") == before
    source(root, [(1, "a", "gold", T2), (2, "b-renamed", "gold", T1), (3, "c", "gold", T1)])
    ok(run(root, "build"))
    assert table(root)[0] == (1, "a", "gold", T2, "silver")


def test_scd_failing_check_rolls_back(tmp_path: Path) -> None:
    props = """
        models:
          - name: dim
            columns:
              - name: tier
                data_tests:
                  - accepted_values: {values: [bronze, silver, gold]}
    """
    root = project(tmp_path, SCD3, **{"models/props.yml": props})
    source(root, [(1, "a", "bronze", T0)])
    ok(run(root, "build"))
    before = checksum(root, "main.dim")
    source(root, [(1, "a", "platinum", T1), (2, "b", "gold", T1)])
    result = run(root, "build")
    assert result.exit_code == 1 and result.results[-1].status == "fail"
    assert checksum(root, "main.dim") == before


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("materialized='scd1'", "needs `unique_key`"),
        ("materialized='scd3', unique_key='id'", "needs `scd_columns`"),
        (
            "materialized='scd3', unique_key='id', scd_columns=['nope']",
            "`scd_columns` names `nope`",
        ),
        (
            "materialized='scd1', unique_key='id', hard_deletes='invalidate'",
            "unknown `hard_deletes: invalidate`",
        ),
        ("materialized='scd1', unique_key='key'", "`unique_key` names `key`"),
    ],
)
def test_scd_config_errors(tmp_path: Path, config: str, message: str) -> None:
    root = project(tmp_path, config)
    source(root, [(1, "a", "x", T0)])
    result = run(root, "build")
    assert result.exit_code == 1
    assert message in result.results[-1].message
