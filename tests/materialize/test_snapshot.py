"""Snapshots (SCD type 2) as dbt defines them: formats, configs, history, deletes, audits."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.materialize.test_snapshot_helpers import (
    checksum,
    fetch,
    new_project,
    run,
    set_source,
    snapshot_block,
)

T0, T1, T2 = datetime(2020, 1, 1), datetime(2020, 1, 2), datetime(2020, 1, 3)
TIMESTAMP = "unique_key='id', strategy='timestamp', updated_at='updated_at'"
HISTORY = (
    "select id, name, updated_at, dbt_valid_from, dbt_valid_to from {} order by id, dbt_valid_from"
)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def project(tmp_path: Path, config: str = TIMESTAMP, **files: str) -> Path:
    return new_project(tmp_path / "p", {"snapshots/snap.sql": snapshot_block(config), **files})


def ok(result) -> None:
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]


def test_first_run_creates_the_table_with_dbt_meta_columns(tmp_path: Path) -> None:
    root = project(tmp_path)
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    result = run(root)
    ok(result)
    assert result.results[0].rows == 2 and result.results[0].resource_type == "snapshot"
    cols = fetch(root, "select column_name from (describe main.snap)")
    assert [c[0] for c in cols] == [
        "id",
        "name",
        "updated_at",
        "dbt_scd_id",
        "dbt_updated_at",
        "dbt_valid_from",
        "dbt_valid_to",
    ]
    rows = fetch(
        root,
        "select id, dbt_scd_id, dbt_updated_at, dbt_valid_from, dbt_valid_to from main.snap order by id",
    )
    assert rows == [
        (1, md5("1|2020-01-01 00:00:00"), T0, T0, None),
        (2, md5("2|2020-01-01 00:00:00"), T0, T0, None),
    ]


def test_changes_close_the_current_version_and_insert_new_ones(tmp_path: Path) -> None:
    root = project(tmp_path)
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    ok(run(root))
    # 1 changes, 2 is deleted (ignored by default), 3 is new, and a change without a later
    # updated_at is not a change for the timestamp strategy
    set_source(root, [(1, "a2", T1), (3, "c", T1)])
    result = run(root)
    ok(result)
    assert result.results[0].rows == 3  # one version closed, two inserted
    assert fetch(root, HISTORY.format("main.snap")) == [
        (1, "a", T0, T0, T1), (1, "a2", T1, T1, None), (2, "b", T0, T0, None), (3, "c", T1, T1, None),
    ]  # fmt: skip
    set_source(root, [(1, "silently changed", T1), (3, "c", T1)])
    before = checksum(root, "main.snap")
    result = run(root)
    ok(result)
    assert result.results[0].rows == 0 and checksum(root, "main.snap") == before


@pytest.mark.parametrize("config", ["hard_deletes='invalidate'", "invalidate_hard_deletes=true"])
def test_hard_deletes_invalidate_closes_deleted_keys(tmp_path: Path, config: str) -> None:
    root = project(tmp_path, f"{TIMESTAMP}, {config}")
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    ok(run(root))
    set_source(root, [(1, "a", T0)])
    started = datetime.now(UTC).replace(tzinfo=None).replace(microsecond=0)
    ok(run(root))
    (valid_to,) = fetch(root, "select dbt_valid_to from main.snap where id = 2")[0]
    assert valid_to is not None and valid_to >= started
    assert fetch(root, "select count(*) from main.snap where dbt_valid_to is null") == [(1,)]
    before = checksum(root, "main.snap")
    ok(run(root))  # deleted stays deleted: nothing to do
    assert checksum(root, "main.snap") == before
    set_source(root, [(1, "a", T0), (2, "b again", T2)])  # it comes back: a new version
    ok(run(root))
    assert fetch(
        root, "select name, dbt_valid_to from main.snap where id = 2 order by dbt_valid_from"
    )[1] == ("b again", None)


def test_hard_deletes_new_record_inserts_deletion_records(tmp_path: Path) -> None:
    root = project(tmp_path, f"{TIMESTAMP}, hard_deletes='new_record'")
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    ok(run(root))
    assert fetch(root, "select distinct dbt_is_deleted from main.snap") == [("False",)]
    set_source(root, [(1, "a", T0)])
    result = run(root)
    ok(result)
    assert result.results[0].rows == 2  # the old version closed, the deletion record inserted
    rows = fetch(
        root,
        "select name, dbt_is_deleted, dbt_valid_from, dbt_valid_to from main.snap where id = 2 order by dbt_valid_from",
    )
    assert [(r[0], r[1]) for r in rows] == [("b", "False"), ("b", "True")]
    assert (
        rows[0][3] == rows[1][2] and rows[1][3] is None
    )  # no gap: deleted from the snapshot time on
    before = checksum(root, "main.snap")
    ok(run(root))
    assert checksum(root, "main.snap") == before  # one deletion record, however often it runs
    set_source(root, [(1, "a", T0), (2, "back", T2)])
    ok(run(root))
    rows = fetch(
        root,
        "select name, dbt_is_deleted, dbt_valid_to from main.snap where id = 2 order by dbt_valid_from, dbt_is_deleted",
    )
    assert [(r[0], r[1]) for r in rows] == [("b", "False"), ("back", "False"), ("b", "True")] or [
        (r[0], r[1]) for r in rows
    ] == [("b", "False"), ("b", "True"), ("back", "False")]
    assert fetch(
        root, "select name, dbt_is_deleted from main.snap where id = 2 and dbt_valid_to is null"
    ) == [("back", "False")]


def test_hard_deletes_ignore_keeps_deleted_keys_current(tmp_path: Path) -> None:
    root = project(tmp_path, f"{TIMESTAMP}, hard_deletes='ignore'")
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    ok(run(root))
    set_source(root, [(1, "a", T0)])
    ok(run(root))
    assert fetch(root, "select id from main.snap where dbt_valid_to is null order by id") == [
        (1,),
        (2,),
    ]


@pytest.mark.parametrize("check_cols", ["'all'", "['name']"])
def test_check_strategy(tmp_path: Path, check_cols: str) -> None:
    root = project(tmp_path, f"unique_key='id', strategy='check', check_cols={check_cols}")
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    ok(run(root))
    first = fetch(root, "select dbt_valid_from from main.snap where id = 1")[0][0]
    assert first > datetime(2024, 1, 1)  # stamped with the snapshot time
    set_source(root, [(1, "a2", T0), (2, "b", T1)])  # 1: name changed; 2: only updated_at changed
    result = run(root)
    ok(result)
    changed = {
        r[0] for r in fetch(root, "select id from main.snap group by id having count(*) > 1")
    }
    assert changed == ({1, 2} if check_cols == "'all'" else {1})
    closed, new = fetch(root, "select dbt_valid_to, (select dbt_valid_from from main.snap where id = 1 and dbt_valid_to is null) "
                              "from main.snap where id = 1 and dbt_valid_to is not null")[0]  # fmt: skip
    assert closed == new and closed > first
    assert fetch(
        root,
        "select dbt_scd_id = md5('1|' || cast(dbt_updated_at as varchar)) from main.snap where id = 1",
    ) == [(True,), (True,)]
    before = checksum(root, "main.snap")
    ok(run(root))  # unchanged: no new version, even though the snapshot time moved on
    assert checksum(root, "main.snap") == before


def test_composite_unique_key(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "unique_key=['id', 'name'], strategy='timestamp', updated_at='updated_at', hard_deletes='invalidate'",
    )
    set_source(root, [(1, "a", T0), (1, "b", T0), (2, "a", T0)])
    ok(run(root))
    set_source(root, [(1, "a", T1), (1, "b", T0), (2, "b", T0)])
    ok(run(root))
    current = fetch(
        root,
        "select id, name, updated_at from main.snap where dbt_valid_to is null order by id, name",
    )
    assert current == [(1, "a", T1), (1, "b", T0), (2, "b", T0)]
    assert fetch(root, "select count(*) from main.snap") == [(5,)]
    assert fetch(root, "select dbt_scd_id from main.snap where id = 1 and name = 'b'") == [
        (md5("1|b|2020-01-01 00:00:00"),)
    ]


def test_unique_key_expression(tmp_path: Path) -> None:
    root = project(
        tmp_path, "unique_key=\"id || '-' || name\", strategy='timestamp', updated_at='updated_at'"
    )
    set_source(root, [(1, "a", T0), (1, "b", T0)])
    ok(run(root))
    set_source(root, [(1, "a", T1), (1, "b", T0)])
    ok(run(root))
    assert fetch(
        root, "select count(*), count(*) filter (where dbt_valid_to is null) from main.snap"
    ) == [(3, 2)]


def test_meta_column_names_and_valid_to_current(tmp_path: Path) -> None:
    names = {"dbt_valid_from": "valid_from", "dbt_valid_to": "valid_to", "dbt_scd_id": "version_id",
             "dbt_updated_at": "seen_at", "dbt_is_deleted": "is_deleted"}  # fmt: skip
    config = (f"{TIMESTAMP}, hard_deletes='new_record', snapshot_meta_column_names={json.dumps(names)}, "
              "dbt_valid_to_current=\"cast('9999-12-31' as timestamp)\"")  # fmt: skip
    root = project(tmp_path, config)
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    ok(run(root))
    cols = [c[0] for c in fetch(root, "select column_name from (describe main.snap)")]
    assert cols == [
        "id",
        "name",
        "updated_at",
        "version_id",
        "seen_at",
        "valid_from",
        "valid_to",
        "is_deleted",
    ]
    far = datetime(9999, 12, 31)
    assert fetch(root, "select distinct valid_to from main.snap") == [(far,)]
    set_source(root, [(1, "a2", T1)])
    ok(run(root))
    rows = fetch(
        root, "select id, name, valid_to, is_deleted from main.snap order by id, valid_from"
    )
    assert rows[:2] == [(1, "a", T1, "False"), (1, "a2", far, "False")]
    assert [(r[0], r[3]) for r in rows[2:]] == [(2, "False"), (2, "True")] and rows[3][2] == far
    before = checksum(root, "main.snap")
    ok(run(root))
    assert checksum(root, "main.snap") == before


def test_new_source_columns_are_added(tmp_path: Path) -> None:
    root = project(tmp_path)
    set_source(root, [(1, "a", T0)])
    ok(run(root))
    set_source(
        root,
        [(1, "a", T1, "gold")],
        columns="id INTEGER, name VARCHAR, updated_at TIMESTAMP, tier VARCHAR",
    )
    ok(run(root))
    assert fetch(root, "select tier from main.snap order by dbt_valid_from") == [(None,), ("gold",)]
    set_source(root, [(1, "a", T2)])  # a column gone from the source: kept, NULL from now on
    ok(run(root))
    assert fetch(root, "select tier from main.snap order by dbt_valid_from") == [
        (None,),
        ("gold",),
        (None,),
    ]


def test_duplicate_keys_fail_without_changing_the_snapshot(tmp_path: Path) -> None:
    root = project(tmp_path)
    set_source(root, [(1, "a", T0)])
    ok(run(root))
    before = checksum(root, "main.snap")
    set_source(root, [(1, "a", T1), (1, "b", T1), (2, "c", T1)])
    result = run(root)
    assert result.exit_code == 1
    assert "not unique" in result.results[0].message and "1 x2" in result.results[0].message
    assert checksum(root, "main.snap") == before


def test_failing_check_leaves_the_previous_snapshot(tmp_path: Path) -> None:
    props = """
        snapshots:
          - name: snap
            columns:
              - name: name
                data_tests:
                  - accepted_values: {values: [a, b, a2]}
    """
    root = project(tmp_path, **{"snapshots/_props.yml": props})
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    result = run(root)
    ok(result)
    assert [c.status for c in result.results[0].checks] == ["pass"]
    before = checksum(root, "main.snap")
    set_source(root, [(1, "a2", T1), (2, "oops", T1), (3, "b", T1)])
    result = run(root)
    assert result.exit_code == 1 and result.results[0].status == "fail"
    assert "previous version stays" in result.results[0].message
    assert checksum(root, "main.snap") == before
    assert fetch(
        root, "select count(*) from information_schema.tables where table_name like '%hw_staged%'"
    ) == [(0,)]
    # a failing first run leaves no table at all
    other = new_project(
        tmp_path / "q",
        {"snapshots/snap.sql": snapshot_block(TIMESTAMP), "snapshots/_props.yml": props},
    )
    set_source(other, [(1, "oops", T0)])
    assert run(other).exit_code == 1
    assert fetch(
        other, "select count(*) from information_schema.tables where table_name = 'snap'"
    ) == [(0,)]


def test_yaml_defined_snapshot_with_schema_and_tests(tmp_path: Path, cli) -> None:
    yml = """
        snapshots:
          - name: customers_history
            relation: source('raw', 'src')
            description: every version of each row
            config:
              schema: snapshots
              unique_key: id
              strategy: timestamp
              updated_at: updated_at
              hard_deletes: invalidate
            columns:
              - name: id
                data_tests: [not_null]
              - name: dbt_scd_id
                data_tests: [unique]
    """
    root = new_project(tmp_path / "p", {"snapshots/history.yml": yml, "models/current.sql":
                       "select * from {{ ref('customers_history') }} where dbt_valid_to is null"})  # fmt: skip
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    result = run(root, "build")
    ok(result)
    snap = next(r for r in result.results if r.resource_type == "snapshot")
    assert snap.relation == "main_snapshots.customers_history"
    assert sorted(c.name for c in snap.checks) == [
        "not_null_customers_history_id",
        "unique_customers_history_dbt_scd_id",
    ]
    assert fetch(root, "select count(*) from main.current") == [(2,)]
    res = cli("ls", "--project-dir", root, "--resource-type", "snapshot", "--json")
    node = json.loads(res.out)[0]
    assert node["name"] == "customers_history" and node["path"] == "snapshots/history.yml"


def test_yaml_snapshot_in_model_properties_and_target_schema(tmp_path: Path) -> None:
    yml = """
        snapshots:
          - name: snap_from_models
            relation: "ref('stg')"
            config: {target_schema: history, unique_key: id, strategy: check, check_cols: [name]}
    """
    root = new_project(
        tmp_path / "p",
        {"models/props.yml": yml, "models/stg.sql": "select * from {{ source('raw', 'src') }}"},
    )
    set_source(root, [(1, "a", T0)])
    ok(run(root, "build"))
    assert fetch(root, "select id, name from history.snap_from_models") == [(1, "a")]


def test_several_blocks_per_file_and_folder_config(tmp_path: Path) -> None:
    project_yml = """\
        name: t
        targets:
          dev: {engine: duckdb, path: .headwater/warehouse.duckdb}
        snapshots:
          +target_schema: history
          +unique_key: id
          +strategy: timestamp
          +updated_at: updated_at
          finance:
            +strategy: check
            +check_cols: all
            +hard_deletes: invalidate
    """
    two = (
        snapshot_block("tags=['x']", "first")
        + "\n"
        + snapshot_block("alias='second_alias'", "second")
    )
    root = new_project(tmp_path / "p", {"snapshots/two.sql": two, "snapshots/finance/money.sql": snapshot_block("", "money")},
                       project_yml=project_yml.replace("        ", ""))  # fmt: skip
    set_source(root, [(1, "a", T0)])
    result = run(root)
    ok(result)
    assert sorted(r.relation for r in result.results) == [
        "history.first",
        "history.money",
        "history.second_alias",
    ]
    set_source(root, [(1, "b", T0)])  # a change without a later updated_at: only `check` sees it
    ok(run(root))
    assert fetch(root, "select count(*) from history.first") == [(1,)]  # timestamp strategy
    assert fetch(root, "select count(*) from history.money") == [
        (2,)
    ]  # check strategy from the folder
    assert run(root, select=["tag:x"]).results[0].name == "first"


def test_snapshot_selection_and_build_order(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        **{
            "models/latest.sql": "{{ config(materialized='table') }} select count(*) as n from {{ ref('snap') }}"
        },
    )
    set_source(root, [(1, "a", T0)])
    result = run(root, "build")
    ok(result)
    assert [r.name for r in result.results] == ["snap", "latest"]
    result = run(root, "snapshot")
    assert [r.name for r in result.results] == ["snap"]


BAD = [
    ("strategy='timestamp', updated_at='updated_at'", "`unique_key` is missing", "unique_key: id"),
    ("unique_key='id', updated_at='updated_at'", "`strategy` is missing", "strategy: timestamp"),
    (
        "unique_key='id', strategy='timestamp'",
        "strategy `timestamp` needs `updated_at`",
        "updated_at:",
    ),
    ("unique_key='id', strategy='check'", "strategy `check` needs `check_cols`", "check_cols: all"),
    (
        "unique_key='id', strategy='timestamps', updated_at='u'",
        "unknown strategy `timestamps` (did you mean `timestamp`",
        "strategy: check",
    ),
    (
        "unique_key='id', strategy='check', check_cols='name'",
        "`check_cols` must be a list",
        "check_cols: all",
    ),
    (f"{TIMESTAMP}, hard_deletes='remove'", "unknown `hard_deletes: remove`", "new_record"),
    (
        f"{TIMESTAMP}, snapshot_meta_column_names={{'dbt_valid_form': 'x'}}",
        "unknown key `dbt_valid_form`",
        "dbt_valid_from",
    ),
]


@pytest.mark.parametrize(("config", "message", "hint"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_config_is_an_error_with_location_and_fix(
    tmp_path: Path, cli, config: str, message: str, hint: str
) -> None:
    root = new_project(
        tmp_path / "p", {"snapshots/snap.sql": "-- header\n" + snapshot_block(config)}
    )
    res = cli("compile", "--project-dir", root)
    assert res.code == 2
    assert "snapshots/snap.sql:2" in res.err and "[snap]" in res.err
    assert message in res.err and hint in res.err


def test_bad_yaml_snapshot_errors(tmp_path: Path, cli) -> None:
    root = new_project(
        tmp_path / "p", {"snapshots/s.yml": "snapshots:\n  - name: s\n    relation: raw.src\n"}
    )
    res = cli("compile", "--project-dir", root)
    assert res.code == 2 and "snapshots/s.yml:3" in res.err and "source('name', 'table')" in res.err
    root = new_project(
        tmp_path / "q", {"snapshots/s.yml": "snapshots:\n  - name: ghost\n    description: x\n"}
    )
    res = cli("compile", "--project-dir", root)
    assert (
        res.code == 2 and "snapshots/s.yml:2" in res.err and "no `{% snapshot ghost %}`" in res.err
    )
    root = new_project(tmp_path / "r", {"snapshots/s.sql": "{% snapshot s %}\nselect 1\n"})
    res = cli("compile", "--project-dir", root)
    assert res.code == 2 and "not closed" in res.err
    root = new_project(
        tmp_path / "s",
        {
            "snapshots/a.sql": snapshot_block(TIMESTAMP, "x"),
            "snapshots/b.sql": snapshot_block(TIMESTAMP, "x"),
        },
    )
    res = cli("compile", "--project-dir", root)
    assert res.code == 2 and "two snapshots are named `x`" in res.err


def test_jinja_error_in_a_block_points_at_the_file_line(tmp_path: Path, cli) -> None:
    root = new_project(
        tmp_path / "p",
        {
            "snapshots/snap.sql": "\n\n"
            + snapshot_block(TIMESTAMP, select="select {{ nope() }} from x")
        },
    )
    res = cli("compile", "--project-dir", root)
    assert res.code == 2 and "snapshots/snap.sql:5" in res.err and "nope" in res.err


def test_dbt_project_with_snapshot_folder_config(tmp_path: Path) -> None:
    dbt_project = """\
name: jaffle
config-version: 2
snapshot-paths: ["snaps"]
snapshots:
  jaffle:
    +target_schema: snapshots
    +target_database: analytics
    +unique_key: id
    +strategy: check
    +check_cols: [name]
"""
    root = tmp_path / "dbt"
    root.mkdir()
    (root / "dbt_project.yml").write_text(dbt_project)
    (root / "sources.yml").write_text("sources:\n  - name: raw\n    tables:\n      - name: src\n")
    (root / "snaps").mkdir()
    (root / "snaps" / "orders.sql").write_text(
        snapshot_block("invalidate_hard_deletes=True", "orders_snapshot")
    )
    set_source(root, [(1, "a", T0), (2, "b", T0)])
    ok(run(root))
    set_source(root, [(1, "a", T1)])
    ok(run(root))
    assert fetch(
        root, "select id, dbt_valid_to is null from snapshots.orders_snapshot order by id"
    ) == [(1, True), (2, False)]


def test_full_refresh_never_discards_history(tmp_path: Path) -> None:
    root = project(tmp_path)
    set_source(root, [(1, "a", T0)])
    ok(run(root))
    set_source(root, [(1, "b", T1)])
    ok(run(root, "build", full_refresh=True))
    assert fetch(root, "select name from main.snap order by dbt_valid_from") == [("a",), ("b",)]
