"""Conformance: views, tables, ephemeral models, typed seeds, `files:` sources, Python models and
external models, built through headwater on each engine and read back with a fresh engine.

Rows are compared as multisets (`Counter`), never by order.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater.context import Context
from headwater.engines import create_engine
from headwater.engines.base import Engine
from headwater.project.definition import Relation
from tests.engines.conftest import target_for

Project = Callable[..., Path]


# -- helpers shared by the conformance files of the materializations ------------------------------------
def build(
    root: Path, command: str = "build", select: list[str] | None = None, **options: Any
) -> Any:
    """Run a headwater command on the project through `Context` (as the CLI does)."""
    with Context(root) as ctx:
        return getattr(ctx, command)(select, **options)


def reader(engine_name: str, schema: str, root: Path) -> Engine:
    """A fresh, read-only engine on the project's warehouse (not the one that built it)."""
    eng = create_engine(target_for(engine_name, schema, root / ".headwater"), str(root))
    eng.read_only = True
    eng.open()
    return eng


def read(engine_name: str, schema: str, root: Path, sql: str) -> list[tuple]:
    eng = reader(engine_name, schema, root)
    try:
        return eng.execute(sql)
    finally:
        eng.close()


def rows(engine_name: str, schema: str, root: Path, table: str, columns: str = "*") -> Counter:
    """The rows of ``schema.table`` as a multiset."""
    return Counter(read(engine_name, schema, root, f'SELECT {columns} FROM "{schema}"."{table}"'))


def kind(engine_name: str, schema: str, root: Path, name: str) -> str | None:
    eng = reader(engine_name, schema, root)
    try:
        return eng.relation_kind(Relation(schema, name))
    finally:
        eng.close()


def column_types(engine_name: str, schema: str, root: Path, name: str) -> list[tuple[str, str]]:
    eng = reader(engine_name, schema, root)
    try:
        return eng.columns(Relation(schema, name))
    finally:
        eng.close()


def statuses(result: Any) -> dict[str, str]:
    return {r.name: r.status for r in result.results}


# -- view, table, ephemeral ---------------------------------------------------------------------------
def test_view_table_and_ephemeral_models(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    files = {
        "seeds/src.csv": "id,name\n1,a\n2,b\n3,c\n",
        "models/e.sql": "{{ config(materialized='ephemeral') }}\nselect id, name from {{ ref('src') }} where id > 1",
        "models/v.sql": "{{ config(materialized='view') }}\nselect id, upper(name) as name from {{ ref('e') }}",
        "models/t.sql": "{{ config(materialized='table') }}\nselect id * 10 as id, name from {{ ref('v') }}",
    }
    root = engine_project(files)
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    assert rows(engine_name, schema_name, root, "t") == Counter([(20, "B"), (30, "C")])
    assert rows(engine_name, schema_name, root, "v") == Counter([(2, "B"), (3, "C")])
    assert [kind(engine_name, schema_name, root, n) for n in ("v", "t", "e")] == [
        "view",
        "table",
        None,
    ]

    # a second build replaces what the first one made (the view stays readable over the new table)
    (root / "seeds/src.csv").write_text("id,name\n1,a\n4,d\n", encoding="utf-8")
    (root / "models/v.sql").write_text(
        "{{ config(materialized='table') }}\nselect id, upper(name) as name from {{ ref('e') }}"
    )
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    assert rows(engine_name, schema_name, root, "t") == Counter([(40, "D")])
    assert kind(engine_name, schema_name, root, "v") == "table"  # a view replaced by a table


SEED_TYPES = {
    "duckdb": [("i", "INTEGER"), ("f", "DOUBLE"), ("d", "DATE"), ("ts", "TIMESTAMP"), ("b", "BOOLEAN"),
               ("s", "VARCHAR"), ("big", "BIGINT"), ("code", "VARCHAR"), ("amount", "DECIMAL(10,2)")],
    "postgres": [("i", "integer"), ("f", "double precision"), ("d", "date"), ("ts", "timestamp without time zone"),
                 ("b", "boolean"), ("s", "text"), ("big", "bigint"), ("code", "character varying(10)"),
                 ("amount", "numeric(10,2)")],
}  # fmt: skip
"""dbt-duckdb's types, and the types dbt's SQL adapters (dbt-postgres) create seeds with."""


def test_seeds_are_typed_as_dbt_types_them(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    from decimal import Decimal

    root = engine_project({
        "seeds/typed.csv": (
            "i,f,d,ts,b,s,big,code,amount\n"
            "1,1.5,2024-01-05,2024-01-05 10:11:12,true,x,3000000000,007,1.25\n"
            "2,,2024-02-01,2024-02-01 00:00:00,false,,2,010,\n"
            ",2,,,,\"a, b\",,,3\n"
        ),
        "seeds/props.yml": (
            "version: 2\nseeds:\n  - name: typed\n"
            "    config: {column_types: {big: bigint, code: varchar(10), amount: 'decimal(10,2)'}}\n"
        ),
    })  # fmt: skip
    result = build(root, "seed")
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    assert column_types(engine_name, schema_name, root, "typed") == SEED_TYPES[engine_name]
    assert rows(engine_name, schema_name, root, "typed") == Counter([
        (1, 1.5, dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, 10, 11, 12), True, "x", 3000000000, "007", Decimal("1.25")),
        (2, None, dt.date(2024, 2, 1), dt.datetime(2024, 2, 1), False, None, 2, "010", None),
        (None, 2.0, None, None, None, "a, b", None, None, Decimal("3")),
    ])  # fmt: skip
    # a reload replaces the table
    (root / "seeds/typed.csv").write_text(
        "i,f,d,ts,b,s,big,code,amount\n9,0.5,2024-03-01,,true,z,1,x,2\n", encoding="utf-8"
    )
    assert build(root, "seed").exit_code == 0
    assert [r[0] for r in rows(engine_name, schema_name, root, "typed")] == [9]


def test_a_seed_value_that_does_not_fit_fails_the_seed(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({
        "seeds/bad.csv": "id,n\n1,2\n2,x\n",
        "seeds/props.yml": "version: 2\nseeds:\n  - name: bad\n    config: {column_types: {n: integer}}\n",
    })  # fmt: skip
    result = build(root, "seed")
    assert result.exit_code == 1 and statuses(result) == {"bad": "error"}
    assert kind(engine_name, schema_name, root, "bad") is None


# -- `files:` sources -----------------------------------------------------------------------------------
SOURCES = """\
version: 2
sources:
  - name: shop
    schema: {schema}
    tables:
      - name: orders
        files: {{path: orders.csv}}
"""


def test_files_source_loads_and_reloads(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({
        "sources.yml": SOURCES.format(schema=schema_name + "_raw"),
        "data/raw/orders.csv": "id,amount,day\n1,2.5,2024-01-01\n2,3,2024-01-02\n",
        "models/m.sql": "{{ config(materialized='table') }}\nselect id, amount from {{ source('shop', 'orders') }}",
    })  # fmt: skip
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    assert rows(engine_name, schema_name + "_raw", root, "orders", "id, amount, day") == Counter(
        [(1, 2.5, dt.date(2024, 1, 1)), (2, 3.0, dt.date(2024, 1, 2))]
    )
    assert rows(engine_name, schema_name, root, "m") == Counter([(1, 2.5), (2, 3.0)])
    (root / "data/raw/orders.csv").write_text("id,amount,day\n3,1,2024-01-03\n", encoding="utf-8")
    assert build(root).exit_code == 0
    assert rows(engine_name, schema_name, root, "m") == Counter([(3, 1.0)])


def test_a_ragged_files_source_fails_and_keeps_the_table(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({
        "sources.yml": SOURCES.format(schema=schema_name + "_raw"),
        "data/raw/orders.csv": "id,amount\n1,2\n2,3\n",
    })  # fmt: skip
    assert build(root).exit_code == 0
    (root / "data/raw/orders.csv").write_text("id,amount\n1,2\n2,3,4,5\n3,4\n", encoding="utf-8")
    result = build(root)
    assert result.exit_code == 1
    [node] = result.results
    assert "data/raw/orders.csv line 3 has" in node.message and "fields, expected 2" in node.message
    assert rows(engine_name, schema_name + "_raw", root, "orders") == Counter([(1, 2), (2, 3)])


# -- Python models --------------------------------------------------------------------------------------
PY_TABLE = """\
import pyarrow as pa


def model(dbt, session):
    dbt.config(materialized="table")
    rel = dbt.ref("src")
    src = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    ids = src.column("id").to_pylist()
    return pa.table({"id": ids, "double_id": [i * 2 for i in ids], "tag": [dbt.config.get("tag", "none")] * len(ids)})
"""

PY_INCREMENTAL = """\
def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="id", incremental_strategy="merge")
    rel = dbt.ref("src")
    if dbt.is_incremental:
        rel = rel.filter("id > 1")
    return rel.project("id, name || '!' as name")
"""


def test_python_models_table_and_incremental(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({
        "seeds/src.csv": "id,name\n1,a\n2,b\n",
        "models/py_table.py": PY_TABLE,
        "models/py_inc.py": PY_INCREMENTAL,
    })  # fmt: skip
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    assert rows(engine_name, schema_name, root, "py_table") == Counter(
        [(1, 2, "none"), (2, 4, "none")]
    )
    assert rows(engine_name, schema_name, root, "py_inc") == Counter([(1, "a!"), (2, "b!")])
    (root / "seeds/src.csv").write_text("id,name\n1,z\n2,c\n3,d\n", encoding="utf-8")
    assert build(root).exit_code == 0
    # id 1 is not in the incremental batch (filtered), 2 is merged, 3 is new
    assert rows(engine_name, schema_name, root, "py_inc") == Counter(
        [(1, "a!"), (2, "c!"), (3, "d!")]
    )
    assert rows(engine_name, schema_name, root, "py_table") == Counter(
        [(1, 2, "none"), (2, 4, "none"), (3, 6, "none")]
    )


def test_a_failing_python_model_keeps_the_previous_table(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({"seeds/src.csv": "id,name\n1,a\n", "models/py_table.py": PY_TABLE})
    assert build(root).exit_code == 0
    (root / "models/py_table.py").write_text(
        PY_TABLE.replace("return pa.table", "raise ValueError('boom')\n    return pa.table")
    )
    result = build(root)
    assert result.exit_code == 1 and "ValueError: boom" in result.results[-1].message
    assert rows(engine_name, schema_name, root, "py_table") == Counter([(1, 2, "none")])


# -- external -------------------------------------------------------------------------------------------
@pytest.mark.notimpl(
    {"postgres": "external models are views over files, which a PostgreSQL server cannot read"}
)
def test_external_model_writes_a_file_and_a_view(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({
        "models/ext.sql": "{{ config(materialized='external', location='out/ext.parquet') }}\nselect 1 as id, 'a' as s",
    })  # fmt: skip
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    assert (root / "out/ext.parquet").is_file()
    assert rows(engine_name, schema_name, root, "ext") == Counter([(1, "a")])


def test_external_model_on_postgres_says_why_and_writes_nothing(
    tmp_path: Path, schema_name: str
) -> None:
    from tests.conftest import write_files
    from tests.engines.conftest import require, target_yaml

    require("postgres")
    root = tmp_path / "proj"
    write_files(root, {
        "headwater.yml": f"name: t\ndefault_target: postgres\ntargets:\n{target_yaml('postgres', schema_name)}",
        "models/ext.sql": "{{ config(materialized='external', location='out/ext.parquet') }}\nselect 1 as id",
    })  # fmt: skip
    result = build(root)
    [node] = result.results
    assert result.exit_code == 1 and node.status == "error"
    assert "needs an engine that reads files in SQL (duckdb)" in node.message
    assert "is postgres" in node.message and "materialized: table" in node.message
    assert not (root / "out").exists()
    assert kind("postgres", schema_name, root, "ext") is None
