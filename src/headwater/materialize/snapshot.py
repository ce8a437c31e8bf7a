"""Snapshots: slowly changing dimensions of type 2, as dbt builds them.

Every run stages the snapshot's SELECT once (``<snapshot>__hw_staged``, with the key and
`updated_at` evaluated as ``__hw_k<i>`` / ``__hw_ts``), checks that the key is unique there, then
applies the whole change in one audited transaction:

1. columns the SELECT gained are added to the table (older versions hold NULL);
2. hard deletes (``invalidate``: the current version of a key gone from the SELECT is closed at
   the snapshot time; ``new_record``: closed, and a deletion record with ``dbt_is_deleted =
   'True'`` is inserted);
3. the current version of each changed key is closed (``dbt_valid_to`` = the new version's
   ``dbt_valid_from``);
4. a new version is inserted for every key of the SELECT that has no current version (new keys,
   changed keys, keys that come back after a delete).

The node's error-level checks run inside the transaction; a failure (or a killed process) rolls
it back and the previous table stays as it was (an engine without transactional DDL applies the
change to a copy and swaps it in: `stateful.audited`). A second run on an unchanged SELECT
changes nothing. The first run creates the table, audited the same way.

Change detection (as dbt): ``timestamp`` — the SELECT's `updated_at` is later than the current
version's ``dbt_valid_from``; versions are stamped with `updated_at`. ``check`` — a column of
`check_cols` (or of every column, ``all``) differs, NULL-safely; versions are stamped with the
snapshot time (the run's UTC start, one value for the whole run), or with `updated_at` when set.

Engines: CREATE and INSERT come from `engine.statements`, the snapshot time from
`statements.timestamp_literal`, text conversion from `engine.functions`. Closing versions is
``UPDATE <table> SET ... FROM (<subquery>) AS x WHERE ...``, written as text because DuckDB and
PostgreSQL accept it identically (an engine without UPDATE ... FROM needs its own statement
here); the rest is ANSI (IS [NOT] DISTINCT FROM, CAST, md5, coalesce, ||).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace

from headwater.engines.base import Engine, quote_identifier
from headwater.materialize.scd import (
    add_missing_columns,
    column_map,
    count,
    discard,
    duplicate_keys,
    keys_equal,
    stage,
)
from headwater.materialize.stateful import (
    BuildContext,
    BuildFailed,
    BuildOutcome,
    StatefulMaterialization,
    audited,
)
from headwater.project.definition import Node, Relation
from headwater.project.snapshots import SnapshotSettings, is_identifier, snapshot_settings

q = quote_identifier
TS = "__hw_ts"


def _k(i: int) -> str:
    return f"__hw_k{i}"


@dataclass
class _Plan:
    """The SQL of one snapshot run."""

    node: Node
    s: SnapshotSettings
    target: Relation
    staged: Relation
    now: datetime.datetime
    engine: Engine

    def writing(self, ctx: BuildContext) -> _Plan:
        """This plan writing into `ctx.relation` (the table, or its staged copy during a staged
        apply)."""
        return replace(self, target=ctx.relation)

    # -- expressions ----------------------------------------------------------------------
    @property
    def nkeys(self) -> int:
        return len(self.s.unique_key)

    def col(self, meta: str) -> str:
        return q(self.s.columns[meta])

    def staged_select(self, sql: str) -> str:
        keys = [q(k) if is_identifier(k) else f"({k})" for k in self.s.unique_key]
        extra = [f"{k} AS {_k(i)}" for i, k in enumerate(keys)]
        if self.s.updated_at:
            ts = (
                q(self.s.updated_at)
                if is_identifier(self.s.updated_at)
                else f"({self.s.updated_at})"
            )
            extra.append(f"{ts} AS {TS}")
        return f"SELECT __hw_src.*, {', '.join(extra)}\nFROM (\n{sql.strip().rstrip(';')}\n) AS __hw_src"

    def key_exprs(self) -> list[str]:
        """The key evaluated on a row of the snapshot table (unqualified)."""
        return [q(k) if is_identifier(k) else f"({k})" for k in self.s.unique_key]

    def time(self, type_: str) -> str:
        """The snapshot time as a value of ``type_``."""
        text = self.now.strftime("%Y-%m-%d %H:%M:%S.%f")
        statements = self.engine.statements
        upper = type_.upper()
        if ("WITH TIME ZONE" in upper and "WITHOUT" not in upper) or upper == "TIMESTAMPTZ":
            return f"CAST({statements.timestamp_literal(text + '+00', with_time_zone=True)} AS {type_})"
        return f"CAST({statements.timestamp_literal(text)} AS {type_})"

    def stamp(self, alias: str, type_: str) -> str:
        """When a new version of a row of ``alias`` (the staged SELECT) starts."""
        if self.s.strategy == "timestamp" or self.s.updated_at:
            return f"CAST({alias}.{TS} AS {type_})"
        return self.time(type_)

    def valid_to_current(self, type_: str) -> str:
        return f"CAST({self.s.valid_to_current or 'NULL'} AS {type_})"

    def is_current(self, alias: str | None, type_: str) -> str:
        col = (f"{alias}." if alias else "") + self.col("dbt_valid_to")
        if self.s.valid_to_current:
            return f"({col} IS NULL OR {col} = {self.valid_to_current(type_)})"
        return f"{col} IS NULL"

    def scd_id(self, keys: list[str], stamp: str) -> str:
        to_text = self.engine.functions.to_text
        parts = [f"coalesce({to_text(k)}, '')" for k in [*keys, stamp]]
        return "md5(" + " || '|' || ".join(parts) + ")"

    @property
    def new_record(self) -> bool:
        return self.s.hard_deletes == "new_record"

    def deleted(self, alias: str | None) -> str:
        col = (f"{alias}." if alias else "") + self.col("dbt_is_deleted")
        return f"coalesce({col}, 'False') = 'True'"

    def meta_values(self, alias: str, stamp: str, type_: str) -> list[str]:
        """The values of the meta columns (`meta_names`, in order) of a new version of a row of
        ``alias``."""
        keys = [f"{alias}.{_k(i)}" for i in range(self.nkeys)]
        return [self.scd_id(keys, stamp), stamp, stamp, self.valid_to_current(type_)] + (
            ["'False'"] if self.new_record else []
        )

    def meta_select(self, alias: str, stamp: str, type_: str) -> list[str]:
        return [
            f"{value} AS {q(name)}"
            for value, name in zip(
                self.meta_values(alias, stamp, type_), self.meta_names(), strict=True
            )
        ]

    def meta_names(self) -> list[str]:
        """The meta columns a new version fills, unquoted."""
        names = ["dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"]
        return [self.s.columns[n] for n in names + (["dbt_is_deleted"] if self.new_record else [])]


class SnapshotMaterialization(StatefulMaterialization):
    """dbt's snapshot (SCD type 2) on any engine with transactions, in plain SQL."""

    def build(self, ctx: BuildContext) -> BuildOutcome:
        node, engine = ctx.node, ctx.engine
        assert node.relation is not None
        s = snapshot_settings(node)
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        plan = _Plan(node, s, node.relation, engine.staging_relation(node.relation), now, engine)
        stage(engine, node.relation, plan.staged_select(node.compiled_sql or ""))
        try:
            staged_cols = list(column_map(engine, plan.staged).values())
            source = [(n, t) for n, t in staged_cols if not n.startswith("__hw_")]
            self._check_source(engine, plan, source, staged_cols)
            kind = ctx.target_kind()
            stats: dict[str, int] = {"inserted": 0, "updated": 0, "deleted": 0}
            if kind is None:
                outcome = audited(
                    ctx,
                    lambda: self._create(engine, plan.writing(ctx), source, staged_cols, stats),
                    rebuild=True,
                )
            elif kind != "table":
                raise BuildFailed(
                    f"`{node.relation.render(quote=False)}` exists and is a {kind}, not a snapshot table",
                    node=node.name,
                    hint="drop it or give the snapshot another name, alias or schema",
                )
            else:
                outcome = audited(
                    ctx, lambda: self._apply(engine, plan.writing(ctx), source, stats)
                )
            outcome.stats = stats
        finally:
            discard(engine, plan.staged)
        if outcome.published and not outcome.message:
            outcome.message = "" if outcome.rows else "no changes"
        return outcome

    # -- checks before anything changes ---------------------------------------------------------
    def _check_source(
        self,
        engine: Engine,
        plan: _Plan,
        source: list[tuple[str, str]],
        staged_cols: list[tuple[str, str]],
    ) -> None:
        node, s = plan.node, plan.s
        names = {n.lower() for n, _ in source}
        clash = [c for c in s.columns.values() if c.lower() in names]
        if clash:
            raise BuildFailed(
                f"the snapshot's SELECT returns `{clash[0]}`, a column the snapshot adds itself",
                node=node.name,
                hint="leave it out of the SELECT, or rename the meta columns with `snapshot_meta_column_names`",
            )
        if s.strategy == "check" and s.check_cols != "all":
            missing = [c for c in s.check_cols if c.lower() not in names]
            if missing:
                from headwater.errors import did_you_mean

                raise BuildFailed(
                    f"`check_cols` names `{missing[0]}`, which the snapshot's SELECT does not return"
                    + did_you_mean(missing[0], sorted(names)),
                    node=node.name,
                    hint="fix `check_cols` or add the column to the SELECT",
                )
        dups, examples = duplicate_keys(engine, plan.staged, [_k(i) for i in range(plan.nkeys)])
        if dups:
            shown = ", ".join(
                "(" + ", ".join(repr(v) for v in row[:-1]) + f") x{row[-1]}"
                if plan.nkeys > 1
                else f"{row[0]!r} x{row[-1]}"
                for row in examples
            )
            raise BuildFailed(
                f"`unique_key` ({', '.join(s.unique_key)}) is not unique in the snapshot's SELECT: "
                f"{dups:,} values occur more than once, e.g. {shown}; the snapshot was not changed",
                node=node.name,
                hint="deduplicate the SELECT (e.g. `qualify row_number() over (partition by <key> "
                "order by <updated_at> desc) = 1`) or choose a unique key",
            )

    # -- first run -------------------------------------------------------------------------------
    def _create(self, engine: Engine, plan: _Plan, source: list[tuple[str, str]],
                staged_cols: list[tuple[str, str]], stats: dict[str, int]) -> int:  # fmt: skip
        types = dict(staged_cols)
        type_ = types[TS] if (plan.s.strategy == "timestamp" or plan.s.updated_at) else "TIMESTAMP"
        cols = [f"s.{q(n)}" for n, _ in source]
        meta = plan.meta_select("s", plan.stamp("s", type_), type_)
        select = f"SELECT {', '.join(cols + meta)} FROM {plan.staged.render()} AS s"
        stats["inserted"] = count(
            engine.execute(engine.statements.create_as(plan.target, select, "table"))
        )
        engine._remember(plan.target, "table")
        return stats["inserted"]

    # -- later runs ------------------------------------------------------------------------------
    def _apply(
        self, engine: Engine, plan: _Plan, source: list[tuple[str, str]], stats: dict[str, int]
    ) -> int:
        """Apply the change; ``stats`` gets the rows inserted (new versions, deletion records) and
        updated (versions closed); a snapshot never deletes rows."""
        s, target, staged = plan.s, plan.target.render(), plan.staged.render()
        have = column_map(engine, plan.target)
        for meta in ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"):
            if s.columns[meta].lower() not in have:
                raise BuildFailed(
                    f"`{(plan.node.relation or plan.target).render(quote=False)}` has no column `{s.columns[meta]}`: it was not built "
                    "by this snapshot, or with other `snapshot_meta_column_names`",
                    node=plan.node.name,
                    hint="set `snapshot_meta_column_names` to the table's names, or snapshot into a new table",
                )
        type_ = have[s.columns["dbt_valid_from"].lower()][1]
        add_missing_columns(engine, plan.target, source, have)
        if plan.new_record:
            add_missing_columns(
                engine, plan.target, [(s.columns["dbt_is_deleted"], "VARCHAR")], have
            )
        have = column_map(engine, plan.target)
        meta_columns = {c.lower() for c in s.columns.values()}
        data_cols = [name for name, _ in have.values() if name.lower() not in meta_columns]

        keys = plan.key_exprs()
        kcols = [_k(i) for i in range(plan.nkeys)]
        current = (
            f"(SELECT *, {', '.join(f'{k} AS {c}' for k, c in zip(keys, kcols, strict=True))} FROM {target} "
            f"WHERE {plan.is_current(None, type_)})"
        )
        on = keys_equal(engine, [f"t.{c}" for c in kcols], [f"s.{c}" for c in kcols])
        gone = f"NOT EXISTS (SELECT 1 FROM {staged} AS s WHERE {on})"
        live = f"NOT {plan.deleted('t')}" if plan.new_record else "TRUE"
        match_target = keys_equal(engine, keys, [f"x.{c}" for c in kcols])

        # hard deletes: keys whose current (live) version is gone from the SELECT
        if s.hard_deletes in ("invalidate", "new_record"):
            now = plan.time(type_)
            if plan.new_record:
                cols = [
                    *data_cols,
                    *(
                        s.columns[m]
                        for m in (
                            "dbt_scd_id",
                            "dbt_updated_at",
                            "dbt_valid_from",
                            "dbt_valid_to",
                            "dbt_is_deleted",
                        )
                    ),
                ]
                values = [f"s.{q(c)}" for c in data_cols] + [
                    plan.scd_id([f"s.{c}" for c in kcols], now),
                    now,
                    now,
                    plan.valid_to_current(type_),
                    "'True'",
                ]
                # the deleted keys' current versions (read as `s` by the INSERT)
                deleted = f"SELECT t.* FROM {current} AS t WHERE {live} AND {gone}"
                stats["inserted"] += count(engine.execute(
                    engine.statements.insert_select(plan.target, cols, deleted, values=values)
                ))  # fmt: skip
            stats["updated"] += count(engine.execute(
                f"UPDATE {target} SET {plan.col('dbt_valid_to')} = {now} "
                f"FROM (SELECT {', '.join(f't.{c}' for c in kcols)} FROM {current} AS t WHERE {live} AND {gone}) AS x "
                f"WHERE {match_target} AND {plan.is_current(None, type_)}"
                + (f" AND NOT {plan.deleted(None)}" if plan.new_record else "")
            ))  # fmt: skip

        # changed keys: close the current version at the new version's start
        if s.strategy == "timestamp":
            changed = f"t.{plan.col('dbt_valid_from')} < s.{TS}"
        else:
            check = [n for n, _ in source] if s.check_cols == "all" else list(s.check_cols)
            changed = " OR ".join(f"t.{q(c)} IS DISTINCT FROM s.{q(c)}" for c in check) or "FALSE"
        if plan.new_record:
            changed = f"({changed}) OR {plan.deleted('t')}"
        stats["updated"] += count(engine.execute(
            f"UPDATE {target} SET {plan.col('dbt_valid_to')} = x.__hw_to "
            f"FROM (SELECT {', '.join(f's.{c}' for c in kcols)}, {plan.stamp('s', type_)} AS __hw_to "
            f"FROM {staged} AS s JOIN {current} AS t ON {on} WHERE {changed}) AS x "
            f"WHERE {match_target} AND {plan.is_current(None, type_)}"
        ))  # fmt: skip

        # new versions: every key of the SELECT without a current version
        cols = [n for n, _ in source] + plan.meta_names()
        values = [f"s.{q(n)}" for n, _ in source] + plan.meta_values(
            "s", plan.stamp("s", type_), type_
        )
        stats["inserted"] += count(engine.execute(engine.statements.insert_select(
            plan.target, cols, plan.staged, where=f"NOT EXISTS (SELECT 1 FROM {current} AS t WHERE {on})", values=values,
        )))  # fmt: skip
        return stats["inserted"] + stats["updated"]


__all__ = ["SnapshotMaterialization"]
