from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import CycleError
from headwater.graph.definition import Graph
from headwater.project.definition import Node


def node(name: str, deps: list[str] = (), rtype: str = "model") -> Node:
    return Node(unique_id=name, name=name, resource_type=rtype, path=f"models/{name}.sql", package="p",
                fqn=["p", name], depends_on=list(deps))  # fmt: skip


def test_topological_order_respects_edges() -> None:
    g = Graph(
        {n.unique_id: n for n in [node("c", ["b"]), node("b", ["a"]), node("a"), node("d", ["a"])]}
    )
    order = g.order
    assert order.index("a") < order.index("b") < order.index("c")
    assert order.index("a") < order.index("d")
    assert g.ancestors("c") == {"a", "b"}
    assert g.descendants("a") == {"b", "c", "d"}
    assert g.descendants("a", depth=1) == {"b", "d"}


def test_cycle_reports_full_path() -> None:
    nodes = [node("a", ["c"]), node("b", ["a"]), node("c", ["b"]), node("x"), node("y", ["x", "c"])]
    with pytest.raises(CycleError) as exc:
        Graph({n.unique_id: n for n in nodes})
    cycle = exc.value.cycle
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    assert len(cycle) == 4
    # consecutive entries are real edges parent -> child
    by = {n.name: n for n in nodes}
    for parent, child in itertools.pairwise(cycle):
        assert parent in by[child].depends_on


def test_self_reference_is_a_cycle() -> None:
    with pytest.raises(CycleError, match="a -> a") as exc:
        Graph({"a": node("a", ["a"]), "b": node("b", ["a"])})
    assert str(exc.value.location) == "models/a.sql" and "{{ this }}" in (exc.value.hint or "")


def test_ref_to_itself_fails_at_load_and_this_does_not(make_project, cli) -> None:
    root = make_project({"models/m.sql": "select * from {{ ref('m') }}\n"})
    res = cli("ls", "--project-dir", root)
    assert res.code == 2 and "models/m.sql" in res.err and "m -> m" in res.err
    (root / "models" / "m.sql").write_text(
        "{{ config(materialized='incremental') }}\nselect 1 as x{% if is_incremental() %} from {{ this }}{% endif %}\n"
    )
    assert cli("build", "--project-dir", root).code == 0
    assert cli("build", "--project-dir", root).code == 0


@given(
    st.lists(st.lists(st.integers(min_value=0, max_value=29), max_size=4), min_size=1, max_size=30)
)
def test_random_dags_sort_parents_first(edges: list[list[int]]) -> None:
    # only edges to lower indexes: always a DAG
    nodes = {}
    for i, deps in enumerate(edges):
        nodes[f"n{i}"] = node(f"n{i}", [f"n{d}" for d in deps if d < i])
    g = Graph(nodes)
    pos = {uid: i for i, uid in enumerate(g.order)}
    assert sorted(g.order) == sorted(nodes)
    for uid, n in nodes.items():
        for dep in n.depends_on:
            assert pos[dep] < pos[uid]


@given(st.integers(min_value=2, max_value=12), st.integers(min_value=0, max_value=11))
def test_random_cycles_are_found(length: int, extra: int) -> None:
    names = [f"m{i}" for i in range(length)]
    nodes = {
        n: node(n, [names[i - 1]]) for i, n in enumerate(names)
    }  # m0 depends on the last: a ring
    nodes["tail"] = node("tail", [names[extra % length]])
    with pytest.raises(CycleError) as exc:
        Graph(nodes)
    assert len(exc.value.cycle) == length + 1
    assert set(exc.value.cycle) == set(names)
