"""Slowly changing dimensions of type 1 and 3 as model materializations, plus the SQL helpers the
type-2 snapshot shares with them.

``materialized: scd1`` keeps one row per `unique_key`, overwritten in place with the latest
values. ``materialized: scd3`` does the same and keeps, for each column of `scd_columns`, the value
it had before its last change in ``previous_<column>``.

Several rows per key in the SELECT: the one with the greatest `updated_at` (optional config) wins,
ties broken by the values of the other columns. With `updated_at`, a row never replaces a stored
row with a later `updated_at`. Keys gone from the SELECT stay, unless ``hard_deletes: delete``.
scd3 adds no ``<column>_changed_at``: select an `updated_at` column if the time of the change
matters. ``--full-refresh`` rebuilds the table from the SELECT alone (previous values are lost).
`unique_key`, `updated_at` and `scd_columns` name columns of the SELECT (no expressions).

Both read the existing table: the model's SELECT is staged once into ``<model>__hw_staged``, and
the change (new columns, updates, inserts, optional deletes) is applied in one audited
transaction (`audited`; staged and swapped on an engine without transactional DDL): the node's
error-level checks see the changed table inside the transaction and a failure rolls everything
back. The statements (``UPDATE ... FROM``,
``INSERT ... WHERE NOT EXISTS``, ``DELETE``, ``ALTER TABLE ADD COLUMN``, the table's creation)
come from the engine (`engine.statements`, `engine.strategies`, `stateful.replace_table`), so any
engine with transactional DDL runs them in its own dialect.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from headwater.engines.base import Engine, Row, quote_identifier
from headwater.errors import ConfigError, Location, did_you_mean
from headwater.materialize.stateful import (
    BuildContext,
    BuildOutcome,
    StatefulMaterialization,
    audited,
    replace_table,
    require,
)
from headwater.project.definition import Node, Relation
from headwater.project.validate import as_list

q = quote_identifier


# -- shared helpers ---------------------------------------------------------------------------
def count(rows: list[Row]) -> int:
    """Rows changed by a DML statement, as the engine reports them (0 when it does not)."""
    if rows and rows[0] and isinstance(rows[0][0], int):
        return int(rows[0][0])
    return 0


def stage(engine: Engine, relation: Relation, select_sql: str) -> Relation:
    """Materialize ``select_sql`` once as ``<relation>__hw_staged`` (dropped by the caller; a
    killed run's leftover is dropped by the runner's next start)."""
    staged = engine.staging_relation(relation)
    engine.create_or_replace(staged, select_sql, "table")
    return staged


def discard(engine: Engine, staged: Relation) -> None:
    engine.invalidate_catalog()  # the audited transaction may have created or dropped tables
    with contextlib.suppress(Exception):  # cleanup must not hide the build's own outcome
        engine.drop(staged)


def column_map(engine: Engine, relation: Relation) -> dict[str, tuple[str, str]]:
    """lower-case name -> (name, type) of each column."""
    return {name.lower(): (name, type_) for name, type_ in engine.columns(relation)}


def add_missing_columns(
    engine: Engine, relation: Relation, wanted: list[tuple[str, str]], have: dict[str, Any]
) -> list[str]:
    """``ALTER TABLE ADD COLUMN`` for each (name, type) of ``wanted`` the table lacks (types in
    the engine's own spelling, as its catalog gives them)."""
    added = []
    for name, type_ in wanted:
        if name.lower() not in have:
            engine.strategies.add_column(relation, name, type_)
            added.append(name)
    return added


def duplicate_keys(
    engine: Engine, staged: Relation, key_sql: list[str], limit: int = 3
) -> tuple[int, list[Row]]:
    """How many key values occur more than once in ``staged``, with a few examples."""
    keys = ", ".join(key_sql)
    rows = engine.execute(
        f"SELECT {keys}, count(*) AS __hw_n FROM {staged.render()} GROUP BY {keys} HAVING count(*) > 1 "
        f"ORDER BY count(*) DESC LIMIT {limit}"
    )
    if not rows:
        return 0, []
    total = engine.execute(
        f"SELECT count(*) FROM (SELECT {keys} FROM {staged.render()} GROUP BY {keys} HAVING count(*) > 1) AS d"
    )
    return int(total[0][0]), rows


def keys_equal(engine: Engine, left: list[str], right: list[str]) -> str:
    """Unique keys match (`Functions.key_equal`: NULL-safe on DuckDB, `=` on PostgreSQL)."""
    return " AND ".join(engine.functions.key_equal(a, b) for a, b in zip(left, right, strict=True))


def fail(node: Node, message: str, hint: str) -> ConfigError:
    return ConfigError(
        f"`{node.name}` ({node.materialized}): {message}",
        location=Location(node.path, node.line),
        node=node.name,
        hint=hint,
    )


# -- SCD type 1 and 3 -----------------------------------------------------------------------------
@dataclass
class _Settings:
    keys: list[str]
    updated_at: str | None
    delete: bool
    tracked: list[str]


class SCD1Materialization(StatefulMaterialization):
    """One row per key with the latest values (type 1); ``scd3`` adds ``previous_<column>``."""

    type3 = False

    def settings(self, node: Node) -> _Settings:
        keys = require(
            node, "unique_key", "add `unique_key: id` (or a list of columns) to the model's config"
        )
        keys = [str(k).strip() for k in as_list(keys)]
        updated_at = node.config.get("updated_at")
        hard = str(node.config.get("hard_deletes") or "ignore").lower()
        if hard not in ("ignore", "delete"):
            raise fail(
                node,
                f"unknown `hard_deletes: {hard}`" + did_you_mean(hard, ("ignore", "delete")),
                "use `ignore` (default: rows of keys gone from the SELECT stay) or `delete`",
            )
        tracked: list[str] = []
        if self.type3:
            raw = require(
                node,
                "scd_columns",
                "add `scd_columns: [<column>, ...]`: the columns whose "
                "previous value is kept in `previous_<column>`",
            )
            if not isinstance(raw, list | tuple) or not all(isinstance(c, str) for c in raw):
                raise fail(
                    node,
                    f"`scd_columns` must be a list of columns, got `{raw!r}`",
                    "e.g. `scd_columns: [segment, country_code]`",
                )
            tracked = [str(c) for c in raw]
        return _Settings(keys, str(updated_at) if updated_at else None, hard == "delete", tracked)

    def build(self, ctx: BuildContext) -> BuildOutcome:
        node, engine = ctx.node, ctx.engine
        assert node.relation is not None
        s = self.settings(node)
        relation = node.relation
        staged = stage(engine, relation, node.compiled_sql or "")
        try:
            source = list(column_map(engine, staged).values())
            self._validate(node, s, {n.lower() for n, _ in source})
            self._deduplicate(engine, staged, s, source)
            kind = ctx.target_kind()
            stats: dict[str, int] = {"inserted": 0, "updated": 0, "deleted": 0}
            if kind is None or kind == "view" or ctx.full_refresh:
                outcome = audited(
                    ctx,
                    lambda: self._create(engine, ctx.relation, staged, s, source, kind, stats),
                    rebuild=True,
                )
            else:
                outcome = audited(
                    ctx, lambda: self._merge(engine, ctx.relation, staged, s, source, stats)
                )
            outcome.stats = stats
            return outcome
        finally:
            discard(engine, staged)

    def _validate(self, node: Node, s: _Settings, have: set[str]) -> None:
        named = [("unique_key", k) for k in s.keys] + [("scd_columns", c) for c in s.tracked]
        if s.updated_at:
            named.append(("updated_at", s.updated_at))
        for key, col in named:
            if col.lower() not in have:
                raise fail(
                    node,
                    f"`{key}` names `{col}`, which the model's SELECT does not return"
                    + did_you_mean(col, sorted(have)),
                    "name a column of the SELECT",
                )
        for col in s.tracked:
            if _previous(col).lower() in have:
                raise fail(
                    node,
                    f"the SELECT returns `{_previous(col)}`, the column scd3 keeps the previous "
                    f"value of `{col}` in",
                    "rename that column of the SELECT",
                )

    def _deduplicate(
        self, engine: Engine, staged: Relation, s: _Settings, source: list[tuple[str, str]]
    ) -> None:
        """Several rows per key: the one with the greatest `updated_at` wins, ties broken by the
        values of every column (deterministic)."""
        keys = [q(k) for k in s.keys]
        dups, _ = duplicate_keys(engine, staged, keys, limit=1)
        if not dups:
            return
        order = ([f"{q(s.updated_at)} DESC NULLS LAST"] if s.updated_at else []) + [
            f"{q(n)} ASC NULLS LAST" for n, _ in source
        ]
        cols = ", ".join(q(n) for n, _ in source)
        engine.create_or_replace(staged, (
            f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {', '.join(keys)} "
            f"ORDER BY {', '.join(order)}) AS __hw_rn FROM {staged.render()}) AS d WHERE __hw_rn = 1"
        ), "table")  # fmt: skip

    def _create(self, engine: Engine, relation: Relation, staged: Relation, s: _Settings,
                source: list[tuple[str, str]], kind: str | None, stats: dict[str, int]) -> int:  # fmt: skip
        extra = "".join(
            f", CAST(NULL AS {_type_of(source, c)}) AS {q(_previous(c))}" for c in s.tracked
        )
        stats["inserted"] = (
            replace_table(engine, relation, f"SELECT *{extra} FROM {staged.render()}") or 0
        )
        return stats["inserted"]

    def _merge(self, engine: Engine, relation: Relation, staged: Relation, s: _Settings, source: list[tuple[str, str]],
               stats: dict[str, int]) -> int:  # fmt: skip
        statements = engine.statements
        have = column_map(engine, relation)
        add_missing_columns(engine, relation, source, have)
        add_missing_columns(
            engine, relation, [(_previous(c), _type_of(source, c)) for c in s.tracked], have
        )
        keyset = {k.lower() for k in s.keys}
        values = [n for n, _ in source if n.lower() not in keyset]
        changed = " OR ".join(f"t.{q(n)} IS DISTINCT FROM s.{q(n)}" for n in values) or "FALSE"
        newer = f" AND NOT (s.{q(s.updated_at)} < t.{q(s.updated_at)})" if s.updated_at else ""
        sets = {n: f"s.{q(n)}" for n in values}
        for c in s.tracked:
            sets[_previous(c)] = (
                f"CASE WHEN t.{q(c)} IS DISTINCT FROM s.{q(c)} THEN t.{q(c)} ELSE t.{q(_previous(c))} END"
            )
        if sets:
            stats["updated"] = count(engine.execute(
                statements.update_from(relation, staged, sets, s.keys, predicates=f"({changed}){newer}")
            ))  # fmt: skip
        cols = [n for n, _ in source]
        stats["inserted"] = count(
            engine.execute(statements.insert_missing(relation, staged, cols, s.keys))
        )
        if s.delete:
            stats["deleted"] = count(
                engine.execute(statements.delete_unmatched(relation, staged, s.keys))
            )
        return stats["inserted"] + stats["updated"] + stats["deleted"]


class SCD3Materialization(SCD1Materialization):
    """Type 3: current values plus ``previous_<column>`` for each column of `scd_columns`."""

    type3 = True


def _previous(column: str) -> str:
    return f"previous_{column}"


def _type_of(source: list[tuple[str, str]], column: str) -> str:
    for name, type_ in source:
        if name.lower() == column.lower():
            return type_
    return "VARCHAR"


__all__ = ["SCD1Materialization", "SCD3Materialization"]
