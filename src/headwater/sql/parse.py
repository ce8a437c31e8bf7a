"""sqlglot parsing of compiled SQL: table references (graph edges) and parse errors.

Results are cached by the hash of the compiled SQL, so an unchanged model is never parsed twice.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from headwater.errors import CompilationError, Location, code_snippet
from headwater.project.definition import Node
from headwater.sql.safety import check_single_statement


class ParseCache:
    """Results of parsing, kept between cold loads and keyed by content hash.

    ``entries``: compiled-SQL hash -> table names referenced (``schema.table``);
    ``templates``: Jinja source hash -> marshalled code object (see `Renderer`).
    Only what the current project used is written back (``used``, ``used_templates``).
    """

    def __init__(
        self, entries: dict[str, list[str]] | None = None, templates: dict[str, bytes] | None = None
    ) -> None:
        self.entries: dict[str, list[str]] = dict(entries or {})
        self.used: dict[str, list[str]] = {}
        self.templates: dict[str, bytes] = dict(templates or {})
        self.used_templates: dict[str, bytes] = {}

    def state(self) -> dict[str, Any]:
        return {"tables": self.used, "templates": self.used_templates}

    @classmethod
    def from_state(cls, state: Any) -> ParseCache:
        if not isinstance(state, dict):
            return cls()
        return cls(state.get("tables"), state.get("templates"))

    def tables(self, node: Node, dialect: str) -> list[str]:
        sql = node.compiled_sql or ""
        key = hashlib.blake2b(f"{dialect}\0{sql}".encode(), digest_size=12).hexdigest()
        found = self.entries.get(key)
        if found is None:
            found = table_references(sql, dialect, node)
        self.used[key] = found
        return found


def table_references(sql: str, dialect: str, node: Node) -> list[str]:
    """Qualified names of the tables ``sql`` reads, without CTE names.

    ``dialect`` is the target engine's (`headwater.engines.engine_dialect`): a PostgreSQL
    project is parsed as PostgreSQL. Raises `CompilationError` with the node, file and line when
    the SQL holds more than one statement (`headwater.sql.safety`), or when it does not parse:

    * DuckDB: neither sqlglot nor DuckDB's own parser (local, `headwater.engines.local`) reads it;
    * PostgreSQL, whose own parser is not at hand before the run: neither sqlglot (PostgreSQL
      dialect) nor DuckDB's parser, which descends from PostgreSQL's, reads it. What only one of
      them reads gets no parsed edges and is left to the server. Known gap: PostgreSQL syntax
      both refuse (`ORDER BY x USING <`, rare) is reported here although the server accepts it;
    * other dialects: sqlglot does not read it.
    """
    import sqlglot
    from sqlglot import exp

    try:
        statements = sqlglot.parse(sql, read=dialect)
    except sqlglot.errors.ParseError as exc:
        check_single_statement(sql, path=node.path, node=node.name, dialect=dialect)
        if _engine_parses(sql, dialect):
            return []  # valid for the engine, beyond sqlglot's grammar: no parsed edges
        raise _parse_error(exc, sql, node) from None
    except sqlglot.errors.TokenError as exc:
        if _engine_parses(sql, dialect):
            return []
        raise CompilationError(
            f"SQL does not tokenize: {exc}", location=Location(node.path), node=node.name
        ) from None
    if sum(tree is not None for tree in statements) > 1:
        check_single_statement(sql, path=node.path, node=node.name, dialect=dialect)
    out: list[str] = []
    for tree in statements:
        if tree is None:
            continue
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in ctes):
                continue
            if isinstance(table.this, exp.Func | exp.Anonymous):
                continue
            name = f"{table.db}.{table.name}" if table.db else table.name
            if name not in out:
                out.append(name)
    return out


def _engine_parses(sql: str, dialect: str) -> bool:
    """Whether the engine's own grammar reads ``sql``, asked before any warehouse is open:
    DuckDB's parser, run locally (`headwater.engines.local`); for PostgreSQL it stands in for the
    server's, from which it descends."""
    if dialect not in ("duckdb", "postgres"):
        return False
    from headwater.engines import local

    try:
        rows = local.execute(
            "SELECT json_extract(json_serialize_sql(?), '$.error')::BOOLEAN", [sql]
        )
    except local.error_type():
        return False
    return bool(rows) and rows[0][0] is False


def _parse_error(exc: Any, sql: str, node: Node) -> CompilationError:
    first = exc.errors[0] if getattr(exc, "errors", None) else {}
    line, col = first.get("line"), first.get("col")
    desc = first.get("description") or str(exc)
    desc = re.sub(r"<Token token_type: [^,]+, text: (.*?), line: .*?>", r"`\1`", desc)
    return CompilationError(
        f"SQL does not parse: {desc.split('. Line')[0]}",
        location=Location(node.path, line, col),
        node=node.name,
        snippet=code_snippet(sql, line, col) if line else None,
        hint=f"fix the SQL of `{node.name}` (the line is that of the rendered SQL shown above)",
    )
