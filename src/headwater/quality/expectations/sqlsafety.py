"""SQL text from suites is checked before it reaches the engine.

A suite is data, and a suite file may come from anyone, so the SQL-ish text it carries (a SQL
``row_condition``, the query of ``unexpected_rows_expectation``) must not be able to add a
statement to the ones headwater generates:

* `check_condition`: a SQL row condition must be exactly one boolean expression — no `;`, no
  comment (``--`` would swallow the rest of the generated statement), no statement of its own,
  no DDL/DML anywhere inside (sqlglot's DuckDB parser), and DuckDB's own parser must read
  ``SELECT * FROM t WHERE (<condition>)`` as one SELECT;
* `check_query`: ``unexpected_rows_query`` must be exactly one SELECT (a trailing `;` is
  dropped), with the same rules;
* `single_select`: the last line of defence, applied by the engine to every statement it
  generates: DuckDB parses it as exactly one SELECT (DESCRIBE included), or it is not run.

Column names never go through here: they are always quoted as identifiers.

DuckDB's parser is PostgreSQL's grammar (libpg_query), so it reads the statements generated for
PostgreSQL as well; it runs as local compute (`headwater.engines.local`), whatever the target.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from headwater.errors import ConfigError
from headwater.sql.safety import forbidden_node, fragment_problem

if TYPE_CHECKING:
    import duckdb

BATCH_PLACEHOLDER = "{batch}"
_BATCH_NAME = "__hw_batch__"
_parsers = threading.local()


class UnsafeSQLError(Exception):
    """A generated statement is not exactly one SELECT; it is never sent to the engine."""


def _fail(what: str, text: str, problem: str, hint: str) -> ConfigError:
    return ConfigError(f"{what} {text!r} is refused: {problem}", hint=hint)


def _tokens(what: str, text: str, sql: str, hint: str) -> None:
    """``sql`` (``text`` as the user wrote it) tokenizes, with no `;` and no comment."""
    problem = fragment_problem(sql)
    if problem:
        raise _fail(what, text, problem, hint)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text or text.startswith("Failed to parse"):
        return "sqlglot cannot parse it"
    return text.splitlines()[0][:160]


@contextmanager
def parse_with(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Parse this thread's statements with ``con`` (an open DuckDB connection), sparing the
    ~20 ms of opening a connection only to parse."""
    previous = getattr(_parsers, "con", None)
    _parsers.con = con
    try:
        yield
    finally:
        _parsers.con = previous


def _duckdb_statements(sql: str) -> list[duckdb.Statement]:
    """DuckDB's parse of ``sql`` (no execution), on this thread's local DuckDB."""
    con: duckdb.DuckDBPyConnection | None = getattr(_parsers, "con", None)
    if con is None:
        from headwater.engines import local

        con = _parsers.con = local.connection()
    return list(con.extract_statements(sql))


def _duckdb_check(what: str, text: str, sql: str, hint: str) -> None:
    """DuckDB's own parser must read ``sql`` as exactly one SELECT."""
    from headwater.engines.local import error_type

    try:
        statements = _duckdb_statements(sql)
    except error_type() as exc:
        raise _fail(what, text, f"DuckDB cannot parse it ({_first_line(exc)})", hint) from None
    if len(statements) != 1 or statements[0].type.name != "SELECT":
        raise _fail(what, text, "DuckDB reads it as more than one statement", hint)


def check_condition(text: str) -> str:
    """``text`` (a SQL row_condition) if it is exactly one boolean expression; `ConfigError` else."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    what = "row_condition"
    hint = (
        "write one SQL boolean expression over the columns, e.g. amount > 0 AND status = 'paid' "
        "(no `;`, no comments, no statements)"
    )
    _tokens(what, text, text, hint)
    try:
        tree = sqlglot.parse_one(text, read="duckdb", into=exp.Condition)
    except SqlglotError as exc:
        raise _fail(
            what, text, f"it is not one SQL expression ({_first_line(exc)})", hint
        ) from None
    found = forbidden_node(tree)
    if found:
        raise _fail(what, text, f"it contains a {found} statement", hint)
    _duckdb_check(what, text, f"SELECT * FROM {_BATCH_NAME} WHERE ({text})", hint)
    return text


def check_query(text: str) -> str:
    """``unexpected_rows_query`` without a trailing `;` if it is exactly one SELECT."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    what = "unexpected_rows_query"
    hint = "write exactly one SELECT over {batch}, e.g. SELECT * FROM {batch} WHERE amount < 0"
    body = text.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    sql = body.replace(BATCH_PLACEHOLDER, _BATCH_NAME)
    _tokens(what, text, sql, hint)
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except SqlglotError as exc:
        raise _fail(what, text, f"it is not valid SQL ({_first_line(exc)})", hint) from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise _fail(what, text, "it is not exactly one SELECT", hint)
    found = forbidden_node(trees[0])
    if found:
        raise _fail(what, text, f"it contains a {found} statement", hint)
    _duckdb_check(what, text, f"SELECT count(*) FROM ({sql})", hint)
    return body


def single_select(sql: str) -> str:
    """``sql`` if DuckDB parses it as exactly one SELECT, else `UnsafeSQLError`."""
    from headwater.engines.local import error_type

    try:
        statements = _duckdb_statements(sql)
    except error_type() as exc:
        raise UnsafeSQLError(
            f"DuckDB cannot parse a generated statement ({_first_line(exc)}): {sql[:200]}"
        ) from None
    if len(statements) != 1 or statements[0].type.name != "SELECT":
        raise UnsafeSQLError(
            "refusing to run a generated statement that is not exactly one SELECT: " + sql[:200]
        )
    return sql
