"""Event-time windows of a stream: tumbling, hopping and session windows over a watermark.

A stream's ``windows:`` entries aggregate its events per event-time window and ``group_by`` key
(the user's ``select``, e.g. ``count(*) as orders, sum(amount) as revenue``) into an output table.
The stream processor calls `WindowOperator.process` once per micro-batch, inside the ONE warehouse
transaction that also writes the sink rows and the offsets. Everything the operator remembers lives
in warehouse tables changed in that transaction, never in Python memory: a crash before the commit
loses nothing (the batch is read again) and a crash after it emits nothing twice.

Semantics (what Flink and Spark Structured Streaming users expect)
------------------------------------------------------------------
* **Watermark**: the largest event time seen so far minus the stream's ``watermark:`` delay,
  computed by the processor (`advance_watermark`); ``process`` gets its value before the batch
  (None: none yet) and after it. Naive datetimes are UTC, like TIMESTAMP event times.
* **Windows** are aligned to the epoch. Tumbling: ``[k*size, (k+1)*size)``. Hopping: windows of
  ``size`` starting every ``hop``; an event is in every window that contains it. Session: per
  ``group_by`` key, an event at ``t`` opens or extends a session to ``t + gap``; two sessions merge
  when one starts strictly before the other's ``last event + gap`` (events exactly ``gap`` apart
  are two sessions, as in Spark). A session window is ``[first event, last event + gap)``.
* **Closing**: a window closes when the watermark reaches its end. ``emit: on_close`` appends
  each window to the output exactly once, when it closes, and its events leave the state.
  ``emit: on_update`` upserts (by window_start, window_end and group_by) the current aggregate of
  every window each batch touched; the row is final when the window closes.
* **Late events** (``late:``), ``L`` = the window's ``allowed_lateness`` (default 0):

  - ``drop`` / ``side_output``: a window waits ``L`` past its end before it closes (so
    ``on_close`` still emits it once, with every event up to ``L`` late). An event whose windows
    have all closed under the watermark before its batch is late: dropped and counted, or written
    to the late table (`late_output`: the batch's columns, the window it missed and
    ``_hw_late_at``).
  - ``update``: windows close (and ``on_close`` emits them) when the watermark passes their end,
    but their events stay in the state until it passes ``end + L``; ``L`` defaults to
    **1 hour** when ``allowed_lateness`` is 0 (`UPDATE_DEFAULT_LATENESS`). A late event within
    that re-computes its window and replaces the output row (one row per window); later ones go
    to the late table.

  A session that a late event (within lateness) merges with a younger session that is still
  open has its emitted row retracted: the merged session is written when it closes (``on_close``)
  or now (``on_update``). An event with a NULL event time belongs to no window: it is late.
* **Exact aggregates**: the state keeps the events themselves (one row per event and window it
  is in), not partial sums, so any aggregate (count distinct, avg, percentiles, ...) is exact.

State and cost
--------------
The state table holds the batch's columns plus ``_hw_key`` (the group_by values as one text,
NULL included: a plain equality matches windows, which PostgreSQL can hash where it cannot
hash IS NOT DISTINCT FROM; keys are therefore told apart by their text, so ``1.0`` and ``1.00``
of an unconstrained NUMERIC are two groups), ``_hw_t`` (event time, microseconds since the epoch),
``_hw_ws`` and ``_hw_we`` (the window's bounds, microseconds): integer arithmetic on microseconds
makes window assignment exact on every engine. A hopping window stores an event once per window
it is in (``ceil(size / hop)`` rows, at most `MAX_WINDOWS_PER_EVENT`). Per batch: one INSERT of
the batch's events into the state (sessions: plus one UPDATE re-computing the sessions of the
keys the batch has), one statement for late events, the output write (append-only: one INSERT
... SELECT of the windows that closed; otherwise a DELETE of the rows replaced and an INSERT of
the windows written, sessions one count more), one DELETE of the windows that left the state,
and one count of open windows. No statement is issued per window; the state holds only windows
not yet final. The rows a batch may replace are found by ``window_end`` past the watermark
minus the lateness (an index on PostgreSQL; DuckDB's zone maps), so the growing output table is
not scanned. Windows are not safe for several processes writing the same state at once: the
processor must serialize them (one process, or a lock in the transaction).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_identifier, quote_literal
from headwater.errors import ConfigError, SQLExecutionError, did_you_mean
from headwater.project.definition import Relation
from headwater.streams.window_spec import (
    _US,
    EMIT_MODES,
    LATE_POLICIES,
    MAX_WINDOWS_PER_EVENT,
    RESERVED_PREFIX,
    UPDATE_DEFAULT_LATENESS,
    WINDOW_KEYS,
    WINDOW_TYPES,
    WindowSpec,
    WindowStats,
    _micros,
    advance_watermark,
    as_utc_naive,
    parse_late,
    parse_watermark,
    parse_window,
    parse_windows,
)

if TYPE_CHECKING:
    from headwater.engines.base import Engine

__all__ = [
    "EMIT_MODES",
    "LATE_POLICIES",
    "MAX_WINDOWS_PER_EVENT",
    "UPDATE_DEFAULT_LATENESS",
    "WINDOW_KEYS",
    "WINDOW_TYPES",
    "WindowOperator",
    "WindowSpec",
    "WindowStats",
    "advance_watermark",
    "parse_late",
    "parse_watermark",
    "parse_window",
    "parse_windows",
]

LATE_COLUMNS = (
    ("_hw_window", "VARCHAR"),
    ("_hw_window_start", "TIMESTAMP"),
    ("_hw_window_end", "TIMESTAMP"),
    ("_hw_late_at", "TIMESTAMP"),
)
"""What the late table adds to the batch's columns: the window (its name and the bounds of the
latest window the event would have been in) and when it was found late (UTC)."""
STATE_COLUMNS = (
    ("_hw_key", "VARCHAR"),
    ("_hw_t", "BIGINT"),
    ("_hw_ws", "BIGINT"),
    ("_hw_we", "BIGINT"),
)
"""What the state table adds to the batch's columns: the group key as text (`_group_key`), the
event time and the window bounds in microseconds since the epoch."""

_QUERY_START = re.compile(r"(select|with|values|from|table)\b", re.IGNORECASE)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# aliases of the operator's statements (quoted: they never clash with a user's column)
_B, _E, _A, _G, _R = '"_hw_b"', '"_hw_e"', '"_hw_a"', '"_hw_g"', '"_hw_r"'
_S, _X, _O, _L = '"_hw_s"', '"_hw_x"', '"_hw_o"', '"_hw_l"'


def _c(alias: str, name: str) -> str:
    """``alias."name"``."""
    return f"{alias}.{quote_identifier(name)}"


# -- the operator ------------------------------------------------------------------------------


def _instant_micros(value: dt.datetime) -> int:
    """Microseconds since the epoch of ``value`` (naive = UTC, like TIMESTAMP event times)."""
    return (as_utc_naive(value).replace(tzinfo=dt.UTC) - _EPOCH) // _US


def _timestamp_text(micros: int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=micros)).strftime("%Y-%m-%d %H:%M:%S.%f")


class WindowOperator:
    """The windows of one ``windows:`` entry, kept in warehouse tables (see the module doc).

    ``output`` gets the window rows, ``state`` keeps the events of windows not final yet, and
    ``late_output`` the late events (``late: side_output`` or ``update``). The caller holds the
    transaction: `ensure` and `process` run inside it and never commit. The object keeps only
    configuration (and the column lists `ensure` read), so it survives a rolled-back batch.
    """

    def __init__(
        self,
        engine: Engine,
        spec: WindowSpec,
        *,
        stream: str,
        event_time: str,
        late: str,
        output: Relation,
        state: Relation,
        late_output: Relation,
    ) -> None:
        if late not in LATE_POLICIES:
            raise ConfigError(
                f"stream `{stream}`: `late: {late}` is not a late-data policy"
                + did_you_mean(late, LATE_POLICIES),
                hint="write `late: drop`, `late: side_output` or `late: update`",
            )
        self.engine = engine
        self.spec = spec
        self.stream = stream
        self.event_time = event_time
        self.late = late
        self.output = output
        self.state = state
        self.late_output = late_output
        lateness = _micros(spec.allowed_lateness)
        self.retain: int
        """How long past its end a window's events stay in the state (microseconds)."""
        self.close_after: int
        """How long past its end a window closes (microseconds)."""
        if late == "update":
            self.retain = lateness or _micros(UPDATE_DEFAULT_LATENESS)
            self.close_after = 0
        else:
            self.retain = self.close_after = lateness
        self.size = _micros(spec.size) if spec.size else 0
        self.hop = _micros(spec.hop) if spec.hop else self.size
        self.gap = _micros(spec.gap) if spec.gap else 0
        self.keys = [quote_identifier(c) for c in spec.group_by]
        self._columns: list[str] | None = None
        self._output_names: list[str] | None = None

    # -- small SQL pieces ------------------------------------------------------------------------
    @property
    def append_only(self) -> bool:
        """on_close without late updates: the output is only ever appended to."""
        return self.spec.emit == "on_close" and self.late != "update"

    def _where(self) -> str:
        return f"stream `{self.stream}`, window `{self.spec.name}`"

    def _ts(self, micros_sql: str) -> str:
        """A TIMESTAMP (UTC) from microseconds since the epoch, exactly (DuckDB's interval
        arithmetic takes 32-bit multipliers only, hence its own function)."""
        if self.engine.DIALECT == "duckdb":
            return f"make_timestamp({micros_sql})"
        return f"(TIMESTAMP '1970-01-01 00:00:00' + ({micros_sql}) * INTERVAL '1 microsecond')"

    @staticmethod
    def _ts_literal(micros: int) -> str:
        return f"CAST({quote_literal(_timestamp_text(micros))} AS TIMESTAMP)"

    def _group_key(self, alias: str) -> str:
        """The group_by values of ``alias`` as one non-NULL text (`_hw_key`): NULL is a value of
        its own and each part carries its length, so equal keys have equal texts and different
        ones different texts. Matching windows on it is a plain, hashable equality on every
        engine (IS NOT DISTINCT FROM is not: PostgreSQL would loop over every pair)."""
        if not self.keys:
            return "''"
        parts = []
        for key in self.keys:
            text = f"CAST({alias}.{key} AS VARCHAR)"
            if len(self.keys) == 1:
                parts.append(f"coalesce('v' || {text}, 'n')")
            else:
                parts.append(
                    f"coalesce('v' || CAST(length({text}) AS VARCHAR) || ':' || {text}, 'n')"
                )
        return " || ".join(parts)

    @staticmethod
    def _batch_relation(batch: str) -> str:
        """``batch`` usable after FROM: a query is parenthesized, a relation name kept."""
        text = batch.strip().rstrip(";").strip()
        return f"({text})" if _QUERY_START.match(text) else text

    def _events(self, batch: str) -> str:
        """The batch's rows with their group key ``_hw_key`` and ``_hw_t``, their event time in
        microseconds."""
        assert self._columns is not None
        cols = ", ".join(_c(_B, c) for c in self._columns)
        t = self.engine.functions.epoch_us(_c(_B, self.event_time))
        return (
            f'(SELECT {cols}, {self._group_key(_B)} AS "_hw_key", {t} AS "_hw_t" '
            f"FROM {self._batch_relation(batch)} AS {_B})"
        )

    def _latest_start(self, t: str) -> str:
        """The start of the latest (tumbling or hopping) window holding an event at ``t``:
        integer modulo, floored for times before the epoch too."""
        h = self.hop
        return f"({t} - ((({t} % {h}) + {h}) % {h}))"

    def _assigned(self, batch: str, before: int | None) -> str:
        """Tumbling and hopping: one row per (event, window) of the batch, for the windows that
        still take events under the watermark ``before``, with the state's columns."""
        assert self._columns is not None
        per_event = self.spec.windows_per_event
        start = self._latest_start(_c(_E, "_hw_t"))
        if per_event == 1:
            starts = f'SELECT {_E}.*, {start} AS "_hw_ws" FROM {self._events(batch)} AS {_E}'
        else:
            starts = (
                f'SELECT {_E}.*, {start} - {_c(_G, "_hw_i")} * {self.hop} AS "_hw_ws" '
                f"FROM {self._events(batch)} AS {_E} "
                f'CROSS JOIN generate_series(0, {per_event - 1}) AS {_G}("_hw_i")'
            )
        starts += f" WHERE {_c(_E, '_hw_t')} IS NOT NULL"
        conditions = []
        if per_event > 1:
            conditions.append(f"{_c(_A, '_hw_ws')} + {self.size} > {_c(_A, '_hw_t')}")
        if before is not None:
            conditions.append(f"{_c(_A, '_hw_ws')} + {self.size + self.retain} > ({before})")
        cols = ", ".join(_c(_A, c) for c in (*self._columns, "_hw_key", "_hw_t", "_hw_ws"))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (
            f'(SELECT {cols}, {_c(_A, "_hw_ws")} + {self.size} AS "_hw_we" '
            f"FROM ({starts}) AS {_A}{where})"
        )

    def _touched(self, batch: str, before: int | None) -> str:
        """The windows (_hw_key, _hw_ws, _hw_we) this batch put events in, not final."""
        if self.spec.type == "session":
            live = (
                f"{_c(_S, '_hw_we')} + {self.retain} > ({before}) AND "
                if before is not None
                else ""
            )
            return (
                f"(SELECT DISTINCT {_c(_S, '_hw_key')}, {_c(_S, '_hw_ws')}, {_c(_S, '_hw_we')} "
                f"FROM {self.state} AS {_S} WHERE {live}({_c(_S, '_hw_key')}, {_c(_S, '_hw_t')}) "
                f"IN (SELECT {_c(_E, '_hw_key')}, {_c(_E, '_hw_t')} FROM {self._events(batch)} "
                f"AS {_E}))"
            )
        return (
            f"(SELECT DISTINCT {_c(_X, '_hw_key')}, {_c(_X, '_hw_ws')}, {_c(_X, '_hw_we')} "
            f"FROM {self._assigned(batch, before)} AS {_X})"
        )

    def _in_touched(self, alias: str, batch: str, before: int | None) -> str:
        """``alias``'s window is one the batch touched (an uncorrelated IN: hashed once)."""
        return (
            f"({_c(alias, '_hw_key')}, {_c(alias, '_hw_ws')}, {_c(alias, '_hw_we')}) IN "
            f"(SELECT * FROM {self._touched(batch, before)} AS {_X})"
        )

    def _output_select(self, where: str = "") -> str:
        """The window rows of the state: bounds, keys, the user's aggregates."""
        keys = "".join(f", {_S}.{k}" for k in self.keys)
        return (
            f'SELECT {self._ts(_c(_S, "_hw_ws"))} AS "window_start", '
            f'{self._ts(_c(_S, "_hw_we"))} AS "window_end"{keys}, {self.spec.select} '
            f"FROM {self.state} AS {_S}{where} "
            f"GROUP BY {_c(_S, '_hw_key')}, {_c(_S, '_hw_ws')}, {_c(_S, '_hw_we')}{keys}"
        )

    # -- tables ------------------------------------------------------------------------------------
    def ensure(self, columns: list[tuple[str, str]]) -> None:
        """Create what is missing (inside the caller's transaction): the state table (the batch's
        columns and the window bounds), the output table (typed by the window query) and, when
        late events are kept, the late table; add the columns the batch gained since. Costs one
        catalog query when everything exists (a rolled-back batch may have taken the tables
        with it, so it is asked every time)."""
        names = [c for c, _ in columns]
        lowered = {c.lower() for c in names}
        if self.event_time.lower() not in lowered:
            raise ConfigError(
                f"{self._where()}: the event time column `{self.event_time}` is not in the batch "
                f"(columns: {', '.join(names)})",
                hint="set `event_time:` to one of the stream's columns (after `transform:`)",
            )
        for column in self.spec.group_by:
            if column.lower() not in lowered:
                raise ConfigError(
                    f"{self._where()}: `group_by` names `{column}`, which is not a column of the "
                    f"batch (columns: {', '.join(names)})" + did_you_mean(column, names),
                    hint="group by columns of the stream's schema (or of its `transform:`)",
                )
        reserved = [c for c in names if c.lower().startswith(RESERVED_PREFIX)]
        if reserved:
            raise ConfigError(
                f"{self._where()}: the batch has columns starting with `{RESERVED_PREFIX}` "
                f"({', '.join(reserved)}), which the window state uses itself",
                hint="rename them in the stream's `transform:`",
            )
        relations = [self.state, self.output]
        if self.late != "drop":
            relations.append(self.late_output)
        for schema in sorted({r.schema for r in relations if r.schema}):
            self.engine.ensure_schema(schema)
        existing = self.engine.columns_of(relations)
        created = False
        tables: list[tuple[Relation, tuple[tuple[str, str], ...]]] = [(self.state, STATE_COLUMNS)]
        if self.late != "drop":
            tables.append((self.late_output, LATE_COLUMNS))
        for relation, extra in tables:
            have = existing.get(_key(relation))
            if have is None:
                self.engine.execute(self._create_table(relation, [*columns, *extra]))
                created = True
                continue
            have_names = {c.lower() for c, _ in have}
            for name, type_name in columns:
                if name.lower() not in have_names:
                    self.engine.execute(
                        self.engine.statements.add_column(relation, name, type_name)
                    )
        self._columns = names
        if self._output_names is None:
            try:
                found = self.engine.query_columns(self._output_select())
            except SQLExecutionError as exc:
                raise ConfigError(
                    f"{self._where()}: `select: {self.spec.select}` does not run over the "
                    f"stream's events: {exc.message}",
                    hint="write aggregates of the stream's columns, each with a name: "
                    '`select: "count(*) as orders, sum(amount) as revenue"`',
                ) from None
            self._output_names = [name for name, _ in found]
        have_output = existing.get(_key(self.output))
        if have_output is None:
            self.engine.execute(
                f"CREATE TABLE IF NOT EXISTS {self.output} AS {self._output_select()} LIMIT 0"
            )
            if not self.append_only and self.engine.DIALECT != "duckdb":
                # rows are replaced by window: find the recent ones without scanning them all
                # (DuckDB's zone maps do that by themselves)
                index = quote_identifier(_index_name(self.output.identifier))
                self.engine.execute(
                    f'CREATE INDEX IF NOT EXISTS {index} ON {self.output} ("window_end")'
                )
            created = True
        else:
            have_names = {c.lower() for c, _ in have_output}
            missing = [n for n in self._output_names if n.lower() not in have_names]
            if missing:
                raise ConfigError(
                    f"{self._where()}: the output table {self.output} has no column "
                    + ", ".join(f"`{m}`" for m in missing)
                    + " (the window's `select` or `group_by` changed since it was created)",
                    hint=f"drop {self.output} and {self.state} to rebuild the window from new "
                    "events, or give the window a new name",
                )
        if created:
            self.engine.invalidate_catalog()

    def _create_table(self, relation: Relation, columns: Sequence[tuple[str, str]]) -> str:
        sql = self.engine.statements.create_table(relation, columns)
        return re.sub(r"^\s*CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", sql, count=1)

    # -- one micro-batch -----------------------------------------------------------------------------
    def process(
        self,
        batch: str,
        watermark_before: dt.datetime | None,
        watermark_after: dt.datetime | None,
    ) -> WindowStats:
        """Apply one micro-batch (``batch``: SQL of a relation readable now, in the caller's
        transaction): put its events in their windows, handle the late ones, write the windows
        that closed (on_close) or that it touched (on_update), and drop the windows that became
        final from the state."""
        if self._columns is None or self._output_names is None:
            self.ensure(
                self.engine.query_columns(f"SELECT * FROM {self._batch_relation(batch)} AS b")
            )
        before = None if watermark_before is None else _instant_micros(watermark_before)
        after = None if watermark_after is None else _instant_micros(watermark_after)
        if before is not None and (after is None or after < before):
            after = before  # a watermark never goes back
        stats = WindowStats()
        if self.spec.type == "session":
            self._add_sessions(batch)
        else:
            self.engine.execute(self._insert_state(self._assigned(batch, before)))
        stats.late = self._late(batch, before)
        stats.dropped = stats.late if self.late == "drop" else 0
        self._emit(batch, before, after, stats)
        if after is not None:
            self.engine.execute(
                f'DELETE FROM {self.state} WHERE "_hw_we" + {self.retain} <= ({after})'
            )
        still_open = (
            f' WHERE "_hw_we" + {self.close_after} > ({after})' if after is not None else ""
        )
        rows = self.engine.execute(
            f'SELECT count(*) FROM (SELECT DISTINCT "_hw_key", "_hw_ws", "_hw_we" '
            f'FROM {self.state}{still_open}) AS "_hw_w"'
        )
        stats.open_windows = int(rows[0][0]) if rows else 0
        return stats

    def _insert_state(self, rows_sql: str) -> str:
        assert self._columns is not None
        cols = ", ".join(quote_identifier(c) for c in self._columns)
        return (
            f'INSERT INTO {self.state} ({cols}, "_hw_key", "_hw_t", "_hw_ws", "_hw_we") '
            f"SELECT * FROM {rows_sql} AS {_R}"
        )

    def _add_sessions(self, batch: str) -> None:
        """Insert the batch's events as one-event sessions, then re-compute the sessions of the
        keys the batch has (gaps and islands over their events) and move every event whose
        session changed to its new bounds."""
        assert self._columns is not None
        cols = ", ".join(_c(_E, c) for c in self._columns)
        t = _c(_E, "_hw_t")
        self.engine.execute(
            self._insert_state(
                f"(SELECT {cols}, {_c(_E, '_hw_key')}, {t}, {t}, {t} + {self.gap} "
                f"FROM {self._events(batch)} AS {_E} WHERE {t} IS NOT NULL)"
            )
        )
        d, a, n = '"_hw_d"', '"_hw_a"', '"_hw_n"'
        distinct = (
            f"SELECT DISTINCT {_c(_S, '_hw_key')}, {_c(_S, '_hw_t')} FROM {self.state} AS {_S} "
            f"WHERE {_c(_S, '_hw_key')} IN (SELECT {_c(_E, '_hw_key')} "
            f"FROM {self._events(batch)} AS {_E})"
        )
        breaks = (
            f"SELECT {_c(d, '_hw_key')}, {_c(d, '_hw_t')}, CASE WHEN {_c(d, '_hw_t')} - "
            f"lag({_c(d, '_hw_t')}) OVER (PARTITION BY {_c(d, '_hw_key')} ORDER BY "
            f'{_c(d, "_hw_t")}) < {self.gap} THEN 0 ELSE 1 END AS "_hw_brk" '
            f"FROM ({distinct}) AS {d}"
        )
        numbered = (
            f"SELECT {_c(a, '_hw_key')}, {_c(a, '_hw_t')}, sum({_c(a, '_hw_brk')}) OVER "
            f"(PARTITION BY {_c(a, '_hw_key')} ORDER BY {_c(a, '_hw_t')} ROWS BETWEEN "
            f'UNBOUNDED PRECEDING AND CURRENT ROW) AS "_hw_sid" FROM ({breaks}) AS {a}'
        )
        session = f"(PARTITION BY {_c(n, '_hw_key')}, {_c(n, '_hw_sid')})"
        sessions = (
            f"SELECT {_c(n, '_hw_key')}, {_c(n, '_hw_t')}, min({_c(n, '_hw_t')}) OVER {session} "
            f'AS "_hw_ws", max({_c(n, "_hw_t")}) OVER {session} + {self.gap} AS "_hw_we" '
            f"FROM ({numbered}) AS {n}"
        )
        self.engine.execute(
            f'UPDATE {self.state} AS {_S} SET "_hw_ws" = {_c(_R, "_hw_ws")}, '
            f'"_hw_we" = {_c(_R, "_hw_we")} FROM ({sessions}) AS {_R} '
            f"WHERE {_c(_S, '_hw_key')} = {_c(_R, '_hw_key')} "
            f"AND {_c(_S, '_hw_t')} = {_c(_R, '_hw_t')} AND ({_c(_S, '_hw_ws')} <> "
            f"{_c(_R, '_hw_ws')} OR {_c(_S, '_hw_we')} <> {_c(_R, '_hw_we')})"
        )

    def _late(self, batch: str, before: int | None) -> int:
        """Count the batch's late events and, unless they are dropped, write them to the late
        table. Session events that formed a session already final under ``before`` are still in
        the state here; the DELETE of final windows at the end of `process` removes them."""
        assert self._columns is not None
        t = _c(_E, "_hw_t")
        if self.spec.type == "session":
            if before is None:
                source = f"FROM {self._events(batch)} AS {_E} WHERE {t} IS NULL"
                bounds = "NULL, NULL"
            else:
                closed = (
                    f"SELECT DISTINCT {_c(_S, '_hw_key')}, {_c(_S, '_hw_t')}, "
                    f"{_c(_S, '_hw_ws')}, {_c(_S, '_hw_we')} FROM {self.state} AS {_S} "
                    f"WHERE {_c(_S, '_hw_we')} + {self.retain} <= ({before})"
                )
                source = (
                    f"FROM {self._events(batch)} AS {_E} LEFT JOIN ({closed}) AS {_L} ON "
                    f"{_c(_L, '_hw_key')} = {_c(_E, '_hw_key')} AND {_c(_L, '_hw_t')} = {t} "
                    f"WHERE {t} IS NULL OR {_c(_L, '_hw_t')} IS NOT NULL"
                )
                bounds = f"{self._ts(_c(_L, '_hw_ws'))}, {self._ts(_c(_L, '_hw_we'))}"
        else:
            start = self._latest_start(t)
            condition = f"{t} IS NULL"
            if before is not None:
                condition += f" OR {start} + {self.size + self.retain} <= ({before})"
            source = f"FROM {self._events(batch)} AS {_E} WHERE {condition}"
            bounds = f"{self._ts(start)}, {self._ts(f'{start} + {self.size}')}"
        if self.late == "drop":
            rows = self.engine.execute(f"SELECT count(*) {source}")
            return int(rows[0][0]) if rows else 0
        cols = ", ".join(quote_identifier(c) for c in self._columns)
        extra = ", ".join(quote_identifier(c) for c, _ in LATE_COLUMNS)
        values = ", ".join(_c(_E, c) for c in self._columns)
        now = self._ts_literal(_instant_micros(dt.datetime.now(dt.UTC)))
        return _count(
            self.engine.execute(
                f"INSERT INTO {self.late_output} ({cols}, {extra}) SELECT {values}, "
                f"{quote_literal(self.spec.name)}, {bounds}, {now} {source}"
            )
        )

    def _emit(self, batch: str, before: int | None, after: int | None, stats: WindowStats) -> None:
        """Write this batch's output rows (see the module doc for which) and count them."""
        we = _c(_S, "_hw_we")
        if self.append_only:
            if after is None:
                return
            where = f" WHERE {we} + {self.close_after} <= ({after})"
            if before is not None:
                where += f" AND {we} + {self.close_after} > ({before})"
            stats.emitted = _count(self.engine.execute(self._insert_output(where)))
            return
        written: str | None
        if self.spec.emit == "on_update":
            written = self._in_touched(_S, batch, before)
            touched_written = "TRUE"
        elif after is None:  # on_close, late: update, nothing closed yet
            written, touched_written = None, "FALSE"
        else:
            written = f"{we} <= ({after})"
            if before is not None:
                written += (
                    f" AND {we} + {self.retain} > ({before}) AND ({we} > ({before}) "
                    f"OR {self._in_touched(_S, batch, before)})"
                )
            touched_written = f"{_c(_X, '_hw_we')} <= ({after})"
        # the rows a touched window may replace are not final: the recent ones only
        recent = (
            f" AND {_c(_O, 'window_end')} > {self._ts_literal(before - self.retain)}"
            if before is not None
            else ""
        )
        start, end = _c(_O, "window_start"), _c(_O, "window_end")
        touched = self._touched(batch, before)
        if self.spec.type == "session":
            # a session's earlier rows lie inside its current bounds
            inside = (
                f"{_c(_X, '_hw_key')} = {self._group_key(_O)} AND {start} >= "
                f"{self._ts(_c(_X, '_hw_ws'))} AND {end} <= {self._ts(_c(_X, '_hw_we'))}{recent}"
            )
            rows = self.engine.execute(
                f"SELECT count(*) FROM {touched} AS {_X} WHERE {touched_written} AND EXISTS "
                f"(SELECT 1 FROM {self.output} AS {_O} WHERE {inside})"
            )
            stats.updated = int(rows[0][0]) if rows else 0
            deleted = _count(
                self.engine.execute(
                    f"DELETE FROM {self.output} AS {_O} WHERE EXISTS (SELECT 1 FROM {touched} "
                    f"AS {_X} WHERE {inside})"
                )
            )
        else:
            deleted = _count(
                self.engine.execute(
                    f"DELETE FROM {self.output} AS {_O} WHERE ({self._group_key(_O)}, {start}, "
                    f"{end}) IN (SELECT {_c(_X, '_hw_key')}, {self._ts(_c(_X, '_hw_ws'))}, "
                    f"{self._ts(_c(_X, '_hw_we'))} FROM {touched} AS {_X}){recent}"
                )
            )
            stats.updated = deleted
        stats.retracted = deleted - stats.updated
        inserted = (
            _count(self.engine.execute(self._insert_output(f" WHERE {written}")))
            if written is not None
            else 0
        )
        stats.emitted = inserted - stats.updated

    def _insert_output(self, where: str) -> str:
        assert self._output_names is not None
        cols = ", ".join(quote_identifier(c) for c in self._output_names)
        return f"INSERT INTO {self.output} ({cols}) {self._output_select(where)}"


def _key(relation: Relation) -> tuple[str, str]:
    return relation.schema.lower(), relation.identifier.lower()


def _index_name(table: str) -> str:
    """``<table>__hw_window_end``, shortened (with a digest) to PostgreSQL's 63 bytes."""
    import zlib

    name = f"{table}__hw_window_end"
    if len(name.encode()) <= 63:
        return name
    digest = f"{zlib.crc32(table.encode()):08x}"
    return f"{table.encode()[:36].decode(errors='ignore')}_{digest}__hw_window_end"


def _count(rows: list[Any]) -> int:
    """Rows a DML statement reports (``[(n,)]``)."""
    return int(rows[0][0]) if rows and rows[0] and isinstance(rows[0][0], int) else 0
