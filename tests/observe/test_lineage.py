"""Column lineage of SQL (sqlglot scopes) and `headwater lineage` on a project in a tmp dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.context import Context
from headwater.observe.lineage import ProjectLineage, Source, column_lineage
from tests.conftest import BASE_PROJECT

TABLES = {
    "main.orders": (
        "model.p.orders",
        [
            ("id", "INTEGER"),
            ("customer_id", "INTEGER"),
            ("Amount", "DOUBLE"),
            ("status", "VARCHAR"),
        ],
    ),
    "main.customers": (
        "source.p.raw.customers",
        [("id", "INTEGER"), ("name", "VARCHAR"), ("country", "VARCHAR")],
    ),
    "__hw_eph_paid": ("model.p.paid", None),
}


def resolve(key: str):
    return TABLES.get(key)


def direct(lineage, column: str) -> set[tuple[str, str, str]]:
    return {(s.node, s.column, s.subtype) for s in lineage.direct(column)}


# -- SQL -----------------------------------------------------------------------------------------
def test_join_keeps_each_column_with_its_table_and_records_join_keys() -> None:
    cl = column_lineage(
        "select o.id, c.name, o.amount * 1.2 as gross from main.orders o join main.customers c on c.id = o.customer_id",
        resolve,
    )
    assert cl.error is None and cl.complete
    assert direct(cl, "id") == {("model.p.orders", "id", "IDENTITY")}
    assert direct(cl, "name") == {("source.p.raw.customers", "name", "IDENTITY")}
    assert direct(cl, "gross") == {
        ("model.p.orders", "Amount", "TRANSFORMATION")
    }  # spelled as the table does
    assert cl.kind("id") == "IDENTITY" and cl.kind("gross") == "TRANSFORMATION"
    joins = {(s.node, s.column) for s in cl.dataset if s.subtype == "JOIN"}
    assert joins == {("source.p.raw.customers", "id"), ("model.p.orders", "customer_id")}
    assert cl.inputs == ["model.p.orders", "source.p.raw.customers"]


def test_ctes_and_aggregates_compose() -> None:
    sql = """
        with per_customer as (
            select customer_id, sum(amount) as total, count(*) as n from main.orders where status = 'paid' group by 1
        ), named as (select c.name, p.total, p.n from per_customer p join main.customers c on c.id = p.customer_id)
        select name, total, total / n as avg_amount, max(total) over (partition by name) as top from named
    """
    cl = column_lineage(sql, resolve)
    assert direct(cl, "name") == {("source.p.raw.customers", "name", "IDENTITY")}
    assert direct(cl, "total") == {
        ("model.p.orders", "Amount", "AGGREGATION")
    }  # identity over an aggregate
    assert cl.kind("total") == "AGGREGATION"
    assert direct(cl, "avg_amount") == {
        ("model.p.orders", "Amount", "AGGREGATION")
    }  # count(*) reads no column
    assert direct(cl, "top") == {("model.p.orders", "Amount", "AGGREGATION")}
    window = {(s.node, s.column) for s in cl.columns["top"] if s.subtype == "WINDOW"}
    assert window == {("source.p.raw.customers", "name")}
    rows = {(s.column, s.subtype) for s in cl.dataset}
    assert {
        ("status", "FILTER"),
        ("customer_id", "GROUP_BY"),
        ("customer_id", "JOIN"),
        ("id", "JOIN"),
    } <= rows


def test_select_star_and_exclude_expand_with_upstream_schemas() -> None:
    cl = column_lineage("select * exclude (status), upper(status) as st from main.orders", resolve)
    assert list(cl.columns) == ["id", "customer_id", "Amount", "st"]
    assert direct(cl, "Amount") == {("model.p.orders", "Amount", "IDENTITY")}
    assert direct(cl, "st") == {("model.p.orders", "status", "TRANSFORMATION")}


def test_star_of_an_unknown_relation_uses_known_output_columns() -> None:
    cl = column_lineage("select * from other.thing", resolve)
    assert not cl.complete and cl.columns == {}
    cl = column_lineage("select * from other.thing", resolve, known_columns=["A", "b"])
    assert cl.columns == {"A": [Source("other.thing", "A")], "b": [Source("other.thing", "b")]}


def test_unions_subqueries_and_case() -> None:
    cl = column_lineage(
        "select id, name from main.customers union all select id, status from main.orders", resolve
    )
    assert direct(cl, "name") == {
        ("source.p.raw.customers", "name", "IDENTITY"),
        ("model.p.orders", "status", "IDENTITY"),
    }
    cl = column_lineage(
        "select id, (select max(amount) from main.orders o where o.customer_id = c.id) as biggest,"
        " case when country = 'DE' then name else 'other' end as label"
        " from main.customers c where id in (select customer_id from main.orders)",
        resolve,
    )
    assert direct(cl, "biggest") == {("model.p.orders", "Amount", "AGGREGATION")}
    assert direct(cl, "label") == {("source.p.raw.customers", "name", "TRANSFORMATION")}
    assert {(s.column, s.subtype) for s in cl.columns["label"] if s.type == "INDIRECT"} == {
        ("country", "CONDITIONAL")
    }
    assert ("model.p.orders", "customer_id", "FILTER") in {
        (s.node, s.column, s.subtype) for s in cl.dataset
    }


def test_ephemeral_ctes_are_a_hop_or_are_looked_through() -> None:
    sql = """
        with __hw_eph_paid as (select * exclude (status) from main.orders where status = 'paid')
        select customer_id, sum(amount) as total from __hw_eph_paid group by customer_id
    """
    hop = column_lineage(sql, resolve, through_ephemerals=False)
    assert direct(hop, "total") == {("model.p.paid", "Amount", "AGGREGATION")}
    assert hop.inputs == ["model.p.paid"]
    assert "status" not in {
        s.column for s in hop.dataset
    }  # the ephemeral's own filter is its lineage
    through = column_lineage(sql, resolve, through_ephemerals=True)
    assert direct(through, "total") == {("model.p.orders", "Amount", "AGGREGATION")}
    assert ("model.p.orders", "status", "FILTER") in {
        (s.node, s.column, s.subtype) for s in through.dataset
    }


def test_unparseable_sql_reports_an_error_instead_of_raising() -> None:
    cl = column_lineage("select from where (", resolve)
    assert cl.error and cl.columns == {} and not cl.complete


@settings(max_examples=40, deadline=None)
@given(
    columns=st.lists(
        st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=6, unique=True
    ),
    renames=st.lists(st.booleans(), min_size=1, max_size=4),
)
def test_chains_of_ctes_preserve_identity(columns: list[str], renames: list[bool]) -> None:
    """Whatever chain of CTEs renames or star-selects the columns, each output column is the
    identity of the same base column."""
    tables = {"s.base": ("base", [(c, "INTEGER") for c in columns])}
    names = list(columns)
    ctes, prev = [], "s.base"
    for i, rename in enumerate(renames):
        if rename:
            new = [f"{n}_{i}" for n in names]
            body = ", ".join(f"{n} as {m}" for n, m in zip(names, new, strict=True))
            names = new
        else:
            body = "*"
        ctes.append(f"c{i} as (select {body} from {prev})")
        prev = f"c{i}"
    cl = column_lineage(f"with {', '.join(ctes)} select * from {prev}", tables.get)
    assert list(cl.columns) == names
    for out, base in zip(names, columns, strict=True):
        assert cl.columns[out] == [Source("base", base, "DIRECT", "IDENTITY")]


# -- a project -----------------------------------------------------------------------------------------
SOURCES = """\
version: 2
sources:
  - name: raw
    tables:
      - name: orders
        files: {path: orders.csv, format: csv}
        columns:
          - name: id
"""

FILES = {
    "sources.yml": SOURCES,
    "data/raw/orders.csv": "id,customer_id,amount,status\n1,1,10,paid\n2,1,20,paid\n3,2,5,open\n",
    "seeds/customers.csv": "id,name\n1,Ann\n2,Bob\n",
    "models/staging/paid_orders.sql": (
        "{{ config(materialized='ephemeral') }} select * exclude (status) from {{ source('raw', 'orders') }} where status = 'paid'"
    ),
    "models/staging/stg_customers.sql": "select * from {{ ref('customers') }}",
    "models/marts/customer_totals.sql": """
        with t as (select customer_id, sum(amount) as total from {{ ref('paid_orders') }} group by customer_id)
        select c.id as customer_id, c.name, t.total from {{ ref('stg_customers') }} c join t on t.customer_id = c.id
    """,
    "models/marts/report.sql": "select *, total * 2 as double_total from {{ ref('customer_totals') }}",
}


@pytest.fixture
def project(make_project) -> Path:
    return make_project(FILES)


def _index(root: Path, warehouse: bool = False) -> ProjectLineage:
    ctx = Context(root)
    nodes = {u: n for u, n in ctx.manifest.nodes.items() if n.resource_type != "test"}
    columns = ctx.engine.columns if warehouse else None
    return ProjectLineage(nodes, columns, ctx.root, ctx.manifest.config.raw_data)


def test_project_lineage_without_a_build(project: Path) -> None:
    index = _index(project)
    assert not (project / ".headwater" / "warehouse.duckdb").exists()
    # schemas from the seed's header and the source file (the .yml declares only `id`)
    assert [c for c, _ in index.schema("seed.t.customers")] == ["id", "name"]
    assert [c for c, _ in index.schema("source.t.raw.orders")] == [
        "id",
        "customer_id",
        "amount",
        "status",
    ]
    assert [c for c, _ in index.schema("model.t.report")] == [
        "customer_id",
        "name",
        "total",
        "double_total",
    ]
    report = index.columns("model.t.report")
    assert direct(report, "double_total") == {
        ("model.t.customer_totals", "total", "TRANSFORMATION")
    }
    totals = index.columns("model.t.customer_totals")
    assert direct(totals, "total") == {("model.t.paid_orders", "amount", "AGGREGATION")}
    assert index.parents("model.t.customer_totals") == [
        "model.t.paid_orders",
        "model.t.stg_customers",
    ]
    through = index.columns("model.t.customer_totals", through_ephemerals=True)
    assert direct(through, "total") == {("source.t.raw.orders", "amount", "AGGREGATION")}


def test_cli_table_tree_upstream_and_downstream(project: Path, cli) -> None:
    out = cli("lineage", "report", "--project-dir", project)
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].startswith("report (model, table)")
    text = out.out
    for name in ("customer_totals (model, table)", "paid_orders (model, ephemeral)", "raw.orders (source, load)",
                 "stg_customers (model, view)", "customers (seed)"):  # fmt: skip
        assert name in text
    assert text.index("paid_orders") < text.index("raw.orders")  # the source is under the ephemeral
    assert not (project / ".headwater" / "warehouse.duckdb").exists()  # never creates the warehouse

    down = cli("lineage", "raw.orders", "--downstream", "--json", "--project-dir", project)
    assert down.code == 0
    doc = json.loads(down.out)
    assert doc["direction"] == "downstream" and doc["node"] == "source.t.raw.orders"
    chain = []
    item = doc["tree"]
    while item["children"]:
        (item,) = item["children"]
        chain.append(item["unique_id"])
    assert chain == ["model.t.paid_orders", "model.t.customer_totals", "model.t.report"]

    shallow = json.loads(
        cli("lineage", "report", "--depth", "1", "--json", "--project-dir", project).out
    )
    (child,) = shallow["tree"]["children"]
    assert (
        child["name"] == "customer_totals"
        and child["children"] == []
        and child["truncated"] is True
    )


def test_cli_column_tree(project: Path, cli) -> None:
    out = cli("lineage", "report", "--column", "DOUBLE_TOTAL", "--project-dir", project)
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].startswith("report.double_total")
    assert "customer_totals.total (model, table) transformation" in lines[1]
    assert "paid_orders.amount (model, ephemeral) aggregation" in lines[2]
    assert "raw.orders.amount (source, load) identity" in lines[3]

    doc = json.loads(
        cli(
            "lineage",
            "raw.orders",
            "-c",
            "amount",
            "--downstream",
            "--json",
            "--project-dir",
            project,
        ).out
    )
    assert doc["column"] == "amount"
    (eph,) = doc["tree"]["children"]
    (totals,) = eph["children"]
    assert (totals["name"], totals["column"], totals["transformation"]) == (
        "customer_totals",
        "total",
        "AGGREGATION",
    )
    used = {(c["name"], c["column"], c["transformation"]) for c in totals["children"]}
    assert used == {("report", "total", "IDENTITY"), ("report", "double_total", "TRANSFORMATION")}


def test_cli_after_a_build_reads_the_warehouse(project: Path, cli) -> None:
    with Context(project) as ctx:
        assert ctx.build().exit_code == 0
    doc = json.loads(
        cli("lineage", "customer_totals", "-c", "name", "--json", "--project-dir", project).out
    )
    (stg,) = doc["tree"]["children"]
    (seed,) = stg["children"]
    assert (seed["unique_id"], seed["column"], seed["transformation"]) == (
        "seed.t.customers",
        "name",
        "IDENTITY",
    )
    index = _index(project, warehouse=True)
    assert index.schema("model.t.customer_totals") == [
        ("customer_id", "INTEGER"),
        ("name", "VARCHAR"),
        ("total", "HUGEINT"),
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["lineage", "reprot"], "did you mean `report`"),
        (["lineage", "report", "--column", "totl"], "did you mean `total`"),
        (["lineage", "report", "--depth", "0"], "--depth"),
    ],
)
def test_cli_unknown_node_or_column_is_a_usage_error(
    project: Path, cli, args: list[str], needle: str
) -> None:
    out = cli(*args, "--project-dir", project)
    assert out.code == 2
    assert needle in out.err


def test_declared_columns_when_nothing_else_is_known(make_project) -> None:
    sources = """\
version: 2
sources:
  - name: ext
    tables:
      - name: events
        columns:
          - name: event_id
            data_type: BIGINT
          - name: payload
"""
    root = make_project({"sources.yml": sources, "models/e.sql": "select * from {{ source('ext', 'events') }}"},
                        BASE_PROJECT, name="declared")  # fmt: skip
    index = _index(root)
    assert index.schema("source.t.ext.events") == [("event_id", "BIGINT"), ("payload", "UNKNOWN")]
    assert direct(index.columns("model.t.e"), "payload") == {
        ("source.t.ext.events", "payload", "IDENTITY")
    }
