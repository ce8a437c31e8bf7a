"""PostgreSQL's catalog: relation kinds from `pg_class` once per run, columns from
`pg_attribute` with `format_type` (the type as it is declared, `character varying(20)`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.engines.base import Row, catalog_key, group_columns
from headwater.project.definition import Relation

_KIND = {"r": "table", "p": "table", "v": "view", "m": "view", "f": "table"}
_USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
)


class PostgresCatalog:
    """Mixed into `PostgresEngine`."""

    if TYPE_CHECKING:  # what the mixin uses of `Engine`

        def execute(self, sql: str, params: list[Any] | None = None) -> list[Row]: ...

    def _load_catalog(self) -> dict[tuple[str, str], str]:
        rows = self.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_SCHEMAS}"
        )
        return {(str(s).lower(), str(n).lower()): _KIND[str(k)] for s, n, k in rows}

    def columns(self, relation: Relation) -> list[tuple[str, str]]:
        """Never fails for a missing relation (a failed statement would abort a transaction)."""
        rows = self.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
            "WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [relation.render()],
        )
        return [(str(n), str(t)) for n, t in rows]

    def columns_of(self, relations: list[Relation]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        wanted = {catalog_key(r) for r in relations}
        if not wanted:
            return {}
        schemas = sorted({schema for schema, _ in wanted})
        rows = self.execute(
            "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
            "JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE lower(n.nspname) = ANY(?) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY n.nspname, c.relname, a.attnum",
            [schemas],
        )
        return group_columns(rows, wanted)

    def relation_size(self, relation: Relation) -> int | None:
        """Bytes the relation takes on disk (tables; None for views and missing relations)."""
        rows = self.execute("SELECT pg_total_relation_size(to_regclass(?))", [relation.render()])
        return int(rows[0][0]) if rows and rows[0][0] is not None else None
