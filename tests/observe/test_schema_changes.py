"""Schema changes between runs: the diff (added, removed, renamed, type changed), what a build
records and reports (a `schema_change` check and a Signal), and the diff's properties."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.context import Context
from headwater.observe import Bus
from headwater.observe.metrics import make
from headwater.observe.schema import SchemaChange, apply_changes, diff_schemas, record_schema
from headwater.quality.schema_contracts import SchemaContracts
from headwater.runner.executor import UnitResult
from headwater.runner.plan import Unit
from headwater.state.sqlite import SQLiteStateStore
from tests.conftest import write_files

OLD = [("id", "INTEGER"), ("name", "VARCHAR"), ("amount", "DOUBLE")]


# -- the diff -----------------------------------------------------------------------------------------
def test_no_change_and_order_alone_is_no_change() -> None:
    assert diff_schemas(OLD, OLD) == []
    assert diff_schemas(OLD, list(reversed(OLD))) == []
    assert (
        diff_schemas(OLD, [("id", "integer"), ("name", "VARCHAR"), ("amount", "DOUBLE")]) == []
    )  # type case


def test_added_removed_type_changed() -> None:
    new = [("id", "BIGINT"), ("amount", "DOUBLE"), ("created_at", "TIMESTAMP")]
    assert diff_schemas(OLD, new) == [
        SchemaChange("type_changed", "id", "INTEGER", "BIGINT"),
        SchemaChange("added", "created_at", None, "TIMESTAMP"),
        SchemaChange("removed", "name", "VARCHAR", None),
    ]


def test_rename_at_the_same_position_with_the_same_type() -> None:
    new = [("id", "INTEGER"), ("full_name", "VARCHAR"), ("amount", "DOUBLE")]
    assert diff_schemas(OLD, new) == [SchemaChange("renamed", "full_name", "name", "full_name")]


def test_rename_by_similar_name_elsewhere() -> None:
    new = [("id", "INTEGER"), ("amount", "DOUBLE"), ("extra", "INTEGER"), ("names", "VARCHAR")]
    assert diff_schemas(OLD, new) == [
        SchemaChange("added", "extra", None, "INTEGER"),
        SchemaChange("renamed", "names", "name", "names"),
    ]
    # a change of case is a rename too (exact names are compared)
    assert diff_schemas([("ID", "INTEGER")], [("id", "INTEGER")]) == [
        SchemaChange("renamed", "id", "ID", "id")
    ]


def test_no_rename_when_type_or_name_differ() -> None:
    # same position but another type: removed + added
    assert {c.change for c in diff_schemas(OLD, [("id", "INTEGER"), ("label", "INTEGER"), ("amount", "DOUBLE")])} == {
        "added", "removed",
    }  # fmt: skip
    # same type, another position, dissimilar name: removed + added
    new = [("id", "INTEGER"), ("amount", "DOUBLE"), ("zzz", "VARCHAR")]
    assert {c.change for c in diff_schemas(OLD, new)} == {"added", "removed"}


def test_describe() -> None:
    text = "; ".join(
        c.describe()
        for c in diff_schemas(OLD, [("id", "BIGINT"), ("full_name", "VARCHAR"), ("x", "DATE")])
    )
    assert text == "id: INTEGER -> BIGINT; name -> full_name (renamed?); +x DATE; -amount DOUBLE"


NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
TYPES = st.sampled_from(["INTEGER", "BIGINT", "VARCHAR", "DOUBLE", "DATE"])
SCHEMAS = st.lists(st.tuples(NAMES, TYPES), max_size=8, unique_by=lambda c: c[0])


@settings(max_examples=300, deadline=None)
@given(old=SCHEMAS, new=SCHEMAS)
def test_diff_property_applying_it_gives_the_new_schema(old, new) -> None:
    changes = diff_schemas(old, new)
    assert apply_changes(old, changes) == dict(new)
    assert (changes == []) == (dict(old) == dict(new))
    # each column appears in at most one change, and renames pair columns of the same type
    touched = [c.column for c in changes] + [c.old for c in changes if c.change == "renamed"]
    assert len(touched) == len(set(touched))
    for c in changes:
        if c.change == "renamed":
            assert (
                dict(old)[c.old] == dict(new)[c.new]
                and c.old not in dict(new)
                and c.new not in dict(old)
            )


@settings(max_examples=100, deadline=None)
@given(old=SCHEMAS, data=st.data())
def test_diff_property_a_permutation_is_no_change(old, data) -> None:
    assert diff_schemas(old, data.draw(st.permutations(old))) == []


# -- the state store ----------------------------------------------------------------------------------
def test_record_schema_first_run_is_not_a_change(tmp_path: Path) -> None:
    state = SQLiteStateStore(tmp_path / "state.db")
    assert record_schema(state, "inv1", "model.t.m", OLD, 1.0) == (False, [])
    assert record_schema(state, "inv2", "model.t.m", OLD, 2.0) == (True, [])
    compared, changes = record_schema(state, "inv3", "model.t.m", [*OLD, ("x", "DATE")], 3.0)
    assert compared and changes == [SchemaChange("added", "x", None, "DATE")]
    rows = state.read("SELECT invocation_id, change, column_name, old, new FROM schema_changes")
    assert rows == [
        {"invocation_id": "inv3", "change": "added", "column_name": "x", "old": None, "new": "DATE"}
    ]
    assert json.loads(
        state.read("SELECT columns FROM relation_schemas WHERE invocation_id = 'inv3'")[0][
            "columns"
        ]
    )[-1] == ["x", "DATE"]
    state.close()


# -- builds -----------------------------------------------------------------------------------------------
def _build(root: Path):
    with Context(root) as ctx:
        return ctx.build()


def _checks(result, check: str = "schema_change") -> dict[str, object]:
    return {c.node: c for c in result.checks if c.check == check}


def test_build_reports_changes_as_a_warn_check(make_project: Callable[..., Path]) -> None:
    root = make_project({
        "models/marts/m.sql": "select 1 as id, 'a' as name",
        "models/marts/child.sql": "select id from {{ ref('m') }}",
    })  # fmt: skip
    first = _build(root)
    assert first.exit_code == 0 and _checks(first) == {}  # the first schema is not a change
    second = _build(root)
    assert {c.status for c in _checks(second).values()} == {"pass"}
    write_files(
        root, {"models/marts/m.sql": "select 1::BIGINT as id, 'a' as full_name, 2 as extra"}
    )
    third = _build(root)
    check = _checks(third)["model.t.m"]
    assert (
        check.status == "warn"
        and check.severity == "warn"
        and check.unique_id == "schema_change.model.t.m"
    )
    assert (
        check.message
        == "schema changed: id: INTEGER -> BIGINT, name -> full_name (renamed?), +extra INTEGER"
    )
    assert [c["change"] for c in check.result["changes"]] == ["type_changed", "renamed", "added"]
    statuses = {r.name: r.status for r in third.results}
    assert (
        statuses == {"m": "warn", "child": "warn"} and third.exit_code == 0
    )  # warn: reported, not failed
    assert (
        _checks(third)["model.t.child"].message == "schema changed: id: INTEGER -> BIGINT"
    )  # it follows its parent
    with Context(root) as ctx:
        recorded = ctx.state.checks.for_invocation(third.invocation_id)
        changes = ctx.state.read(
            "SELECT change, column_name FROM schema_changes WHERE unique_id = 'model.t.m'"
        )
    assert any(r.check_type == "schema_change" and r.status == "warn" for r in recorded)
    assert {(c["change"], c["column_name"]) for c in changes} == {
        ("type_changed", "id"),
        ("renamed", "full_name"),
        ("added", "extra"),
    }


def test_schema_change_error_fails_the_node_and_skips_downstream(make_project) -> None:
    root = make_project({
        "models/marts/m.sql": "{{ config(schema_change='error') }}\nselect 1 as id",
        "models/marts/child.sql": "select id from {{ ref('m') }}",
    })  # fmt: skip
    _build(root)
    write_files(
        root, {"models/marts/m.sql": "{{ config(schema_change='error') }}\nselect 1 as id, 2 as x"}
    )
    result = _build(root)
    assert result.exit_code == 1
    statuses = {r.name: r.status for r in result.results}
    assert statuses == {"m": "fail", "child": "skipped"}
    assert _checks(result)["model.t.m"].status == "fail"


def test_ignore_records_without_reporting(make_project) -> None:
    root = make_project(
        {"models/marts/m.sql": "{{ config(schema_change='ignore') }}\nselect 1 as id"}
    )
    _build(root)
    write_files(
        root, {"models/marts/m.sql": "{{ config(schema_change='ignore') }}\nselect 1 as id, 2 as x"}
    )
    result = _build(root)
    assert result.exit_code == 0 and _checks(result) == {} and result.results[0].status == "success"
    with Context(root) as ctx:
        assert ctx.state.read("SELECT change FROM schema_changes") == [{"change": "added"}]


@pytest.mark.parametrize(
    ("second_sql", "status"), [("select 1 as id", "ok"), ("select 1 as id, 2 as x", "open")]
)
def test_observer_emits_a_signal(make_project, second_sql: str, status: str) -> None:
    root = make_project({"models/marts/m.sql": "select 1 as id"})
    _build(root)
    write_files(root, {"models/marts/m.sql": second_sql})
    with Context(root) as ctx:
        ctx.build()  # publish the new version (its own observer records it)
        bus = Bus()
        observer = make(ctx, "build", "manual", bus)
        node = ctx.manifest.nodes["model.t.m"]
        # measure against the schema of the first build: delete what the second build recorded
        last = ctx.state.read(
            "SELECT invocation_id FROM relation_schemas ORDER BY recorded_at DESC LIMIT 1"
        )[0]
        ctx.state.write(
            "DELETE FROM relation_schemas WHERE invocation_id = ?", [(last["invocation_id"],)]
        )
        result = UnitResult(
            node.unique_id, node.name, "model", "table", "main.m", "success", node_id=node.unique_id
        )
        unit = Unit(id=node.unique_id, build=node)
        observer.unit_published(unit, result, ctx.engine)  # measures: the schema goes on the bus
        checks = SchemaContracts(bus).check(unit, result, ctx.engine)  # judges it
    assert [s.key for s in bus.signals] == ["schema_change:model.t.m"]
    signal = bus.signals[0]
    assert (
        signal.status == status and signal.trigger == "schema_change" and signal.severity == "warn"
    )
    assert checks[0].status == ("pass" if status == "ok" else "warn")
    if status == "open":
        assert signal.details["changes"] == [
            {"change": "added", "column": "x", "old": None, "new": "INTEGER"}
        ]
