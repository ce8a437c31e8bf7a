"""Event-time windows (`headwater.streams.windows`) against the pure-Python reference
(`window_reference.py`): random events, random arrival order, random micro-batches, every window
type, emit mode and late policy; on DuckDB (one transaction per batch, state tables persisting
across batches, some batches rolled back and replayed as after a crash) and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.engines import create_engine
from headwater.engines.base import Engine
from headwater.errors import ConfigError
from headwater.project.definition import Relation, Target
from headwater.streams.windows import (
    WindowOperator,
    WindowSpec,
    WindowStats,
    advance_watermark,
    parse_late,
    parse_watermark,
    parse_window,
    parse_windows,
)
from tests.streams.window_reference import (
    Config,
    Event,
    Reference,
    plain_windows,
    sessions,
    windows_of,
)

SECOND = 1_000_000
EPOCH = dt.datetime(1970, 1, 1)
SELECT = (
    "count(*) AS n, sum(amount) AS total, min(amount) AS lo, max(amount) AS hi, "
    "count(DISTINCT amount) AS nd"
)
COLUMNS = [("id", "INTEGER"), ("k", "VARCHAR"), ("ts", "TIMESTAMP"), ("amount", "INTEGER")]
_names = itertools.count()


def to_datetime(micros: int | None) -> dt.datetime | None:
    return None if micros is None else EPOCH + dt.timedelta(microseconds=micros)


def to_micros(value: dt.datetime | None) -> int | None:
    return None if value is None else (value - EPOCH) // dt.timedelta(microseconds=1)


# -- engines ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def duck() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as root:
        engine = create_engine(
            Target(name="duck", engine="duckdb", path=":memory:", schema="main"), root
        )
        engine.open()
        yield engine
        engine.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[Engine]:
    from tests.engines.conftest import pg_settings, require

    require("postgres")
    schema = f"hw_windows_{next(_names)}_{dt.datetime.now().strftime('%H%M%S%f')}"
    with tempfile.TemporaryDirectory() as root:
        engine = create_engine(
            Target(name="pg", engine="postgres", schema=schema, settings=dict(pg_settings())),
            root,
        )
        engine.open()
        try:
            yield engine
        finally:
            engine.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            engine.close()


# -- running the operator over batches ----------------------------------------------------------
def spec_for(config: Config, name: str = "w") -> WindowSpec:
    return WindowSpec(
        name=name,
        type=config.kind,
        size=dt.timedelta(microseconds=config.size) if config.size else None,
        hop=dt.timedelta(microseconds=config.hop) if config.hop else None,
        gap=dt.timedelta(microseconds=config.gap) if config.gap else None,
        group_by=["k"] if config.grouped else [],
        select=SELECT,
        emit=config.emit,
        allowed_lateness=dt.timedelta(microseconds=config.lateness),
    )


def load_events(engine: Engine, schema: str, batches: Sequence[Sequence[Event]]) -> Relation:
    """The events in a table, each with the number of the batch it arrives in."""
    source = Relation(schema, f"src_{next(_names)}")
    engine.ensure_schema(schema)
    engine.execute(
        f'CREATE TABLE {source} ("id" INTEGER, "k" VARCHAR, "ts" TIMESTAMP, "amount" INTEGER, '
        '"batch" INTEGER)'
    )
    rows = []
    for number, batch in enumerate(batches):
        for e in batch:
            key = "NULL" if e.key is None else f"'{e.key}'"
            when = "NULL" if e.t is None else f"CAST('{to_datetime(e.t)}' AS TIMESTAMP)"
            rows.append(f"({e.id}, {key}, {when}, {e.amount}, {number})")
    if rows:
        engine.execute(f"INSERT INTO {source} VALUES {', '.join(rows)}")
    return source


class Run:
    """One window operator over its own tables."""

    def __init__(self, engine: Engine, schema: str, config: Config, name: str = "w") -> None:
        n = next(_names)
        self.engine = engine
        self.output = Relation(schema, f"out_{n}")
        self.state = Relation(schema, f"state_{n}")
        self.late = Relation(schema, f"late_{n}")
        self.operator = WindowOperator(
            engine,
            spec_for(config, name),
            stream="orders_live",
            event_time="ts",
            late=config.late,
            output=self.output,
            state=self.state,
            late_output=self.late,
        )

    def batch(
        self,
        sql: str,
        before: int | None,
        after: int | None,
        *,
        crash: bool = False,
        columns: list[tuple[str, str]] = COLUMNS,
    ) -> WindowStats:
        """One micro-batch in its own transaction; ``crash``: roll it back first, then replay
        it (a process killed before its commit)."""
        if crash:
            with pytest.raises(RuntimeError), self.engine.transaction():
                self.operator.ensure(columns)
                self.operator.process(sql, to_datetime(before), to_datetime(after))
                raise RuntimeError("killed before the commit")
        with self.engine.transaction():
            self.operator.ensure(columns)
            return self.operator.process(sql, to_datetime(before), to_datetime(after))

    def rows(self) -> list[tuple[Any, ...]]:
        """Output rows as (key, start, end, n, total, lo, hi, nd), in µs and ints."""
        _, rows = self.engine.query(
            f'SELECT "window_start", "window_end", "k", "n", "total", "lo", "hi", "nd" '
            f"FROM {self.output}"
            if self.operator.spec.group_by
            else f'SELECT "window_start", "window_end", NULL, "n", "total", "lo", "hi", "nd" '
            f"FROM {self.output}"
        )
        return sorted(
            ((r[2], to_micros(r[0]), to_micros(r[1]), *(int(v) for v in r[3:])) for r in rows),
            key=repr,
        )

    def late_rows(self) -> list[tuple[Any, ...]]:
        _, rows = self.engine.query(
            f'SELECT "id", "_hw_window_start", "_hw_window_end", "_hw_window", "_hw_late_at" '
            f"FROM {self.late}"
        )
        assert all(r[3] == self.operator.spec.name and r[4] is not None for r in rows)
        return sorted(((r[0], to_micros(r[1]), to_micros(r[2])) for r in rows), key=repr)

    def state_rows(self) -> int:
        return int(self.engine.execute(f"SELECT count(*) FROM {self.state}")[0][0])


def expected_rows(output: Mapping[Any, Sequence[int]]) -> list[tuple[Any, ...]]:
    return sorted(((w[0], w[1], w[2], *agg) for w, agg in output.items()), key=repr)


def check_against_reference(
    engine: Engine, schema: str, config: Config, batches: list[list[Event]], crashes: set[int]
) -> None:
    reference = Reference(config)
    source = load_events(engine, schema, batches)
    run = Run(engine, schema, config)
    for number, batch in enumerate(batches):
        before, after, want = reference.step(batch)
        got = run.batch(
            f'SELECT "id", "k", "ts", "amount" FROM {source} WHERE "batch" = {number}',
            before,
            after,
            crash=number in crashes,
        )
        assert asdict(got) == asdict(want), f"batch {number}"
        assert run.state_rows() == reference.state_rows(), f"state after batch {number}"
    assert run.rows() == expected_rows(reference.output)
    if config.late == "drop":
        assert run.engine.columns(run.late) == []  # no late table for drop
    else:
        assert run.late_rows() == sorted(reference.late_rows, key=repr)
    if config.emit == "on_close" and config.late != "update":
        # append-only: each window written exactly once, and never again
        assert len(set(reference.writes)) == len(reference.writes)
        assert len(run.rows()) == len(reference.writes)


# -- strategies -------------------------------------------------------------------------------------
BASES = [
    1_704_067_200 * SECOND,  # 2024-01-01
    -90 * SECOND,  # 1969-12-31 23:58:30: windows straddle the epoch
]
SHAPES: dict[str, list[dict[str, Any]]] = {
    "tumbling": [{"size": s * SECOND} for s in (5, 10, 30)],
    "hopping": [{"size": s * SECOND, "hop": h * SECOND} for s, h in ((10, 5), (30, 10), (25, 10), (7, 3), (10, 10))],
    "session": [{"gap": g * SECOND} for g in (5, 10, 20)],
}  # fmt: skip


@st.composite
def events(draw: st.DrawFn, max_size: int = 24) -> list[Event]:
    base = draw(st.sampled_from(BASES))
    span = draw(st.sampled_from([15, 40, 120]))  # dense runs: equal times, merges, boundaries
    count = draw(st.integers(0, max_size))
    out = []
    for i in range(count):
        seconds = draw(st.integers(0, span))
        micros = draw(st.sampled_from([0, 0, 0, 1, 999_999]))
        t = None if draw(st.integers(0, 30)) == 0 else base + seconds * SECOND + micros
        out.append(Event(i, draw(st.sampled_from(["a", "b", None])), t, draw(st.integers(0, 4))))
    return out


@st.composite
def configs(
    draw: st.DrawFn,
    kinds: Sequence[str] = ("tumbling", "hopping", "session"),
    delays: Sequence[int] = (0, 3, 20),
) -> Config:
    kind = draw(st.sampled_from(list(kinds)))
    return Config(
        kind=kind,
        emit=draw(st.sampled_from(["on_close", "on_update"])),
        late=draw(st.sampled_from(["drop", "side_output", "update"])),
        lateness=draw(st.sampled_from([0, 0, 10 * SECOND])),
        delay=draw(st.sampled_from(list(delays))) * SECOND,
        grouped=draw(st.booleans()),
        **draw(st.sampled_from(SHAPES[kind])),
    )


@st.composite
def arrivals(draw: st.DrawFn, evs: list[Event]) -> list[list[Event]]:
    """``evs`` in a random order, cut into 1 to 6 micro-batches (some may be empty)."""
    order = draw(st.permutations(evs))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=5)))
    edges = [0, *cuts, len(order)]
    return [list(order[a:b]) for a, b in itertools.pairwise(edges)]


@st.composite
def scenarios(
    draw: st.DrawFn, kinds: Sequence[str] = ("tumbling", "hopping", "session"), max_size: int = 24
) -> tuple[Config, list[list[Event]], set[int]]:
    config = draw(configs(kinds))
    batches = draw(arrivals(draw(events(max_size))))
    crashes = set(draw(st.lists(st.integers(0, len(batches) - 1), max_size=2)))
    return config, batches, crashes


PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# -- the reference itself, on cases worked by hand --------------------------------------------------
def test_reference_windows_by_hand() -> None:
    assert windows_of(25, 10, 10) == [(20, 30)]
    assert windows_of(-1, 10, 10) == [(-10, 0)]
    assert windows_of(20, 10, 10) == [(20, 30)]  # a window holds its start, not its end
    assert windows_of(12, 10, 5) == [(5, 15), (10, 20)]
    assert windows_of(12, 25, 10) == [(-10, 15), (0, 25), (10, 35)]
    assert windows_of(-3, 7, 3) == [(-9, -2), (-6, 1), (-3, 4)]
    evs = [Event(i, "a", t, 1) for i, t in enumerate([0, 4, 9, 20, 14])]
    assert [(s, e, len(m)) for s, e, m in sessions(evs, 6)] == [(0, 20, 4), (20, 26, 1)]
    # exactly gap apart: two sessions
    assert [(s, e) for s, e, _ in sessions([Event(0, None, 0, 1), Event(1, None, 5, 1)], 5)] == [
        (0, 5),
        (5, 10),
    ]


def test_reference_lateness_by_hand() -> None:
    """Tumbling 10 s, no delay: an event for a window the watermark passed is late."""
    s = SECOND
    ref = Reference(Config(kind="tumbling", emit="on_close", late="side_output", size=10 * s))
    assert ref.step([Event(0, "a", 3 * s, 1), Event(1, "a", 12 * s, 2)])[2].emitted == 1
    before, after, stats = ref.step([Event(2, "a", 5 * s, 3), Event(3, "a", 15 * s, 4)])
    assert (before, after, stats.late, stats.emitted) == (12 * s, 15 * s, 1, 0)
    assert ref.late_rows == [(2, 0, 10 * s)]
    assert ref.output == {("a", 0, 10 * s): (1, 1, 1, 1, 1)}
    # update keeps the closed window an hour: the late event re-computes it
    ref = Reference(Config(kind="tumbling", emit="on_close", late="update", size=10 * s))
    ref.step([Event(0, "a", 3 * s, 1), Event(1, "a", 12 * s, 2)])
    stats = ref.step([Event(2, "a", 5 * s, 3)])[2]
    assert (stats.updated, stats.emitted, stats.late) == (1, 0, 0)
    assert ref.output == {("a", 0, 10 * s): (2, 4, 1, 3, 2)}


# -- the operator against the reference -------------------------------------------------------------
@PROPERTY
@given(scenarios())
def test_matches_reference_duckdb(
    duck: Engine, scenario: tuple[Config, list[list[Event]], set[int]]
) -> None:
    config, batches, crashes = scenario
    check_against_reference(duck, "main", config, batches, crashes)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(configs(delays=(10_000,)), st.data())
def test_big_delay_equals_plain_group_by(duck: Engine, config: Config, data: st.DataObject) -> None:
    """With a watermark delay longer than the events' disorder nothing is late: whatever the
    arrival order and batches, the output ends (after a final watermark past every window) equal
    to the windows of all events at once: a plain GROUP BY for tumbling and hopping windows
    (DuckDB's own time_bucket, not the operator's arithmetic), sessions of all events at once."""
    evs = data.draw(events())
    batches = data.draw(arrivals(evs))
    source = load_events(duck, "main", [*batches, []])
    run = Run(duck, "main", config)
    reference = Reference(config)
    for number, batch in enumerate(batches):
        before, after, _ = reference.step(batch)
        stats = run.batch(
            f'SELECT "id", "k", "ts", "amount" FROM {source} WHERE "batch" = {number}',
            before,
            after,
        )
        assert stats.late == sum(1 for e in batch if e.t is None)
    final = max([e.t for e in evs if e.t is not None], default=0) + 100 * 3600 * SECOND
    run.batch(
        f'SELECT "id", "k", "ts", "amount" FROM {source} WHERE "batch" = {len(batches)}',
        reference.watermark,
        final,
    )
    assert run.state_rows() == 0
    if config.kind == "session":
        want = expected_rows(plain_windows(config, evs))
    else:
        want = plain_group_by(duck, source, config)
        assert want == expected_rows(plain_windows(config, evs))  # and the reference agrees
    assert run.rows() == want


def plain_group_by(engine: Engine, source: Relation, config: Config) -> list[tuple[Any, ...]]:
    hop = config.hop if config.kind == "hopping" else config.size
    count = -(-config.size // hop)
    key = '"k"' if config.grouped else "NULL"
    _, rows = engine.query(
        f"SELECT {key} AS k, ws, ws + INTERVAL ({config.size}) MICROSECOND AS we, count(*), "
        "sum(amount), min(amount), max(amount), count(DISTINCT amount) FROM ("
        f"SELECT *, time_bucket(INTERVAL ({hop}) MICROSECOND, ts, TIMESTAMP '1970-01-01') "
        f"- i * INTERVAL ({hop}) MICROSECOND AS ws FROM {source}, range({count}) AS r(i) "
        "WHERE ts IS NOT NULL) "
        f"WHERE ws + INTERVAL ({config.size}) MICROSECOND > ts GROUP BY ALL"
    )
    return sorted(
        ((r[0], to_micros(r[1]), to_micros(r[2]), *(int(v) for v in r[3:])) for r in rows),
        key=repr,
    )


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenarios(max_size=16))
def test_matches_reference_postgres(
    pg: Engine, scenario: tuple[Config, list[list[Event]], set[int]]
) -> None:
    config, batches, crashes = scenario
    check_against_reference(pg, str(pg.target.schema), config, batches, crashes)


@pytest.mark.parametrize("kind", ["tumbling", "hopping", "session"])
def test_every_mode_on_postgres(pg: Engine, kind: str) -> None:
    """Each emit mode and late policy on PostgreSQL, over a fixed disordered run with late events
    (the property above samples them; this makes sure each one runs there)."""
    s = SECOND
    base = 1_704_067_200 * s
    times = [3, 14, 1, 27, 9, 41, 22, 5, 60, 18, 33, 2, 75, 44]
    evs = [Event(i, "ab"[i % 2], base + t * s, i % 3) for i, t in enumerate(times)]
    batches = [evs[0:3], evs[3:6], evs[6:9], evs[9:12], evs[12:]]
    for emit, late in itertools.product(
        ["on_close", "on_update"], ["drop", "side_output", "update"]
    ):
        config = Config(kind=kind, emit=emit, late=late, delay=5 * s, **SHAPES[kind][1])
        check_against_reference(pg, str(pg.target.schema), config, batches, {2})


# -- sessions: cases too rare for random search ------------------------------------------------
def test_session_row_already_final_is_never_retracted(duck: Engine) -> None:
    """Session [100, 110) is final (the watermark passed it and it left the state); late events
    at 99 and 105 then bridge to the open session [112, 122): the new session [99, 122) replaces
    [112, 122)'s row, but the final row stays (Flink: purged state is not merged again)."""
    s = SECOND
    config = Config(kind="session", emit="on_update", late="drop", gap=10 * s)
    batches = [
        [Event(0, "a", 100 * s, 1)],
        [Event(1, "a", 112 * s, 2)],
        [Event(2, "a", 99 * s, 3), Event(3, "a", 105 * s, 4)],
    ]
    check_against_reference(duck, "main", config, batches, set())
    reference = Reference(config)
    stats = [reference.step(b)[2] for b in batches][-1]
    assert (stats.updated, stats.emitted, stats.retracted, stats.late) == (1, 0, 0, 0)
    assert reference.output == {
        ("a", 100 * s, 110 * s): (1, 1, 1, 1, 1),
        ("a", 99 * s, 122 * s): (3, 9, 2, 4, 3),
    }


@pytest.mark.parametrize("emit", ["on_close", "on_update"])
@pytest.mark.parametrize("late", ["drop", "side_output", "update"])
def test_sessions_of_keys_with_equal_event_times(duck: Engine, emit: str, late: str) -> None:
    """Two keys with events at the same instants but different sessions: each event moves to
    its own key's session."""
    s = SECOND
    config = Config(kind="session", emit=emit, late=late, gap=10 * s, delay=2 * s)
    batches = [
        [Event(0, "a", 0, 1), Event(1, "b", 0, 2)],
        [Event(2, "a", 5 * s, 3), Event(3, "b", 30 * s, 4), Event(4, None, 5 * s, 5)],
        [Event(5, "b", 5 * s, 6), Event(6, "a", 30 * s, 7), Event(7, None, 0, 8)],
        [Event(8, "a", 60 * s, 9), Event(9, "b", 60 * s, 1)],
    ]
    check_against_reference(duck, "main", config, batches, set())


@pytest.mark.parametrize("emit", ["on_close", "on_update"])
def test_events_exactly_a_gap_apart_are_two_sessions(duck: Engine, emit: str) -> None:
    s = SECOND
    config = Config(kind="session", emit=emit, late="drop", gap=5 * s)
    batches = [
        [Event(0, "a", 0, 1), Event(1, "a", 5 * s, 2)],
        [Event(2, "a", 9 * s, 3)],
        [Event(3, "b", 60 * s, 1)],
    ]
    check_against_reference(duck, "main", config, batches, set())
    run = Run(duck, "main", config)
    source = load_events(duck, "main", batches)
    watermark = None
    for number, after in enumerate([5 * s, 9 * s, 60 * s]):
        run.batch(
            f'SELECT "id", "k", "ts", "amount" FROM {source} WHERE "batch" = {number}',
            watermark,
            after,
        )
        watermark = after
    assert [r[:4] for r in run.rows() if r[0] == "a"] == [
        ("a", 0, 5 * s, 1),
        ("a", 5 * s, 14 * s, 2),
    ]


def test_session_merging_a_closed_session_retracts_its_row(duck: Engine) -> None:
    """late: update, on_close: session [0, 10) was emitted; a late event at 8 s (within the
    lateness) bridges it to the open session [12, 22): the emitted row is retracted, and the
    merged session [0, 22) is emitted once when it closes."""
    s = SECOND
    config = Config(kind="session", emit="on_close", late="update", gap=10 * s)
    batches = [
        [Event(0, "a", 0, 1), Event(1, "b", 11 * s, 1)],
        [Event(2, "a", 12 * s, 2)],
        [Event(3, "a", 8 * s, 3)],
        [Event(4, "b", 40 * s, 1)],
    ]
    check_against_reference(duck, "main", config, batches, set())
    reference = Reference(config)
    stats = [reference.step(b)[2] for b in batches]
    assert stats[0].emitted == 1 and (stats[2].retracted, stats[2].emitted) == (1, 0)
    assert stats[3].emitted == 2  # [0, 22) for a, [11, 21) for b
    assert ("a", 0, 22 * s) in reference.output and ("a", 0, 10 * s) not in reference.output


# -- exactly once, bounded state, constant statements --------------------------------------------
def test_on_close_emits_each_window_once_across_crashes(duck: Engine) -> None:
    """A batch rolled back (killed before its commit) and replayed emits nothing twice: the
    windows it closed are in the output once, and the late table has each late event once."""
    s = SECOND
    config = Config(kind="tumbling", emit="on_close", late="side_output", size=10 * s)
    evs = [Event(i, "a", t * s, 1) for i, t in enumerate([1, 2, 11, 25, 3, 31, 42])]
    batches = [evs[0:2], evs[2:4], evs[4:6], evs[6:]]
    reference = Reference(config)
    source = load_events(duck, "main", batches)
    run = Run(duck, "main", config)
    for number, batch in enumerate(batches):
        before, after, _ = reference.step(batch)
        sql = f'SELECT "id", "k", "ts", "amount" FROM {source} WHERE "batch" = {number}'
        run.batch(sql, before, after, crash=True)
    rows = run.rows()
    assert [r[1] // s for r in rows] == [0, 10, 20, 30]
    assert Counter((r[1], r[2]) for r in rows).most_common(1)[0][1] == 1
    assert run.late_rows() == [(4, 0, 10 * s)]  # the event at 3 s came after the watermark 25 s


def test_state_holds_only_open_windows(duck: Engine) -> None:
    """A long run keeps in the state only the events of windows the watermark has not passed."""
    s = SECOND
    config = Config(kind="hopping", emit="on_close", late="drop", size=20 * s, hop=10 * s)
    run = Run(duck, "main", config)
    source = load_events(
        duck,
        "main",
        [[Event(b * 100 + i, "a", (b * 50 + i) * s, i) for i in range(50)] for b in range(8)],
    )
    watermark = None
    for number in range(8):
        after = (number * 50 + 49) * s
        run.batch(
            f'SELECT "id", "k", "ts", "amount" FROM {source} WHERE "batch" = {number}',
            watermark,
            after,
        )
        watermark = after
        # open: the windows ending after the watermark, [.., 60) and [.., 70) of the last 50 s
        assert run.state_rows() <= 2 * 20
    assert len(run.rows()) == 39  # every window closed so far, once


def test_statements_per_batch_do_not_grow_with_windows(
    duck: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing 2 windows or 300 takes the same statements: no statement per window."""
    s = SECOND
    counts = []
    for spread in (2, 300):
        config = Config(kind="tumbling", emit="on_update", late="update", size=s)
        run = Run(duck, "main", config)
        source = load_events(duck, "main", [[Event(i, "a", i * s, 1) for i in range(spread)]])
        executed: list[str] = []
        original = duck.execute

        def counting(
            sql: str,
            params: list[Any] | None = None,
            _orig: Any = original,
            _seen: list[str] = executed,
        ) -> Any:
            _seen.append(sql)
            return _orig(sql, params)

        run.batch(f"SELECT id, k, ts, amount FROM {source}", None, None)  # tables exist now
        monkeypatch.setattr(duck, "execute", counting)
        with duck.transaction():
            stats = run.operator.process(
                f"SELECT id, k, ts, amount FROM {source}",
                to_datetime(0),
                to_datetime(spread * 2 * s),
            )
        monkeypatch.undo()
        assert stats.updated == spread
        counts.append(len(executed))
    assert counts[0] == counts[1]


# -- ensure ---------------------------------------------------------------------------------------------
def test_ensure_adds_new_batch_columns_and_keeps_the_state(duck: Engine) -> None:
    s = SECOND
    config = Config(kind="tumbling", emit="on_close", late="side_output", size=10 * s)
    run = Run(duck, "main", config)
    source = load_events(duck, "main", [[Event(0, "a", 1 * s, 5)], [Event(1, "a", 30 * s, 7)]])
    run.batch(f'SELECT "id", "k", "ts", "amount" FROM {source} WHERE "batch" = 0', None, 1 * s)
    wider = [*COLUMNS, ("channel", "VARCHAR")]
    run.batch(
        f'SELECT "id", "k", "ts", "amount", \'web\' AS "channel" FROM {source} WHERE "batch" = 1',
        1 * s,
        30 * s,
        columns=wider,
    )
    assert "channel" in [c for c, _ in duck.columns(run.state)]
    assert "channel" in [c for c, _ in duck.columns(run.late)]
    assert run.rows() == [("a", 0, 10 * s, 1, 5, 5, 5, 1)]


@pytest.mark.parametrize(
    ("columns", "select", "message"),
    [
        ([("id", "INTEGER"), ("k", "VARCHAR")], SELECT, "event time column `ts`"),
        ([("id", "INTEGER"), ("ts", "TIMESTAMP")], SELECT, "`group_by` names `k`"),
        ([*COLUMNS, ("_hw_t", "BIGINT")], SELECT, "starting with `_hw_`"),
        (COLUMNS, "sum(no_such_column) AS x", "does not run over the stream's events"),
    ],
)
def test_ensure_reports_config_errors(
    duck: Engine, columns: list[tuple[str, str]], select: str, message: str
) -> None:
    config = Config(kind="tumbling", emit="on_close", late="drop", size=SECOND)
    run = Run(duck, "main", config)
    run.operator.spec.select = select
    with pytest.raises(ConfigError) as info, duck.transaction():
        run.operator.ensure(columns)
    assert message in str(info.value)
    assert "window `w`" in str(info.value) and info.value.hint


def test_changed_select_against_an_existing_output_is_a_config_error(duck: Engine) -> None:
    config = Config(kind="tumbling", emit="on_close", late="drop", size=SECOND)
    run = Run(duck, "main", config)
    with duck.transaction():
        run.operator.ensure(COLUMNS)
    spec = spec_for(config)
    spec.select = "avg(amount) AS mean"
    changed = WindowOperator(
        duck, spec, stream="s", event_time="ts", late="drop",
        output=run.output, state=run.state, late_output=run.late,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="has no column `mean`") as info, duck.transaction():
        changed.ensure(COLUMNS)
    assert "drop" in str(info.value.hint)


def test_watermarks_with_time_zones_are_instants(duck: Engine) -> None:
    """An aware watermark is the same instant as its naive UTC spelling."""
    s = SECOND
    config = Config(kind="tumbling", emit="on_close", late="drop", size=10 * s)
    run = Run(duck, "main", config)
    source = load_events(duck, "main", [[Event(0, "a", 1_704_067_205 * s, 1)]])
    zone = dt.timezone(dt.timedelta(hours=2))
    after = dt.datetime(2024, 1, 1, 2, 0, 10, tzinfo=zone)  # 00:00:10 UTC: the window closes
    with duck.transaction():
        run.operator.ensure(COLUMNS)
        stats = run.operator.process(f"SELECT * EXCLUDE (batch) FROM {source}", None, after)
    assert stats.emitted == 1
    assert advance_watermark(after, dt.datetime(2024, 1, 1, 0, 0, 5), dt.timedelta(0)) == (
        dt.datetime(2024, 1, 1, 0, 0, 10)
    )
    assert advance_watermark(None, dt.datetime(2024, 1, 1), dt.timedelta(seconds=30)) == (
        dt.datetime(2023, 12, 31, 23, 59, 30)
    )


# -- configuration -----------------------------------------------------------------------------------
def test_parse_window_reads_durations_and_defaults() -> None:
    spec = parse_window(
        {
            "name": "orders_per_minute",
            "type": "hopping",
            "size": "1 minute",
            "hop": "30 seconds",
            "group_by": "customer_id",
            "select": "count(*) as orders, sum(amount) as revenue",
        },
        stream="orders_live",
        location="streams/orders.yml",
    )
    assert spec.size == dt.timedelta(minutes=1) and spec.hop == dt.timedelta(seconds=30)
    assert spec.group_by == ["customer_id"] and spec.emit == "on_close"
    assert spec.allowed_lateness == dt.timedelta(0) and spec.windows_per_event == 2
    session = parse_window(
        {"name": "visits", "type": "session", "gap": "500 ms", "select": "count(*) as n",
         "emit": "on_update", "allowed_lateness": "1 hour"},
        stream="web", location="streams/web.yml",
    )  # fmt: skip
    assert session.gap == dt.timedelta(milliseconds=500)
    assert session.allowed_lateness == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("entry", "message", "hint"),
    [
        ({"type": "tumbling", "size": "1 minute", "sise": 1}, "unknown key `sise`", "takes"),
        ({"type": "tumbling"}, "needs `size`", "size: 1 minute"),
        ({"type": "hopping", "size": "1 minute"}, "needs `hop`", "hop: 30 seconds"),
        ({"type": "session"}, "needs `gap`", "gap:"),
        ({"type": "hopping", "size": "30 seconds", "hop": "1 minute"}, "longer than `size", "at most"),
        ({"type": "tumbling", "size": "1 minute", "hop": "10 s"}, "takes no `hop`", "hopping"),
        ({"type": "tumbling", "size": "1 minute", "emit": "on_change"}, "`emit: on_change`", "on_update"),
        ({"type": "tumbbling", "size": "1 minute"}, "did you mean `tumbling`", "type: session"),
        ({"type": "tumbling", "size": "one minute"}, "size", "1 hour"),
        ({"type": "tumbling", "size": "1 minute", "select": "count(*)"}, "has no name", "as <column>"),
        ({"type": "tumbling", "size": "1 minute", "select": "count(*) as n where x"}, "more than", "transform"),
        ({"type": "tumbling", "size": "1 minute", "select": "count(*) as k"}, "`k`", "taken"),
        ({"type": "tumbling", "size": "1 minute", "group_by": ["window_start"]}, "`window_start`", "rename"),
        ({"type": "hopping", "size": "1 day", "hop": "1 second"}, "86400 windows", "larger `hop`"),
        ({"type": "tumbling", "size": "1 minute", "allowed_lateness": "soon"}, "allowed_lateness", "1 hour"),
    ],
)  # fmt: skip
def test_parse_window_errors(entry: dict[str, Any], message: str, hint: str) -> None:
    full = {"name": "per_minute", "group_by": ["k"], "select": "count(*) as n", **entry}
    with pytest.raises(ConfigError) as info:
        parse_window(full, stream="orders_live", location="streams/orders.yml")
    text = str(info.value)
    assert message in text
    assert "stream `orders_live`" in text and "window `per_minute`" in text
    assert "streams/orders.yml" in text
    assert info.value.hint and hint in info.value.hint


def test_parse_windows_watermark_and_late() -> None:
    entry = {"name": "a", "type": "tumbling", "size": "1 minute", "select": "count(*) as n"}
    assert [w.name for w in parse_windows([entry], stream="s", location="f.yml")] == ["a"]
    assert parse_windows(None, stream="s", location="f.yml") == []
    with pytest.raises(ConfigError, match="two windows are named `a`"):
        parse_windows([entry, entry], stream="s", location="f.yml")
    with pytest.raises(ConfigError, match="must be a list"):
        parse_windows(entry, stream="s", location="f.yml")
    assert parse_watermark("30 seconds", stream="s", location="f.yml") == dt.timedelta(seconds=30)
    assert parse_watermark(None, stream="s", location="f.yml") == dt.timedelta(0)
    with pytest.raises(ConfigError, match="watermark"):
        parse_watermark("-5 s", stream="s", location="f.yml")
    assert parse_late("side_output", stream="s", location="f.yml") == "side_output"
    assert parse_late(None, stream="s", location="f.yml") == "drop"
    with pytest.raises(ConfigError, match="did you mean `side_output`") as info:
        parse_late("side-output", stream="s", location="f.yml")
    assert info.value.hint and "late: update" in info.value.hint
