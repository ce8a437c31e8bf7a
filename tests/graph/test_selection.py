from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import SelectionError
from headwater.graph.definition import Graph
from headwater.graph.selection import Selector, parse_part
from headwater.project.definition import CheckSpec, Node


def mk(uid: str, name: str, rtype: str, path: str, fqn: list[str], deps=(), tags=(), **kw) -> Node:
    return Node(unique_id=uid, name=name, resource_type=rtype, path=path, package="shop", fqn=fqn,
                depends_on=list(deps), config={"tags": list(tags), **kw.pop("config", {})}, **kw)  # fmt: skip


@pytest.fixture
def selector() -> Selector:
    nodes = [
        mk(
            "source.shop.raw.orders",
            "orders",
            "source",
            "sources.yml",
            ["shop", "raw", "orders"],
            source_name="raw",
        ),
        mk(
            "source.shop.raw.customers",
            "customers",
            "source",
            "sources.yml",
            ["shop", "raw", "customers"],
            source_name="raw",
        ),
        mk(
            "model.shop.stg_orders",
            "stg_orders",
            "model",
            "models/staging/stg_orders.sql",
            ["shop", "staging", "stg_orders"],
            ["source.shop.raw.orders"],
            ["staging"],
        ),
        mk(
            "model.shop.stg_customers",
            "stg_customers",
            "model",
            "models/staging/stg_customers.sql",
            ["shop", "staging", "stg_customers"],
            ["source.shop.raw.customers"],
            ["staging"],
        ),
        mk(
            "model.shop.int_orders",
            "int_orders",
            "model",
            "models/intermediate/int_orders.sql",
            ["shop", "intermediate", "int_orders"],
            ["model.shop.stg_orders"],
            config={"materialized": "ephemeral"},
        ),
        mk(
            "model.shop.fct_orders",
            "fct_orders",
            "model",
            "models/marts/fct_orders.sql",
            ["shop", "marts", "fct_orders"],
            ["model.shop.int_orders", "model.shop.stg_customers"],
            ["marts", "daily"],
            config={"materialized": "table"},
        ),
        mk(
            "model.shop.report",
            "report",
            "model",
            "models/marts/report.sql",
            ["shop", "marts", "report"],
            ["model.shop.fct_orders"],
            ["marts"],
        ),
        mk(
            "test.shop.unique_fct",
            "unique_fct",
            "test",
            "models/marts/m.yml",
            ["shop", "marts", "unique_fct"],
            ["model.shop.fct_orders"],
            test=CheckSpec("unique", column="id", attached_to="model.shop.fct_orders"),
        ),
        mk(
            "test.shop.rel",
            "rel",
            "test",
            "models/staging/s.yml",
            ["shop", "staging", "rel"],
            ["model.shop.stg_orders", "model.shop.stg_customers"],
            test=CheckSpec("relationships", column="c", attached_to="model.shop.stg_orders"),
        ),
        mk(
            "test.shop.assert_x",
            "assert_x",
            "test",
            "tests/assert_x.sql",
            ["shop", "assert_x"],
            ["model.shop.report"],
            test=CheckSpec("singular"),
        ),
    ]
    return Selector(Graph({n.unique_id: n for n in nodes}))


def names(sel: Selector, select, exclude=None, with_tests=False) -> set[str]:
    return {sel.graph.nodes[u].name for u in sel.select(select, exclude, with_tests=with_tests)}


def test_all_when_empty(selector: Selector) -> None:
    assert len(selector.select(None)) == len(selector.graph.nodes)


def test_name_parents_children(selector: Selector) -> None:
    assert names(selector, ["fct_orders"]) == {"fct_orders"}
    assert names(selector, ["+fct_orders"]) == {
        "fct_orders",
        "int_orders",
        "stg_orders",
        "stg_customers",
        "orders",
        "customers",
    }
    assert names(selector, ["fct_orders+"]) == {"fct_orders", "report", "unique_fct", "assert_x"}
    assert names(selector, ["1+fct_orders"]) == {"fct_orders", "int_orders", "stg_customers"}
    assert names(selector, ["2+fct_orders"]) == {
        "fct_orders",
        "int_orders",
        "stg_customers",
        "stg_orders",
        "customers",
    }
    assert names(selector, ["fct_orders+1"]) == {"fct_orders", "report", "unique_fct"}


def test_at_operator_includes_ancestors_of_descendants(selector: Selector) -> None:
    assert names(selector, ["@stg_orders"]) >= {
        "stg_orders",
        "int_orders",
        "fct_orders",
        "stg_customers",
        "customers",
    }


def test_methods(selector: Selector) -> None:
    assert names(selector, ["tag:staging"]) == {"stg_orders", "stg_customers"}
    assert names(selector, ["path:models/marts"]) == {"fct_orders", "report", "unique_fct"}
    assert names(selector, ["path:models/marts/report.sql"]) == {"report"}
    assert names(selector, ["source:raw"]) == {"orders", "customers"}
    assert names(selector, ["source:raw.orders+"]) >= {
        "orders",
        "stg_orders",
        "int_orders",
        "fct_orders",
        "report",
    }
    assert names(selector, ["resource_type:test"]) == {"unique_fct", "rel", "assert_x"}
    assert names(selector, ["config.materialized:table"]) == {"fct_orders"}
    assert names(selector, ["test_type:singular"]) == {"assert_x"}
    assert names(selector, ["test_name:unique"]) == {"unique_fct"}
    assert names(selector, ["staging"]) == {"stg_orders", "stg_customers", "rel"}
    assert names(selector, ["stg_*"]) == {"stg_orders", "stg_customers"}
    assert names(selector, ["raw.orders"]) == {"orders"}


def test_union_intersection_exclude(selector: Selector) -> None:
    assert names(selector, ["stg_orders report"]) == {"stg_orders", "report"}
    assert names(selector, ["stg_orders", "report"]) == {"stg_orders", "report"}
    assert names(selector, ["tag:marts,tag:daily"]) == {"fct_orders"}
    assert names(selector, ["+report"], ["tag:staging"]) == {
        "report",
        "fct_orders",
        "int_orders",
        "orders",
        "customers",
    }
    assert names(selector, ["+report"], ["source:raw"]) == {
        "report",
        "fct_orders",
        "int_orders",
        "stg_orders",
        "stg_customers",
    }


def test_tests_follow_their_models(selector: Selector) -> None:
    assert names(selector, ["fct_orders"], with_tests=True) == {"fct_orders", "unique_fct"}
    assert "rel" in names(selector, ["stg_customers"], with_tests=True)
    assert names(selector, ["fct_orders"], ["unique_fct"], with_tests=True) == {"fct_orders"}


def test_errors_suggest_names(selector: Selector) -> None:
    with pytest.raises(SelectionError, match="did you mean `fct_orders`"):
        selector.select(["fct_order"])
    with pytest.raises(SelectionError, match="did you mean `tag`"):
        selector.select(["tga:x"])
    with pytest.raises(SelectionError, match="did you mean `staging`"):
        selector.select(["tag:stagign"])


names_st = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)


@given(
    at=st.booleans(), pd=st.one_of(st.none(), st.integers(0, 9)), p=st.booleans(),
    method=st.sampled_from(["", "tag:", "path:", "source:", "config.materialized:"]),
    value=names_st, c=st.booleans(), cd=st.one_of(st.none(), st.integers(0, 9)),
)  # fmt: skip
def test_parse_part_roundtrip(at, pd, p, method, value, c, cd) -> None:
    text = "@" if at else ""
    if p:
        text += (str(pd) if pd is not None else "") + "+"
    text += method + value
    if c:
        text += "+" + (str(cd) if cd is not None else "")
    part = parse_part(text)
    assert part.at == at
    assert part.parents == p
    assert part.parents_depth == (pd if p else None)
    assert part.children == c
    assert part.children_depth == (cd if c else None)
    assert part.value == value
    assert part.method == (method[:-1] if method else "name")
