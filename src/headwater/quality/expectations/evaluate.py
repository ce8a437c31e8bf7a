"""Evaluate expectations on a relation (validate it) in as few scans as possible.

1. Every count and aggregate of every expectation (and the caller's ``extra_scan``) is one
   SELECT over the relation: conditions become ``FILTER (WHERE ...)`` clauses, identical
   expressions are computed once, uniqueness and distinct-value lookups are subqueries of the
   same statement.
2. Expectations that need phase-1 numbers (z-scores: mean/stddev; outliers: quartiles) are
   counted together in a second SELECT with those numbers inlined as literals.
3. Samples of unexpected rows are fetched, with a LIMIT, only for expectations that found some.

If a combined scan fails (a bad column, a SQL error in a row_condition), each expectation is
evaluated alone so that the broken one gets an ``error`` outcome and its neighbours a verdict.

Engine-specific SQL comes from the engine's function map (``functions``: DuckDB's by default),
so the same plans run on DuckDB and PostgreSQL; on PostgreSQL every metric is one scan
(``single`` layout: a row store reads whole rows on every query).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.engines.functions import Functions
from headwater.errors import ConfigError
from headwater.quality.expectations.compiler import (
    EvaluationError,
    Execute,
    MapPlan,
    Plan,
    ResultFormat,
    Target,
    from_item,
)
from headwater.quality.expectations.config import ExpectationConfig
from headwater.quality.expectations.pandastypes import PandasType
from headwater.quality.expectations.planner import choose_layout, make_plan, split
from headwater.quality.expectations.results import ExpectationResult, SuiteResult
from headwater.quality.expectations.sqlsafety import single_select

if TYPE_CHECKING:
    from headwater.engines.base import Engine, Row
    from headwater.project.definition import Relation


def guarded(execute: Execute) -> Execute:
    """``execute`` that refuses any statement DuckDB does not read as exactly one SELECT."""

    def run(sql: str) -> tuple[list[str], list[Row]]:
        return execute(single_select(sql))

    return run


def describe(execute: Execute, relation: str) -> list[tuple[str, str]]:
    """(name, type) of every column of ``relation``."""
    _, rows = execute(f"DESCRIBE SELECT * FROM {relation}")
    return [(str(r[0]), str(r[1])) for r in rows]


_NAME_RE = re.compile(r'^"((?:[^"]|"")+)"\."((?:[^"]|"")+)"$')


def relation_of(relation_sql: str) -> Relation | None:
    """The `Relation` a rendered ``"schema"."name"`` stands for; None for anything else (a
    subquery, a three-part or external name)."""
    from headwater.project.definition import Relation

    match = _NAME_RE.match(relation_sql.strip())
    if match is None:
        return None
    return Relation(match.group(1).replace('""', '"'), match.group(2).replace('""', '"'))


def engine_columns(engine: Engine) -> Callable[[str], list[tuple[str, str]]]:
    """(name, type) of a relation's columns through an `Engine`: a named relation's from the
    catalog (types as declared: ``numeric(10,2)`` on PostgreSQL), a subquery's from the
    description of its result."""

    def columns(relation: str) -> list[tuple[str, str]]:
        named = relation_of(relation)
        found = engine.columns(named) if named is not None else []
        return found or engine.query_columns(f"SELECT * FROM {from_item(relation)}")

    return columns


class _Scan:
    """A SELECT list with duplicate expressions computed once."""

    def __init__(self) -> None:
        self.exprs: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, sql: str) -> int:
        if sql not in self.index:
            self.index[sql] = len(self.exprs)
            self.exprs.append(sql)
        return self.index[sql]

    def run(self, execute: Execute, relation: str) -> Row:
        _, rows = execute(f"SELECT {', '.join(self.exprs)} FROM {from_item(relation)}")
        return rows[0]


def _error(
    config: ExpectationConfig, exc: BaseException, sql: str | None = None
) -> ExpectationResult:
    message = exc.message if isinstance(exc, ConfigError) else str(exc)
    if not isinstance(exc, EvaluationError | ConfigError):
        message = f"{type(exc).__name__}: {message}"
    trace = f"{type(exc).__name__}: {exc}" + (f"\nSQL: {sql}" if sql else "")
    return ExpectationResult.error(config, message, trace)


def _scan_phase(
    execute: Execute,
    relation: str,
    wanted: dict[int, dict[str, str]],
    values: dict[int, dict[str, Any]],
    failed: dict[int, ExpectationResult],
    configs: list[ExpectationConfig],
    extra: list[str] | None = None,
) -> tuple[int | None, list[Any], list[str | None]]:
    """Compute ``wanted[plan] = {name: sql}`` in one scan, or one scan per plan on failure.

    Returns the unconditioned row count and the extra values (only when ``extra`` is given).
    """
    scan = _Scan()
    # always an aggregate: a query of scalar subqueries alone would return a row per row
    count_at = scan.add("count(*)") if extra is not None or wanted else None
    slots = {i: {name: scan.add(sql) for name, sql in exprs.items()} for i, exprs in wanted.items()}
    extra_at = [scan.add(sql) for sql in extra or []]
    if len(scan.exprs) == 0 or (extra is None and not wanted):
        return None, [], []
    try:
        row = scan.run(execute, relation)
    except Exception:
        row = None
    if row is not None:
        for i, names in slots.items():
            values[i].update({name: row[at] for name, at in names.items()})
        return (
            (row[count_at] if count_at is not None and extra is not None else None),
            [row[at] for at in extra_at],
            [None] * len(extra_at),
        )

    # Isolate what broke: each plan and each extra expression on its own.
    for i, exprs in wanted.items():
        single = _Scan()
        single.add("count(*)")
        at = {name: single.add(sql) for name, sql in exprs.items()}
        try:
            one = single.run(execute, relation)
            values[i].update({name: one[k] for name, k in at.items()})
        except Exception as exc:
            failed[i] = _error(
                configs[i], exc, f"SELECT {', '.join(single.exprs)} FROM {from_item(relation)}"
            )
    row_count = None
    extra_values: list[Any] = []
    extra_errors: list[str | None] = []
    if extra is not None:
        try:
            row_count = execute(f"SELECT count(*) FROM {from_item(relation)}")[1][0][0]
        except Exception:
            row_count = None
        for sql in extra:
            try:
                extra_values.append(execute(f"SELECT {sql} FROM {from_item(relation)}")[1][0][0])
                extra_errors.append(None)
            except Exception as exc:
                extra_values.append(None)
                extra_errors.append(f"{type(exc).__name__}: {exc}")
    return row_count, extra_values, extra_errors


def _scan_layout(
    execute: Execute,
    relation: str,
    values: dict[int, dict[str, Any]],
    failed: dict[int, ExpectationResult],
    configs: list[ExpectationConfig],
    parts: list[dict[int, dict[str, str]]],
    extra: list[str] | None = None,
) -> tuple[int | None, list[Any], list[str | None]]:
    """`_scan_phase` for each query of the layout; the first one carries count(*) and extra."""
    found: tuple[int | None, list[Any], list[str | None]] = (None, [], [])
    for k, part in enumerate(parts):
        outcome = _scan_phase(
            execute, relation, part, values, failed, configs, extra if k == 0 else None
        )
        if k == 0:
            found = outcome
    return found


def validate_relation(
    execute: Execute,
    relation: str,
    expectations: list[ExpectationConfig],
    *,
    suite_name: str = "default",
    columns: list[tuple[str, str]] | None = None,
    extra_scan: list[str] | None = None,
    result_format: str | dict[str, Any] | None = None,
    resolve_table: Callable[[str], str] | None = None,
    semantics: str = "sql",
    pandas_types: Callable[[], dict[str, PandasType] | None] | None = None,
    layout: str = "auto",
    functions: Functions | None = None,
    describe_columns: Callable[[str], list[tuple[str, str]]] | None = None,
    relation_kind: str | None = None,
) -> SuiteResult:
    """Evaluate ``expectations`` on ``relation`` (a name or a parenthesized subquery).

    ``functions`` is the engine's function map (DuckDB's when None, or when ``execute`` is an
    engine's bound `query`, that engine's); ``describe_columns(relation)`` gives (name, type) of
    its columns when ``columns`` is not given (DuckDB's ``DESCRIBE`` when None);
    ``relation_kind`` (``table``/``view``) tells PostgreSQL whether rows have a storage order.

    ``execute`` runs one SQL statement and returns (column names, rows); every statement is
    checked to be exactly one SELECT before it is run (`sqlsafety.single_select`). The result
    format of an expectation is its own ``result_format`` kwarg, else ``result_format``, else
    BASIC. ``semantics`` is the GX back end results follow: ``sql`` (warehouse tables) or
    ``pandas`` (files and frames, with ``pandas_types`` giving the columns' pandas dtypes).
    ``layout`` picks one wide scan (``single``), one query per set of columns (``columns``)
    or, with ``auto``, whichever is cheaper for this relation (see `planner`).
    """
    engine = getattr(execute, "__self__", None)  # an Engine's bound `query` brings its functions
    if functions is None:
        functions = getattr(engine, "functions", None)
    foreign = functions is not None and functions.ENGINE not in ("duckdb", "ansi")
    if (
        foreign
        and describe_columns is None
        and engine is not None
        and hasattr(engine, "query_columns")
    ):
        describe_columns = engine_columns(engine)  # no DESCRIBE outside DuckDB
        named = relation_of(relation)
        if relation_kind is None and named is not None:
            relation_kind = engine.relation_kind(named)
    execute = guarded(execute)
    extra = list(extra_scan or [])
    started = dt.datetime.now(dt.UTC)
    meta: dict[str, Any] = {
        "relation": relation,
        "validation_time": started.isoformat(),
        "engine": functions.ENGINE
        if functions is not None and functions.ENGINE != "ansi"
        else "duckdb",
    }
    if columns is None:
        try:
            columns = (
                describe_columns(relation) if describe_columns else describe(execute, relation)
            )
        except Exception as exc:
            errored = [_error(c, exc, f"DESCRIBE SELECT * FROM {relation}") for c in expectations]
            return SuiteResult(
                errored, suite_name, [None] * len(extra), None, [str(exc)] * len(extra), meta
            )
    target = Target(
        relation, columns, execute, resolve_table, semantics, pandas_types, functions, relation_kind
    )

    plans: dict[int, Plan] = {}
    failed: dict[int, ExpectationResult] = {}
    for i, config in enumerate(expectations):
        try:
            plan = make_plan(config, target)
            plan.check()
            plans[i] = plan
        except (EvaluationError, ConfigError, KeyError, ValueError) as exc:
            failed[i] = _error(config, exc)

    values: dict[int, dict[str, Any]] = {i: {} for i in plans}
    wanted = {}
    for i, plan in plans.items():
        try:
            wanted[i] = plan.metrics()
        except (EvaluationError, ConfigError, KeyError, ValueError) as exc:
            failed[i] = _error(expectations[i], exc)
    layout = choose_layout(target, layout)
    parts = split(wanted, plans, layout)
    row_count, extra_values, extra_errors = _scan_layout(
        execute, relation, values, failed, expectations, parts, extra
    )

    second: dict[int, dict[str, str]] = {}
    for i, plan in plans.items():
        if i in failed:
            continue
        try:
            exprs = plan.phase2(values[i])
        except (EvaluationError, ValueError) as exc:
            failed[i] = _error(expectations[i], exc)
            continue
        if exprs:
            second[i] = exprs
    if second:
        parts = [p for p in split(second, plans, layout) if p]
        _scan_layout(execute, relation, values, failed, expectations, parts)

    results: list[ExpectationResult] = []
    for i, config in enumerate(expectations):
        if i in failed:
            results.append(failed[i])
            continue
        try:
            rf = ResultFormat.parse(config.kwargs.get("result_format") or result_format)
            results.append(plans[i].result(values[i], rf))
        except Exception as exc:
            results.append(_error(config, exc))
    meta["duration_seconds"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 6)
    return SuiteResult(results, suite_name, extra_values, row_count, extra_errors, meta)


def row_predicate(
    config: ExpectationConfig,
    relation: str,
    columns: list[tuple[str, str]] | None = None,
    functions: Functions | None = None,
) -> str | None:
    """A SQL predicate over one row of ``relation`` that is TRUE for exactly the rows GX counts
    as unexpected (row_condition applied, missing values ignored), or None for expectations that
    are not row-level (aggregates, tables, column types).

    Use it unaliased: ``SELECT * FROM <relation> WHERE <predicate>``; it refers to bare column
    names and to ``relation`` itself in subqueries (uniqueness, z-scores, outliers).
    Increasing/decreasing refer to the engine's row id (`Functions.row_id`: DuckDB's ``rowid``,
    PostgreSQL's ``ctid``), so they need a base table. ``functions`` is the engine's function
    map (DuckDB's when None).
    """
    plan = make_plan(config, Target(relation, columns, functions=functions))
    if not isinstance(plan, MapPlan):
        return None
    return plan.row_predicate()
