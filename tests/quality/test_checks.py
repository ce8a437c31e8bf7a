from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import ConfigError
from headwater.project.definition import CheckSpec, Node, Relation, Target
from headwater.quality.evaluator import CheckRunner, evaluate_status


@pytest.fixture
def engine():
    eng = DuckDBEngine(Target(name="mem", path=":memory:"), ".")
    eng.open()
    yield eng
    eng.close()


def model(name: str) -> Node:
    return Node(unique_id=f"model.t.{name}", name=name, resource_type="model", path=f"models/{name}.sql",
                package="t", fqn=["t", name], relation=Relation("main", name))  # fmt: skip


def check(name: str, on: str, column: str | None = None, deps=(), **kw) -> Node:
    config = {"severity": kw.pop("severity", "error"), **kw.pop("config", {})}
    return Node(
        unique_id=f"test.t.{name}_{on}_{column}", name=f"{name}_{on}_{column}", resource_type="test",
        path="models/x.yml", package="t", fqn=["t", name], config=config,
        test=CheckSpec(name, kwargs=kw, column=column, attached_to=f"model.t.{on}"),
        depends_on=[f"model.t.{on}", *deps],
    )  # fmt: skip


def run(engine, nodes: list[Node], tests: list[Node]):
    all_nodes = {n.unique_id: n for n in nodes + tests}
    runner = CheckRunner(engine, all_nodes, lambda uid: all_nodes[uid].relation.render())
    return {f"{r.check}:{r.column}": r for r in runner.run(tests)}


def test_each_generic_check_counts_like_dbt(engine) -> None:
    engine.execute("create table parent as select * from (values (1), (2), (3)) v(id)")
    engine.execute(
        "create table child as select * from (values (1, 1, 'a'), (2, 1, 'b'), (2, 9, 'zz'), (3, null, null), (null, 8, 'zz')) v(id, pid, s)"
    )
    results = run(
        engine,
        [model("parent"), model("child")],
        [
            check("unique", "child", "id"),
            check("not_null", "child", "id"),
            check("accepted_values", "child", "s", values=["a", "b"]),
            check(
                "relationships", "child", "pid", to={"__relation__": "model.t.parent"}, field="id"
            ),
        ],
    )
    assert results["unique:id"].failures == 1  # one duplicated value (2)
    assert results["unique:id"].sample == [{"unique_field": 2, "n_records": 2}]
    assert results["not_null:id"].failures == 1
    assert results["accepted_values:s"].failures == 1  # one unexpected value ('zz'), nulls pass
    assert results["relationships:pid"].failures == 2  # 9 and 8 have no parent
    assert all(r.status == "fail" for r in results.values())
    assert "select" in results["relationships:pid"].query.lower()


def test_passing_checks_run_in_one_scan(engine) -> None:
    engine.execute("create table t as select range as id, 'x' as s from range(100)")
    seen: list[str] = []
    engine._trace_path = "unused"  # record statements (in memory, see below)
    engine._record = seen.append
    results = run(
        engine, [model("t")],
        [check("unique", "t", "id"), check("not_null", "t", "id"), check("accepted_values", "t", "s", values=["x"])],
    )  # fmt: skip
    engine._trace_path = None
    assert {r.status for r in results.values()} == {"pass"}
    assert len(seen) == 1, seen


def test_where_config_filters_rows(engine) -> None:
    engine.execute(
        "create table t as select * from (values (1, true), (1, false), (null, false)) v(id, keep)"
    )
    results = run(engine, [model("t")], [
        check("unique", "t", "id", config={"where": "keep"}),
        check("not_null", "t", "id", config={"where": "keep"}),
    ])  # fmt: skip
    assert results["unique:id"].status == "pass"
    assert results["not_null:id"].status == "pass"


def test_broken_check_is_an_error_not_a_pass(engine) -> None:
    engine.execute("create table t as select 1 as id")
    results = run(
        engine, [model("t")], [check("not_null", "t", "nope"), check("unique", "t", "id")]
    )
    assert results["not_null:nope"].status == "error"
    assert "nope" in results["not_null:nope"].message
    assert results["unique:id"].status == "pass"  # its neighbour in the scan still gets a verdict


def test_severity_and_thresholds() -> None:
    assert evaluate_status(0, {}) == "pass"
    assert evaluate_status(1, {}) == "fail"
    assert evaluate_status(1, {"severity": "warn"}) == "warn"
    assert evaluate_status(5, {"error_if": ">10"}) == "warn"
    assert evaluate_status(11, {"error_if": ">10"}) == "fail"
    assert evaluate_status(3, {"warn_if": ">5", "error_if": ">10"}) == "pass"
    with pytest.raises(ConfigError):
        evaluate_status(1, {"warn_if": "lots"})


values = st.lists(st.one_of(st.none(), st.integers(min_value=-5, max_value=5)), max_size=40)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values)
def test_scan_and_exact_counts_agree_with_python(engine, data) -> None:
    # the table is recreated for every example, so sharing the engine between examples is safe
    engine.execute("create or replace table h (v integer)")
    if data:
        engine.execute(
            "insert into h values " + ", ".join("(NULL)" if v is None else f"({v})" for v in data)
        )
    results = run(engine, [model("h")], [
        check("unique", "h", "v"), check("not_null", "h", "v"),
        check("accepted_values", "h", "v", values=[0, 1, 2]),
    ])  # fmt: skip
    counts = Counter(v for v in data if v is not None)
    assert results["unique:v"].failures == sum(1 for c in counts.values() if c > 1)
    assert results["not_null:v"].failures == sum(v is None for v in data)
    assert results["accepted_values:v"].failures == len({v for v in counts if v not in (0, 1, 2)})
