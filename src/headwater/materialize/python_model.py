"""Running dbt Python models (`def model(dbt, session)`), as dbt-duckdb runs them.

A build runs in **one engine transaction** on the worker thread's DuckDB cursor:

1. the file's text (`node.raw_sql`) is compiled and executed into a fresh module namespace (never
   imported, never put in `sys.modules`, no `.pyc` written), and `model(dbt, session)` is called;
2. what it returns — a pandas or polars DataFrame (or polars LazyFrame), a pyarrow Table or
   RecordBatchReader, or a DuckDB relation — is registered on the cursor and written:
   `table` replaces the table, `incremental` appends or upserts by `unique_key` with the same
   strategies, schema-change handling and SQL as headwater's incremental SQL models
   (`headwater.materialize.incremental`);
3. the node's checks run inside the transaction (`BuildContext.audit`), which commits only if no
   error-level check fails (an engine without transactional DDL writes into a staged copy of the
   table instead and swaps it in: `stateful.audited`; there, what the model itself ran through
   `session` is not undone).

A Python exception in the model, a failing check or a killed process rolls everything back — the
write and whatever the model itself ran through `session` — so the previous table stays.

What the model gets:

* `dbt.ref('m')`, `dbt.ref('pkg', 'm')`, `dbt.ref('m', v=2)`, `dbt.source('s', 't')`: a lazy
  `DuckDBPyRelation` (`session.sql("select * from <relation>")`) on the same cursor, so it sees
  the transaction. Relations come from ``node.config[PYTHON_REFS_KEY]`` (see
  `headwater.project.python_models.relation_map`).
* `dbt.config.get(key, default)` / `dbt.config.meta_get(key, default)`: the node's config.
* `dbt.this`: the node's relation; `str(dbt.this)` is its quoted name; `.database`, `.schema`,
  `.identifier`.
* `dbt.is_incremental`: True when an incremental model's table exists and this is not a full
  refresh.
* `session`: the DuckDB cursor the engine uses on this thread (`session.sql(...)`).

**On an engine other than DuckDB** (PostgreSQL) the model runs the same way against DuckDB as
local compute (`headwater.engines.local`): `session` is a cursor of this thread's in-memory
DuckDB, `dbt.ref()` / `dbt.source()` fetch the relation's rows from the engine (Arrow, inside the
build's transaction, so they see it) and return a DuckDB relation over them, and the result is
written to the engine through `engine.strategies.arrow_relation` (PostgreSQL: COPY into a
temporary table) by the same table and incremental statements. What differs: the model's own
`session.sql("... FROM schema.table")` reads the local DuckDB, not the warehouse (use
`dbt.ref`/`dbt.source`), and every referenced relation is read whole into memory.
"""

from __future__ import annotations

import copy
import sys
import traceback
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engines.base import Engine, quote_identifier
from headwater.errors import (
    CompilationError,
    ConfigError,
    ExecutionError,
    HeadwaterError,
    Location,
    code_snippet,
)
from headwater.materialize.stateful import (
    BuildContext,
    BuildOutcome,
    StatefulMaterialization,
    audited,
    replace_table,
)
from headwater.project.definition import Node, Relation
from headwater.project.python_models import (
    PYTHON_MATERIALIZATIONS,
    PYTHON_REFS_KEY,
    ref_lookup,
    source_lookup,
    syntax_error,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

RETURN_TYPES = (
    "a pandas or polars DataFrame, a polars LazyFrame, a pyarrow Table or RecordBatchReader, "
    "or a DuckDB relation"
)


# -- loading the file ------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """A model file compiled and executed: its `model` function and where it came from."""

    function: Callable[..., Any]
    filename: str
    """The name the code was compiled under (the file's absolute path): traceback frames with
    this name are the model's own."""
    source: str
    return_line: int | None = None
    """Line of the model's last statement (its `return`), for errors about what it returned."""


def model_filename(node: Node, project_root: str) -> str:
    return str(Path(project_root) / node.path)


def load_model(node: Node, filename: str) -> LoadedModel:
    """Compile ``node.raw_sql`` under ``filename`` and run it in a fresh module namespace.

    Raises:
        CompilationError: the text does not compile, or defines no ``model`` function.
        ExecutionError: the module's top-level code raised.
    """
    source = node.raw_sql or ""
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise syntax_error(exc, source, node.path) from None
    module = types.ModuleType(f"headwater_python_model_{node.name}")
    module.__file__ = filename
    try:
        exec(code, module.__dict__)  # project code: trusted, like a dbt project's
    except Exception as exc:
        raise model_failed(exc, node, filename, source, "importing it") from exc
    function = module.__dict__.get("model")
    if not callable(function):
        raise CompilationError(
            f"`{node.path}` defines no `model` function",
            location=Location(node.path, 1),
            node=node.name,
            hint="define `def model(dbt, session):` returning a DataFrame",
        )
    return LoadedModel(function, filename, source, _return_line(source))


def _return_line(source: str) -> int | None:
    """Line of the last statement of the top-level `model` function."""
    import ast

    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "model" and stmt.body:
            return stmt.body[-1].lineno
    return None


def model_failed(
    exc: BaseException, node: Node, filename: str, source: str, doing: str = ""
) -> ExecutionError:
    """An exception raised by model code as an `ExecutionError` at the deepest line of the model
    file in its traceback."""
    line = _model_line(exc, filename)
    where = f" while {doing}" if doing else ""
    if isinstance(exc, HeadwaterError):
        message, hint = f"Python model `{node.name}` failed{where}: {exc.message}", exc.hint
    else:
        text = f"{type(exc).__name__}: {exc}".rstrip(": ")
        message, hint = f"Python model `{node.name}` raised{where} {text}", _hint(exc, node, line)
    return ExecutionError(
        message,
        location=Location(node.path, line),
        node=node.name,
        snippet=code_snippet(source, line) if line else None,
        hint=hint,
    )


def _model_line(exc: BaseException, filename: str) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def _hint(exc: BaseException, node: Node, line: int | None) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"install the package that provides `{exc.name}` where headwater runs (e.g. `pip install {exc.name}`)"
    where = f"{node.path}:{line}" if line else node.path
    return f"fix the model at {where}; the previous `{node.name}` is unchanged. Rerun: `headwater run -s {node.name}`"


# -- the `dbt` argument ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ThisRelation:
    """`dbt.this`: the model's own relation; renders as its quoted name."""

    database: str
    schema: str
    identifier: str
    rendered: str

    def __str__(self) -> str:
        return self.rendered

    def __repr__(self) -> str:
        return self.rendered


class ModelConfig:
    """`dbt.config`: calling it does nothing at run time (the loader read it); `get` reads the
    node's config."""

    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        self._config = config
        self._meta = meta

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def get(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self._config.get(key, default))

    def meta_get(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self._meta.get(key, default))


class DbtContext:
    """The `dbt` argument of `model(dbt, session)`."""

    def __init__(
        self,
        node: Node,
        session: duckdb.DuckDBPyConnection,
        this: ThisRelation,
        is_incremental: bool,
        fetch: Callable[[str], pa.Table] | None = None,
    ) -> None:
        self._node = node
        self._session = session
        self._fetch = fetch
        """Reads a query from the warehouse as Arrow when `session` is the local DuckDB."""
        self._relations: dict[str, str] = dict(node.config.get(PYTHON_REFS_KEY) or {})
        meta = node.config.get("meta") or node.meta or {}
        config = {k: v for k, v in node.config.items() if k != PYTHON_REFS_KEY}
        config.setdefault("materialized", "table")  # dbt's default for Python models
        self.config = ModelConfig(config, dict(meta))
        self.this = this
        self.is_incremental = is_incremental

    def ref(self, *args: str, **kwargs: Any) -> duckdb.DuckDBPyRelation:
        """`dbt.ref('m')`, `dbt.ref('pkg', 'm')`, `dbt.ref('m', v=2)` as a DuckDB relation."""
        if not 1 <= len(args) <= 2 or set(kwargs) - {"v", "version"}:
            raise ExecutionError("`dbt.ref()` takes a model name (optionally a package first) and `v=`",
                                 node=self._node.name, hint="e.g. dbt.ref('orders') or dbt.ref('orders', v=2)")  # fmt: skip
        key = ".".join(args)
        version = kwargs.get("v") or kwargs.get("version")
        if version:
            key += f".v{version}"
        call = (
            "dbt.ref("
            + ", ".join(repr(a) for a in args)
            + (f", v={version!r}" if version else "")
            + ")"
        )
        return self._load(ref_lookup(key), call)

    def source(self, *args: str) -> duckdb.DuckDBPyRelation:
        """`dbt.source('s', 't')` as a DuckDB relation."""
        call = "dbt.source(" + ", ".join(repr(a) for a in args) + ")"
        return self._load(source_lookup(".".join(args)), call)

    def _load(self, lookup: str, call: str) -> duckdb.DuckDBPyRelation:
        from headwater.engines import local

        relation = self._relations.get(lookup)
        if relation is None:
            known = ", ".join(sorted(self._relations)) or "none"
            raise ExecutionError(
                f"`{call}` is not among the refs and sources headwater found in `{self._node.path}` (known: {known})",
                node=self._node.name,
                hint="call dbt.ref()/dbt.source() directly on `dbt` with literal arguments, so that headwater "
                "sees them without running the file",
            )
        try:
            if self._fetch is not None:  # the warehouse is another engine: its rows, read locally
                return self._session.from_arrow(self._fetch(f"SELECT * FROM {relation}"))
            return self._session.sql(f"SELECT * FROM {relation}")
        except (local.error_type(), HeadwaterError) as exc:
            message = exc.message if isinstance(exc, HeadwaterError) else str(exc).strip()
            raise ExecutionError(
                f"`{call}` cannot read {relation}: {message}",
                node=self._node.name,
                hint=f"build it first, e.g. `headwater run -s +{self._node.name}`",
            ) from None


# -- the model's result -----------------------------------------------------------------------------
def result_kind(value: Any) -> str | None:
    """`pandas`, `polars`, `polars-lazy`, `arrow`, `arrow-reader` or `duckdb` for a value a model
    may return, else None. Only libraries already imported are asked (none is imported here)."""
    checks = (
        ("duckdb", "DuckDBPyRelation", "duckdb"),
        ("pandas", "DataFrame", "pandas"),
        ("polars", "DataFrame", "polars"),
        ("polars", "LazyFrame", "polars-lazy"),
        ("pyarrow", "Table", "arrow"),
        ("pyarrow", "RecordBatchReader", "arrow-reader"),
    )
    for module_name, attr, kind in checks:
        module = sys.modules.get(module_name)
        cls = getattr(module, attr, None) if module is not None else None
        if isinstance(cls, type) and isinstance(value, cls):
            return kind
    return None


def register_result(
    session: duckdb.DuckDBPyConnection, name: str, value: Any, node: Node, line: int | None
) -> None:
    """Expose the model's result as the view ``name`` on ``session`` (no copy where possible)."""
    from headwater.engines import local

    kind = result_kind(value)
    if kind is None:
        what = (
            "None (is `return` missing?)"
            if value is None
            else f"a `{type(value).__module__}.{type(value).__qualname__}`"
        )
        raise ExecutionError(
            f"Python model `{node.name}` returned {what}; expected {RETURN_TYPES}",
            location=Location(node.path, line),
            node=node.name,
            hint="return e.g. a DataFrame, `pyarrow.table(...)` or `session.sql(...)`",
        )
    try:
        try:
            session.register(name, value)
        except local.error_type() as exc:
            if kind != "duckdb" or type(exc).__name__ != "InvalidInputException":
                raise
            # a relation of another DuckDB database (e.g. `duckdb.sql(...)`) cannot be scanned
            # here: fetch its rows
            fetch = getattr(value, "to_arrow_table", None) or value.arrow  # duckdb < 1.4: arrow()
            session.register(name, fetch())
    except local.error_type() as exc:
        raise ExecutionError(
            f"cannot read the {kind} result of Python model `{node.name}`: {str(exc).strip()}",
            location=Location(node.path, line),
            node=node.name,
            hint="return columns of types DuckDB reads (numbers, text, dates, lists, structs)",
        ) from None


# -- the materialization ------------------------------------------------------------------------------
def materialized_of(node: Node) -> str:
    """`table` (the default, as in dbt) or `incremental`; anything else is a `ConfigError`."""
    mode = str(node.config.get("materialized") or "table")
    if mode not in PYTHON_MATERIALIZATIONS:
        raise ConfigError(
            f"Python model `{node.name}` is configured as `{mode}`; Python models are tables or incremental",
            location=Location(node.path, node.line),
            node=node.name,
            hint="set materialized='table' or 'incremental' (in dbt.config() or the model's .yml)",
        )
    return mode


def in_engine(engine: Engine) -> bool:
    """True when the model runs inside the warehouse: DuckDB, whose cursor is the `session`."""
    return engine.NAME == "duckdb" and callable(getattr(engine, "_cursor", None))


def session_of(engine: Engine, node: Node) -> duckdb.DuckDBPyConnection:
    """The DuckDB cursor the engine runs statements on in this thread, or, on another engine, a
    new cursor of this thread's local DuckDB (closed by the caller)."""
    if in_engine(engine):
        cursor: duckdb.DuckDBPyConnection = engine._cursor()  # type: ignore[attr-defined]  # DuckDB's
        return cursor
    from headwater.engines import local

    return local.connection().cursor()


def this_relation(engine: Engine, relation: Relation) -> ThisRelation:
    database = relation.database or str(engine.execute("SELECT current_database()")[0][0])
    return ThisRelation(database, relation.schema, relation.identifier, relation.render())


class PythonModelMaterialization(StatefulMaterialization):
    """Builds a dbt Python model (`models/**/*.py`) as a table or an incremental table."""

    def build(self, ctx: BuildContext) -> BuildOutcome:
        return PythonBuild(ctx).run()


class PythonBuild:
    """One build of one Python model."""

    def __init__(self, ctx: BuildContext) -> None:
        from headwater.materialize.incremental import _validate, strategy_of

        self.ctx = ctx
        self.node = node = ctx.node
        self.engine = ctx.engine
        assert node.relation is not None, node.unique_id
        self.mode = materialized_of(node)
        self.strategy = ""
        if self.mode == "incremental":
            self.strategy = strategy_of(node)
            if self.strategy == "microbatch":
                raise ConfigError(
                    f"Python model `{node.name}` uses incremental_strategy microbatch, which is for SQL models",
                    location=Location(node.path, node.line),
                    node=node.name,
                    hint="use append, merge or delete+insert (with unique_key) for a Python model",
                )
            _validate(node, self.strategy)
        self.filename = model_filename(node, ctx.project.root)
        self.stats: dict[str, int] = {}
        self.schema_note = ""

    @property
    def relation(self) -> Relation:
        """The relation this build writes into (`BuildContext.relation`: the model's table, or
        its staged copy during a staged apply)."""
        return self.ctx.relation

    def incremental(self) -> bool:
        """True when this build adds to the existing table (dbt's `is_incremental()`)."""
        if self.mode != "incremental":
            return False
        full = self.ctx.full_refresh and self.node.config.get("full_refresh") is not False
        return not full and self.engine.relation_kind(self.relation) == "table"

    def run(self) -> BuildOutcome:
        loaded = load_model(self.node, self.filename)  # syntax errors before any transaction
        inside = in_engine(self.engine)
        session = session_of(self.engine, self.node)
        incremental = self.incremental()
        fetch = None if inside else self.engine.fetch_arrow
        dbt = DbtContext(
            self.node, session, this_relation(self.engine, self.relation), incremental, fetch
        )
        view = f"__hw_python_{uuid.uuid4().hex[:12]}"

        def write(body: str) -> int | None:
            return self._merge(body) if incremental else self._replace(body)

        def apply() -> int | None:
            result = self._call(loaded, dbt, session)
            register_result(session, view, result, self.node, loaded.return_line)
            body = f"SELECT * FROM {quote_identifier(view)}"
            if inside:
                return write(body)
            from headwater.engines import local

            table = local.arrow_of(
                session.sql(body)
            )  # the result as DuckDB reads it, then into the engine
            with self.engine.strategies.arrow_relation(
                table, f"__hw_python_{self.relation.identifier}"
            ) as rel:
                return write(self.engine.statements.select_all(rel))

        try:
            outcome = audited(self.ctx, apply, rebuild=not incremental)
        finally:
            session.unregister(view)  # a no-op when it was never registered
            if not inside:
                session.close()
        outcome.stats = self.stats
        if outcome.published:
            what = (
                self.strategy
                if incremental
                else ("full build" if self.mode == "incremental" else "table")
            )
            outcome.message = f"{what}: {outcome.rows:,} rows" if outcome.rows is not None else what
            outcome.message += self.schema_note
        return outcome

    def _call(
        self, loaded: LoadedModel, dbt: DbtContext, session: duckdb.DuckDBPyConnection
    ) -> Any:
        try:
            return loaded.function(dbt, session)
        except Exception as exc:
            if getattr(self.engine, "_interrupted", False):  # the run was stopped (SIGINT/SIGTERM)
                raise KeyboardInterrupt("interrupted") from None
            raise model_failed(exc, self.node, loaded.filename, loaded.source) from exc

    def _replace(self, body: str) -> int | None:
        """Create the table from the result (replacing a view of the same name)."""
        engine, relation = self.engine, self.relation
        count = replace_table(engine, relation, body)
        if count is not None:
            self.stats["inserted"] = count
        if self.mode == "table":
            from headwater.quality.contracts import contract_enforced, enforce_contract

            if contract_enforced(self.node):
                enforce_contract(engine, self.node, relation)
        return count

    def _merge(self, body: str) -> int | None:
        """Stage the result, reconcile the schema, apply the incremental strategy."""
        from headwater.materialize.incremental import (
            _apply_schema_changes,
            apply_strategy,
            schema_changes,
        )

        engine, relation, node = self.engine, self.relation, self.node
        staged = engine.staging_relation(relation)
        replace_table(engine, staged, body)
        changes = schema_changes(node, engine.columns(relation), engine.columns(staged))
        columns = _apply_schema_changes(engine, relation, changes)
        rows = apply_strategy(engine, node, self.strategy, relation, staged, columns, self.stats)
        engine.drop(staged)
        if changes.added or changes.removed or changes.retyped:
            self.schema_note = f"; schema: {changes.describe()}"
        return rows


__all__ = [
    "DbtContext",
    "LoadedModel",
    "ModelConfig",
    "PythonModelMaterialization",
    "ThisRelation",
    "load_model",
    "materialized_of",
    "result_kind",
]
