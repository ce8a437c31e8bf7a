"""dbt Python models: reading `models/*.py` statically, and building them on a real DuckDB file
(table, incremental append and upsert, write-audit-publish, errors with file:line)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import CompilationError, ConfigError, ExecutionError, Location
from headwater.materialize.python_model import PythonModelMaterialization, result_kind
from headwater.materialize.stateful import BuildContext, BuildOutcome
from headwater.project.definition import CheckSpec, Node, ProjectConfig, Relation, Target
from headwater.project.python_models import (
    PYTHON_REFS_KEY,
    ConfigRead,
    RefCall,
    SourceCall,
    is_python_model,
    read_python_model,
    relation_map,
)
from headwater.quality.evaluator import CheckRunner

PATH = "models/m.py"


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# -- static reading ----------------------------------------------------------------------------------
FULL = code("""
    import pandas as pd
    from polars import col

    def model(dbt, session):
        dbt.config(materialized="incremental", unique_key=["id", "day"])
        orders = dbt.ref("orders")
        other = dbt.ref("shop", "customers")
        v2 = dbt.ref("items", v=2)
        v3 = dbt.ref("items", version="3")
        raw = dbt.source("raw", "events")
        dbt.config(tags=["py"], materialized="table")
        limit = dbt.config.get("limit_rows", 10)
        owner = dbt.config.meta_get("owner")
        return helper(dbt.config.get("limit_rows"))

    def helper(x):
        return x
""")


def test_reads_refs_sources_config_and_lines() -> None:
    info = read_python_model(FULL, PATH)
    assert info.model_line == 4
    assert info.refs == [
        RefCall("orders", None, None, 6),
        RefCall("customers", "shop", None, 7),
        RefCall("items", None, "2", 8),
        RefCall("items", None, "3", 9),
    ]
    assert [r.key for r in info.refs] == ["orders", "shop.customers", "items.v2", "items.v3"]
    assert info.sources == [SourceCall("raw", "events", 10)]
    # merged in call order: the later materialized wins, lines say which call set each key
    assert info.config == {"materialized": "table", "unique_key": ["id", "day"], "tags": ["py"]}
    assert info.config_lines == {"materialized": 11, "unique_key": 5, "tags": 11}
    assert info.config_reads == [
        ConfigRead("limit_rows", 10, 12),
        ConfigRead("owner", None, 13, meta=True),
        ConfigRead("limit_rows", None, 14),
    ]
    assert info.config_keys_used == ["limit_rows"] and info.meta_keys_used == ["owner"]
    assert info.packages == ["pandas", "polars"]


def test_relation_map_keys_match_the_runtime_lookups() -> None:
    info = read_python_model(FULL, PATH)
    mapping = relation_map(info, ref=lambda r: f"REF {r.key}", source=lambda s: f"SRC {s.key}")
    assert mapping == {
        "ref:orders": "REF orders", "ref:shop.customers": "REF shop.customers",
        "ref:items.v2": "REF items.v2", "ref:items.v3": "REF items.v3", "source:raw.events": "SRC raw.events",
    }  # fmt: skip
    assert is_python_model("models/a/B.PY") and not is_python_model("models/b.sql")


def test_reading_never_runs_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n\ndef model(dbt, session):\n    return dbt.ref('a')\n"
    info = read_python_model(text, PATH)
    assert [r.name for r in info.refs] == ["a"]
    assert not marker.exists()


@pytest.mark.parametrize(
    ("body", "line", "column", "words"),
    [
        (
            "    name = 'a'\n    return dbt.ref(name)\n",
            3,
            20,
            "`dbt.ref()` gets `name`, which is not a literal",
        ),
        ("    return dbt.source('raw', 't' + 'x')\n", 2, 30, "`dbt.source()` gets `'t' + 'x'`"),
        (
            "    dbt.config(materialized=pick())\n    return 1\n",
            2,
            29,
            "`dbt.config()` gets `pick()`",
        ),
        ("    dbt.config(**opts)\n    return 1\n", 2, 18, "unpacks a dict"),
        ("    return dbt.config.get(key)\n", 2, 27, "`dbt.config.get()` gets `key`"),
        ("    return dbt.ref('a', 'b', 'c')\n", 2, 12, "expected dbt.ref('model')"),
        ("    return dbt.ref('a', vv=2)\n", 2, 12, "takes `v=` or `version=`"),
        (
            "    return dbt.source('only')\n",
            2,
            12,
            "expected dbt.source('source_name', 'table_name')",
        ),
        ("    dbt.config('table')\n    return 1\n", 2, 5, "keyword arguments only"),
        ("    return dbt.config.get()\n", 2, 12, "takes a key and an optional default"),
    ],
)
def test_non_literal_or_misplaced_arguments_are_errors_at_file_line(
    body: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(CompilationError) as err:
        read_python_model("def model(dbt, session):\n" + body, PATH)
    assert err.value.location == Location(PATH, line, column)
    assert words in err.value.message
    assert f"{PATH}:{line}:{column}" in str(err.value)
    assert err.value.snippet and "^" in err.value.snippet  # the argument is underlined


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "import pandas\n\ndef transform(dbt, session):\n    return 1\n",
            1,
            "has no `def model(dbt, session)`",
        ),
        ("x = 1\n\ndef model(session, dbt):\n    return 1\n", 3, "has the wrong parameters"),
        ("def model(dbt):\n    return 1\n", 1, "expected `def model(dbt, session)`"),
        ("def model(dbt, session, extra):\n    return 1\n", 1, "has the wrong parameters"),
        (
            "def model(dbt, session):\n    df = 1\n    df = 2\n",
            3,
            "must end with `return <one dataframe>`",
        ),
        (
            "def model(dbt, session):\n    return 1, 2\n",
            2,
            "must end with `return <one dataframe>`",
        ),
        (
            "def model(dbt, session):\n    return 1\n\n\ndef model(dbt, session):\n    return 2\n",
            5,
            "defines `model` 2 times",
        ),
        ("async def model(dbt, session):\n    return 1\n", 1, "`async def`"),
    ],
)
def test_model_function_is_required_with_dbt_signature(text: str, line: int, words: str) -> None:
    with pytest.raises(CompilationError) as err:
        read_python_model(text, PATH)
    assert err.value.location is not None and err.value.location.line == line
    assert words in err.value.message


def test_syntax_error_names_file_line_and_message() -> None:
    with pytest.raises(CompilationError) as err:
        read_python_model("def model(dbt, session):\n    x = (1,\n    return x\n", PATH)
    assert err.value.location is not None and err.value.location.path == PATH
    assert err.value.location.line == 2
    assert "Python syntax error: '(' was never closed" in err.value.message


def test_config_materialized_that_python_cannot_be_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        read_python_model(
            "def model(dbt, session):\n    dbt.config(materialized='view')\n    return 1\n", PATH
        )
    assert not isinstance(err.value, CompilationError)
    assert err.value.location is not None and err.value.location.line == 2
    assert "cannot be materialized as `view`" in err.value.message


# -- building ------------------------------------------------------------------------------------------
@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(Target(name="dev", path="w.duckdb"), str(tmp_path))
    eng.open()
    eng.execute(
        "CREATE TABLE main.src AS SELECT * FROM (VALUES (1, 'a', 10), (2, 'b', 20)) v(id, grp, amount)"
    )
    eng.execute("CREATE SCHEMA raw")
    eng.execute("CREATE TABLE raw.events AS SELECT * FROM (VALUES (7, 'click')) v(id, kind)")
    eng.invalidate_catalog()
    yield eng
    eng.close()


Builder = Callable[..., BuildOutcome]


@pytest.fixture
def build(engine: DuckDBEngine, tmp_path: Path) -> Builder:
    """Build a Python model `m` from its source text, as the runner would (checks included)."""
    project = ProjectConfig(name="p", root=str(tmp_path))

    def run(
        text: str, checks: tuple[tuple[str, str], ...] = (), full_refresh: bool = False, **config
    ) -> BuildOutcome:
        node = model_node(tmp_path, code(text), **config)
        tests = [check(kind, column) for kind, column in checks]
        nodes = {n.unique_id: n for n in [node, *tests]}
        runner = CheckRunner(engine, nodes, lambda uid: nodes[uid].relation.render())
        ctx = BuildContext(engine=engine, node=node, project=project, full_refresh=full_refresh,
                           invocation_id="test", audit=lambda: runner.run(tests))  # fmt: skip
        return PythonModelMaterialization("python", "table").build(ctx)

    return run


def model_node(root: Path, text: str, **config) -> Node:
    """A Node as the loader makes it: the file's text, its in-file config, the relation map."""
    (root / "models").mkdir(exist_ok=True)
    (root / PATH).write_text(text, encoding="utf-8")
    info = read_python_model(text, PATH)
    merged = {**config, **info.config}
    merged[PYTHON_REFS_KEY] = relation_map(
        info,
        ref=lambda r: Relation("main", r.name).render(),
        source=lambda s: Relation(s.source, s.table).render(),
    )
    return Node(unique_id="model.p.m", name="m", resource_type="model", path=PATH, package="p", fqn=["p", "m"],
                line=1, raw_sql=text, config=merged, relation=Relation("main", "m"))  # fmt: skip


def check(kind: str, column: str) -> Node:
    return Node(unique_id=f"test.p.{kind}_m_{column}", name=f"{kind}_m_{column}", resource_type="test",
                path="models/m.yml", package="p", fqn=["p", kind], config={"severity": "error"},
                test=CheckSpec(kind, column=column, attached_to="model.p.m"), depends_on=["model.p.m"])  # fmt: skip


def table(engine: DuckDBEngine, sql: str = "SELECT * FROM main.m ORDER BY ALL") -> list[tuple]:
    return engine.execute(sql)


RETURNS = {
    "pandas": """
        import pandas as pd

        def model(dbt, session):
            return pd.DataFrame({"id": [1, 2], "grp": ["a", "b"]})
    """,
    "polars": """
        import polars as pl

        def model(dbt, session):
            return pl.DataFrame({"id": [1, 2], "grp": ["a", "b"]})
    """,
    "polars-lazy": """
        import polars as pl

        def model(dbt, session):
            return pl.DataFrame({"id": [1, 2], "grp": ["a", "b"]}).lazy()
    """,
    "arrow": """
        import pyarrow as pa

        def model(dbt, session):
            return pa.table({"id": [1, 2], "grp": ["a", "b"]})
    """,
    "arrow-reader": """
        import pyarrow as pa

        def model(dbt, session):
            return pa.table({"id": [1, 2], "grp": ["a", "b"]}).to_reader()
    """,
    "duckdb": """
        def model(dbt, session):
            return dbt.ref("src").project("id, grp")
    """,
    "duckdb (other database)": """
        import duckdb

        def model(dbt, session):
            other = duckdb.connect(":memory:")
            return other.sql("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(id, grp)")
    """,
}


@pytest.mark.parametrize("kind", list(RETURNS))
def test_each_supported_return_type_becomes_the_table(
    build: Builder, engine: DuckDBEngine, kind: str
) -> None:
    outcome = build(RETURNS[kind])
    assert outcome.published and outcome.rows == 2
    assert outcome.message == "table: 2 rows" and outcome.stats == {"inserted": 2}
    assert table(engine) == [(1, "a"), (2, "b")]
    assert engine.relation_kind(Relation("main", "m")) == "table"


def test_result_kind_names_each_type_and_rejects_others() -> None:
    import pandas as pd
    import pyarrow as pa

    assert result_kind(pd.DataFrame({"a": [1]})) == "pandas"
    assert result_kind(pa.table({"a": [1]})) == "arrow"
    assert result_kind({"a": [1]}) is None and result_kind(None) is None


def test_session_sql_runs_on_the_engine_connection(build: Builder, engine: DuckDBEngine) -> None:
    build("""
        def model(dbt, session):
            session.execute("CREATE TABLE main.side AS SELECT 5 AS five")
            total = session.sql("SELECT sum(amount) FROM main.src").fetchall()[0][0]
            return session.sql(f"SELECT {total} AS total, (SELECT five FROM main.side) AS five")
    """)
    assert table(engine) == [(30, 5)]


def test_session_is_the_worker_threads_cursor(build: Builder, engine: DuckDBEngine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    text = """
        def model(dbt, session):
            session.execute("CREATE TEMP TABLE scratch AS SELECT 3 AS id")
            return session.sql("SELECT id FROM scratch UNION ALL SELECT id FROM main.src")
    """
    with ThreadPoolExecutor(max_workers=1) as pool:  # not the main thread: a cursor of its own
        outcome = pool.submit(build, text).result()
    assert outcome.published and table(engine) == [(1,), (2,), (3,)]


def test_refs_and_sources_read_the_mapped_relations(build: Builder, engine: DuckDBEngine) -> None:
    build("""
        def model(dbt, session):
            events = dbt.source("raw", "events").set_alias("e")
            src = dbt.ref("src", v=2).set_alias("s")  # the integrator mapped `src.v2` to main.src
            return src.join(events, "s.id < e.id").project("s.id, e.kind")
    """)
    assert table(engine) == [(1, "click"), (2, "click")]


def test_config_get_reads_the_node_config(build: Builder, engine: DuckDBEngine) -> None:
    build("""
        import pandas as pd

        def model(dbt, session):
            dbt.config(limit_rows=3)
            return pd.DataFrame({
                "limit_rows": [dbt.config.get("limit_rows")],
                "from_yml": [dbt.config.get("owner_team")],
                "missing": [dbt.config.get("nope", "fallback")],
                "materialized": [dbt.config.get("materialized")],
                "meta": [dbt.config.meta_get("tier", "none")],
            })
    """, owner_team="growth", meta={"tier": "gold"})  # fmt: skip
    assert table(engine) == [(3, "growth", "fallback", "table", "gold")]


def test_this_renders_as_the_node_relation(build: Builder, engine: DuckDBEngine) -> None:
    build("""
        import pandas as pd

        def model(dbt, session):
            t = dbt.this
            return pd.DataFrame({"this": [f"{t}"], "repr": [repr(t)], "db": [t.database], "schema": [t.schema],
                                 "identifier": [t.identifier], "inc": [dbt.is_incremental]})
    """)
    assert table(engine) == [('"main"."m"', '"main"."m"', "w", "main", "m", False)]


INCREMENTAL = """
    def model(dbt, session):
        dbt.config(materialized="incremental")
        src = dbt.ref("src")
        if dbt.is_incremental:
            src = src.filter(f"id > (SELECT max(id) FROM {dbt.this})")
        return src
"""


def test_incremental_append_adds_only_new_rows(build: Builder, engine: DuckDBEngine) -> None:
    first = build(INCREMENTAL)
    assert first.message == "full build: 2 rows"
    engine.execute("INSERT INTO main.src VALUES (3, 'c', 30), (4, 'a', 40)")
    second = build(INCREMENTAL)
    assert second.message == "append: 2 rows" and second.stats == {"inserted": 2}
    assert [r[0] for r in table(engine)] == [1, 2, 3, 4]
    third = build(INCREMENTAL)  # nothing new
    assert third.rows == 0 and [r[0] for r in table(engine)] == [1, 2, 3, 4]


def test_incremental_full_refresh_rebuilds(build: Builder, engine: DuckDBEngine) -> None:
    build(INCREMENTAL)
    engine.execute("DELETE FROM main.src WHERE id = 1")
    outcome = build(INCREMENTAL, full_refresh=True)
    assert outcome.message == "full build: 1 rows"
    assert [r[0] for r in table(engine)] == [2]


UPSERT = """
    def model(dbt, session):
        dbt.config(materialized="incremental", unique_key="id", incremental_strategy=STRATEGY)
        return dbt.ref("src")
"""


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_incremental_unique_key_upserts_and_is_idempotent(
    build: Builder, engine: DuckDBEngine, strategy: str
) -> None:
    text = UPSERT.replace("STRATEGY", repr(strategy))
    build(text)
    engine.execute("UPDATE main.src SET amount = 11 WHERE id = 1")
    engine.execute("INSERT INTO main.src VALUES (3, 'c', 30)")
    outcome = build(text)
    assert outcome.published and outcome.stats == {"inserted": 1, "updated": 2, "deleted": 0}
    after = table(engine)
    assert after == [(1, "a", 11), (2, "b", 20), (3, "c", 30)]
    again = build(text)
    assert again.published and table(engine) == after  # same input, same table


def test_incremental_schema_change_appends_new_columns(
    build: Builder, engine: DuckDBEngine
) -> None:
    model = """
        def model(dbt, session):
            dbt.config(materialized="incremental", unique_key="id", on_schema_change="append_new_columns")
            return dbt.ref("src").project(COLUMNS)
    """
    build(model.replace("COLUMNS", "'id, grp'"))
    outcome = build(model.replace("COLUMNS", "'id, grp, amount'"))
    assert "schema: +amount INTEGER" in outcome.message
    assert table(engine) == [(1, "a", 10), (2, "b", 20)]


BAD_ROW = """
    import pandas as pd

    def model(dbt, session):
        dbt.config(materialized=MATERIALIZED)
        if dbt.is_incremental:
            return pd.DataFrame({"id": [None], "grp": ["z"]}, dtype="object")
        return dbt.ref("src").project("id, grp")
"""


@pytest.mark.parametrize("materialized", ["table", "incremental"])
def test_failing_check_keeps_the_previous_table(
    build: Builder, engine: DuckDBEngine, materialized: str
) -> None:
    text = BAD_ROW.replace("MATERIALIZED", repr(materialized))
    assert build(text, checks=(("not_null", "id"),)).published
    if materialized == "table":  # rebuild from a result with a null id
        text = code(text).replace(
            'return dbt.ref("src").project("id, grp")',
            'return dbt.ref("src").project("NULL::INT AS id, grp")',
        )
    outcome = build(text, checks=(("not_null", "id"),))
    assert not outcome.published
    assert "not published: `not_null_m_id` failed" in outcome.message
    assert [c.failures for c in outcome.checks] == [2 if materialized == "table" else 1]
    assert table(engine) == [(1, "a"), (2, "b")]


def test_table_contract_is_enforced_before_publishing(
    build: Builder, engine: DuckDBEngine, tmp_path: Path
) -> None:
    from headwater.project.definition import Column
    from headwater.quality.contracts import ContractError

    text = "def model(dbt, session):\n    return dbt.ref('src').project(COLS)\n"
    build(text.replace("COLS", "'id'"))
    node = model_node(tmp_path, text.replace("COLS", "'id, grp'"), contract={"enforced": True})
    node.columns = {"id": Column("id", data_type="integer")}
    ctx = BuildContext(engine=engine, node=node, project=ProjectConfig(name="p", root=str(tmp_path)),
                       full_refresh=False, invocation_id="t", audit=list)  # fmt: skip
    with pytest.raises(ContractError, match="does not match its contract"):
        PythonModelMaterialization("python", "table").build(ctx)
    assert table(engine) == [(1,), (2,)]


def test_exception_in_model_names_file_and_line_and_rolls_back(
    build: Builder, engine: DuckDBEngine, tmp_path: Path
) -> None:
    build("""
        def model(dbt, session):
            return dbt.ref("src")
    """)
    before = table(engine)
    with pytest.raises(ExecutionError) as err:
        build("""
            def ratio(a, b):
                return a / b


            def model(dbt, session):
                session.execute("CREATE TABLE main.side AS SELECT 1 AS x")
                n = 0
                return ratio(1, n)
        """)
    assert err.value.location == Location(PATH, 2)  # the deepest line of the model file
    assert err.value.node == "m"
    text = str(err.value)
    assert "models/m.py:2: [m] Python model `m` raised ZeroDivisionError: division by zero" in text
    assert "return a / b" in text  # the line is shown
    assert table(engine) == before
    assert engine.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'side'") == [
        (0,)
    ]
    assert isinstance(err.value.__cause__, ZeroDivisionError)


def test_exception_at_import_time_and_missing_package(build: Builder) -> None:
    with pytest.raises(ExecutionError) as err:
        build("""
            import headwater_no_such_package

            def model(dbt, session):
                return 1
        """)
    assert err.value.location == Location(PATH, 1)
    assert "ModuleNotFoundError" in err.value.message and "while importing it" in err.value.message
    assert err.value.hint is not None and "pip install headwater_no_such_package" in err.value.hint


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        ("{'id': [1]}", "returned a `builtins.dict`"),
        ("None", "returned None (is `return` missing?)"),
    ],
)
def test_wrong_return_type_is_a_clear_error(
    build: Builder, engine: DuckDBEngine, returned: str, words: str
) -> None:
    with pytest.raises(ExecutionError) as err:
        build(f"""
            def model(dbt, session):
                return {returned}
        """)
    assert words in err.value.message and "pandas or polars DataFrame" in err.value.message
    assert err.value.node == "m" and err.value.location == Location(PATH, 2)  # the `return`
    assert engine.relation_kind(Relation("main", "m")) is None


def test_unknown_ref_at_run_time_is_an_error_with_a_hint(build: Builder) -> None:
    with pytest.raises(ExecutionError) as err:
        build("""
            def model(dbt, session):
                get = dbt.ref
                return get("elsewhere")
        """)
    assert "`dbt.ref('elsewhere')` is not among the refs and sources" in err.value.message
    assert err.value.location == Location(PATH, 3)
    assert err.value.hint is not None and "literal arguments" in err.value.hint


def test_syntax_error_at_build_is_a_compilation_error(engine: DuckDBEngine, tmp_path: Path) -> None:
    node = model_node(tmp_path, "def model(dbt, session):\n    return dbt.ref('src')\n")
    node.raw_sql = "def model(dbt, session):\n    return (\n"
    ctx = BuildContext(engine=engine, node=node, project=ProjectConfig(name="p", root=str(tmp_path)),
                       full_refresh=False, invocation_id="t", audit=list)  # fmt: skip
    with pytest.raises(CompilationError) as err:
        PythonModelMaterialization("python", "table").build(ctx)
    assert err.value.location is not None and err.value.location.line == 2


def test_view_materialization_is_refused(build: Builder) -> None:
    with pytest.raises(ConfigError) as err:
        build("def model(dbt, session):\n    return dbt.ref('src')\n", materialized="view")
    assert "Python models are tables or incremental" in err.value.message


def test_a_view_of_the_same_name_is_replaced_by_the_table(
    build: Builder, engine: DuckDBEngine
) -> None:
    engine.execute("CREATE VIEW main.m AS SELECT 0 AS id")
    engine.invalidate_catalog()
    build("def model(dbt, session):\n    return dbt.ref('src').project('id')\n")
    assert engine.relation_kind(Relation("main", "m")) == "table"
    assert table(engine) == [(1,), (2,)]


def test_the_model_is_not_imported(build: Builder, engine: DuckDBEngine, tmp_path: Path) -> None:
    build("""
        import sys

        def model(dbt, session):
            return session.sql(f"SELECT '{__name__}' AS name, {__name__ in sys.modules} AS imported")
    """)
    assert table(engine) == [("headwater_python_model_m", False)]
    assert not [m for m in sys.modules if m.startswith("headwater_python_model")]
    assert not list(tmp_path.rglob("*.pyc"))
