"""The schema side of the loader: a batch's columns against the target table's, per the
source's `schema_contract` (`evolve`: add columns and widen types; `freeze`: fail with the diff;
`discard_row`: reject rows that carry values in unknown columns; `discard_value`: drop unknown
columns), every change recorded in `_headwater.schema_changes`; and the rows to reject, as SQL
predicates with their reasons (`BadRows`: a value that does not convert to its column's type, a
value in a column the contract discards).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from headwater.engines.base import Engine, quote_identifier, quote_literal
from headwater.errors import ExecutionError
from headwater.extract.base import Batch, Rescan
from headwater.extract.clip import clipped_sql
from headwater.extract.load_state import _state
from headwater.project.definition import Relation

META = ("_hw_loaded_at", "_hw_batch_id", "_hw_source_file")
"""The columns the loader adds to every row."""


def _q(name: str) -> str:
    return quote_identifier(name)


@dataclass
class BadRows:
    """The rows of a batch to reject: SQL predicates over the batch, each with the SQL of its reason."""

    parts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, predicate: str, reason: str) -> None:
        self.parts.append((predicate, reason))

    @property
    def predicate(self) -> str | None:
        return " OR ".join(p for p, _ in self.parts) or None

    @property
    def reason(self) -> str:
        return (
            "concat_ws('; ', "
            + ", ".join(f"CASE WHEN {p} THEN {r} END" for p, r in self.parts)
            + ")"
        )


class SchemaReconciler:
    """Reconciles the batches of one load with its target table (see the module docstring)."""

    def __init__(self, engine: Engine, key: str, contract: str, changes: list[str]) -> None:
        self.engine = engine
        self.key = key
        self.contract = contract
        self.changes = changes
        """The load's list of schema changes (short forms), appended to."""

    def reconcile(
        self,
        target: Relation,
        incoming: list[tuple[str, str]],
        view: Relation,
        batch_id: str,
        batch: Batch,
    ) -> tuple[list[str], list[str], BadRows]:
        """Columns to insert, the SELECT expressions for them, and the rows to reject (and why)."""
        engine = self.engine
        fn = engine.functions
        have = {n.lower(): (n, t) for n, t in self._ensure_target(target, incoming, view, batch_id)}
        for name, dtype in [(n, t) for n, t in incoming if n.lower() not in have and n in META]:
            # e.g. the first batch that comes from a file
            engine.strategies.add_column(target, name, dtype)
            have[name.lower()] = (name, dtype)
        bad = self._evolve(target, incoming, have, batch_id)
        targets = {n.lower(): (n, t) for n, t in engine.columns(target)}
        columns, select, casts = [], [], {}
        for name, source_type in incoming:
            if name.lower() not in targets:
                continue
            tname, ttype = targets[name.lower()]
            columns.append(tname)
            # named as the table's column: a merge selects the rows' columns by those names
            if _same_type(source_type, ttype):
                select.append(_q(name) if name == tname else f"{_q(name)} AS {_q(tname)}")
                continue
            select.append(f"{fn.safe_cast(_q(name), ttype)} AS {_q(tname)}")
            if name not in META:
                casts[name] = ttype
        if (
            casts and batch.hooks is not None
        ):  # the reader itself can read them as the table's types
            again = batch.hooks.retype(casts)
            if again is not None:
                raise Rescan(again)
        for name, ttype in casts.items():
            value = clipped_sql(fn.to_text(_q(name)), functions=fn)
            bad.add(f"({_q(name)} IS NOT NULL AND {fn.safe_cast(_q(name), ttype)} IS NULL)",
                    f"{quote_literal(f'column `{name}`: cannot convert ')} || {value} || {quote_literal(f' to {ttype}')}")  # fmt: skip
        return columns, select, bad

    def _ensure_target(
        self, target: Relation, incoming: list[tuple[str, str]], view: Relation, batch_id: str
    ) -> list[tuple[str, str]]:
        """The target table's columns, creating it like the batch when it does not exist yet."""
        engine = self.engine
        existing = engine.columns(target)
        if existing:
            return existing
        cols = ", ".join(_q(n) for n, _ in incoming)
        engine.execute(
            engine.statements.create_as(target, f"SELECT {cols} FROM {view.render()} LIMIT 0")
        )
        engine._remember(target, "table")
        described = ", ".join(f"{n} {t}" for n, t in incoming if n not in META)
        self.record_change(f"created with {len(incoming) - sum(n in META for n, _ in incoming)} columns: {described}",
                            batch_id, short="created")  # fmt: skip
        return list(incoming)

    def _evolve(
        self,
        target: Relation,
        incoming: list[tuple[str, str]],
        have: dict[str, tuple[str, str]],
        batch_id: str,
    ) -> BadRows:
        """Apply the schema contract to new and changed columns (``have`` is updated with widened
        types); the rows the contract rejects."""
        engine = self.engine
        bad = BadRows()
        new = [(n, t) for n, t in incoming if n.lower() not in have]
        changed = [  # headwater's own columns are cast to the table's types (e.g. a VARCHAR batch id of an older load)
            (n, have[n.lower()][1], t) for n, t in incoming
            if n.lower() in have and not _same_type(t, have[n.lower()][1]) and n not in META
        ]  # fmt: skip
        if not new and not changed:
            return bad
        diff = [f"+{n} {t}" for n, t in new] + [f"{n}: {a} -> {b}" for n, a, b in changed]
        if self.contract == "freeze":
            raise ExecutionError(
                f"the schema of source `{self.key}` changed and its schema_contract is `freeze`: "
                + ", ".join(diff),
                node=self.key,
                hint="set schema_contract: evolve to accept new columns, or fix the source",
            )
        keep_new = self.contract not in ("discard_row", "discard_value")
        if self.contract == "discard_row":
            for n, _ in new:
                bad.add(
                    f"{_q(n)} IS NOT NULL",
                    quote_literal(
                        f"column `{n}` is not in the table (schema_contract: discard_row)"
                    ),
                )
        for name, dtype in new if keep_new else []:
            engine.strategies.add_column(target, name, dtype)
            self.record_change(f"added {name} {dtype}", batch_id)
        for name, old, dtype in changed:
            wider = _wider(old, dtype)
            if self.contract == "evolve" and wider and wider != old:
                engine.strategies.alter_column_type(target, name, wider)
                self.record_change(f"widened {name} {old} -> {wider}", batch_id)
                have[name.lower()] = (have[name.lower()][0], wider)
        if not keep_new and new:
            self.record_change(
                f"{self.contract}: ignored new columns {', '.join(n for n, _ in new)}", batch_id
            )
        return bad

    def record_change(self, change: str, batch_id: str, short: str | None = None) -> None:
        self.changes.append(short or change)
        self.engine.execute(
            f"INSERT INTO {_state(self.engine, 'schema_changes')} VALUES (?, ?, ?, {self.engine.functions.now_timestamp()})",
            [self.key, change, batch_id],
        )


_ORDER = ["BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE"]
_SPELLINGS = {
    "BOOL": "BOOLEAN", "INT1": "TINYINT", "INT2": "SMALLINT", "INT4": "INTEGER", "INT": "INTEGER", "INT8": "BIGINT",
    "REAL": "FLOAT", "FLOAT4": "FLOAT", "FLOAT8": "DOUBLE", "DOUBLE PRECISION": "DOUBLE",
}  # fmt: skip
"""PostgreSQL's (and DuckDB's alias) spellings of the types of `_ORDER`."""


def _canonical(type_name: str) -> str:
    upper = type_name.strip().upper()
    return _SPELLINGS.get(upper, upper)


def _wider(old: str, new: str) -> str | None:
    """A type both fit in, when widening is lossless (ints and floats; a date into a timestamp),
    spelled as the engine spelled it."""
    old_u, new_u = _canonical(old), _canonical(new)
    if old_u in _ORDER and new_u in _ORDER:
        return old if _ORDER.index(old_u) >= _ORDER.index(new_u) else new
    if old_u == "DATE" and new_u.startswith("TIMESTAMP"):
        return new
    # text into a numeric column is not widened: values that do not convert are rejected instead
    return None


def _same_type(incoming: str, column: str) -> bool:
    """True when a batch's column needs no conversion into the table's. PostgreSQL describes a
    query's columns without their modifiers (`numeric`, not `numeric(12,2)`): a type without one
    matches the column's type with one, and the insert converts the values."""
    if incoming == column:
        return True
    return (
        "(" not in incoming and column.split("(", 1)[0].strip().lower() == incoming.strip().lower()
    )
