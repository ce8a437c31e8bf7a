"""A pure-Python reference of headwater's event-time windows, written from their specification
(`headwater.streams.windows` module doc), not from its SQL, to test the operator against.

Everything is in integer microseconds since the epoch. The reference processes micro-batches the
way the stream processor does: it advances the watermark per batch (largest event time seen minus
the delay, never backwards), decides lateness against the watermark *before* the batch, puts the
events in their windows (enumerated with Python's floor division, where the operator uses SQL
modulo arithmetic), emits per the emit mode and late policy, and forgets windows that became
final. Aggregates are computed in Python over the window's events: count, sum, min, max and
count distinct of ``amount``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Key = str | None
Window = tuple[Key, int, int]
"""(group_by key, start, end) of a window."""
Aggregate = tuple[int, int, int, int, int]
"""(count, sum, min, max, count distinct) of the window's ``amount``s."""

HOUR = 3_600_000_000
UPDATE_DEFAULT_LATENESS = HOUR


@dataclass(frozen=True)
class Event:
    id: int
    key: Key
    t: int | None
    """Event time, microseconds since the epoch; None for an event without one."""
    amount: int


@dataclass(frozen=True)
class Config:
    kind: str
    """tumbling | hopping | session"""
    emit: str
    """on_close | on_update"""
    late: str
    """drop | side_output | update"""
    size: int = 0
    hop: int = 0
    gap: int = 0
    lateness: int = 0
    delay: int = 0
    """The watermark delay."""
    grouped: bool = True
    """Group by the event's key (else one group: key None for every event)."""


@dataclass
class Stats:
    emitted: int = 0
    updated: int = 0
    late: int = 0
    dropped: int = 0
    open_windows: int = 0
    retracted: int = 0


def windows_of(t: int, size: int, hop: int) -> list[tuple[int, int]]:
    """Every epoch-aligned window [k*hop, k*hop + size) holding ``t`` (tumbling: hop = size)."""
    first = (t - size) // hop + 1  # the smallest k with k*hop + size > t
    last = t // hop  # the largest k with k*hop <= t
    return [(k * hop, k * hop + size) for k in range(first, last + 1)]


def sessions(events: Iterable[Event], gap: int) -> list[tuple[int, int, list[Event]]]:
    """Sessions of one key's events: (first event, last event + gap, members). An event joins the
    session before it when it comes strictly before that session's last event + gap."""
    out: list[tuple[int, int, list[Event]]] = []
    for event in sorted(events, key=lambda e: (e.t, e.id)):
        assert event.t is not None
        if out and event.t < out[-1][1]:
            start, _, members = out[-1]
            out[-1] = (start, event.t + gap, [*members, event])
        else:
            out.append((event.t, event.t + gap, [event]))
    return out


def aggregate(events: Sequence[Event]) -> Aggregate:
    amounts = [e.amount for e in events]
    return (len(amounts), sum(amounts), min(amounts), max(amounts), len(set(amounts)))


def contains(outer: Window, inner: Window) -> bool:
    return outer[0] == inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]


@dataclass
class Reference:
    config: Config
    watermark: int | None = None
    max_seen: int | None = None
    output: dict[Window, Aggregate] = field(default_factory=dict)
    writes: list[Window] = field(default_factory=list)
    """Every window written to the output, in order (a window written twice appears twice)."""
    late_rows: list[tuple[int, int | None, int | None]] = field(default_factory=list)
    """(event id, start, end of the latest window it missed) of the late events kept."""
    by_window: dict[Window, list[Event]] = field(default_factory=lambda: defaultdict(list))
    """Tumbling and hopping state: each window's events."""
    by_key: dict[Key, list[Event]] = field(default_factory=lambda: defaultdict(list))
    """Session state: each key's events."""

    @property
    def retain(self) -> int:
        """How long past its end a window keeps its events."""
        c = self.config
        return (c.lateness or UPDATE_DEFAULT_LATENESS) if c.late == "update" else c.lateness

    @property
    def close_after(self) -> int:
        """How long past its end a window closes."""
        return 0 if self.config.late == "update" else self.config.lateness

    def key(self, event: Event) -> Key:
        return event.key if self.config.grouped else None

    def final(self, end: int, watermark: int | None) -> bool:
        return watermark is not None and end + self.retain <= watermark

    def state(self) -> dict[Window, list[Event]]:
        """The windows in the state and their events."""
        if self.config.kind != "session":
            return {w: list(evs) for w, evs in self.by_window.items() if evs}
        out: dict[Window, list[Event]] = {}
        for key, evs in self.by_key.items():
            for start, end, members in sessions(evs, self.config.gap):
                out[(key, start, end)] = members
        return out

    def state_rows(self) -> int:
        """Rows the operator's state table should hold (one per event and window)."""
        return sum(len(evs) for evs in self.state().values())

    def step(self, batch: Sequence[Event]) -> tuple[int | None, int | None, Stats]:
        """Process one micro-batch: (watermark before, watermark after, what happened)."""
        c = self.config
        before = self.watermark
        times = [e.t for e in batch if e.t is not None]
        if times:
            self.max_seen = max(times) if self.max_seen is None else max(self.max_seen, *times)
        after = None if self.max_seen is None else self.max_seen - c.delay
        if before is not None and (after is None or after < before):
            after = before
        self.watermark = after

        late: list[tuple[int, int | None, int | None]] = []
        touched: set[Window] = set()
        if c.kind != "session":
            hop = c.hop if c.kind == "hopping" else c.size
            for e in batch:
                if e.t is None:
                    late.append((e.id, None, None))
                    continue
                candidates = windows_of(e.t, c.size, hop)
                live = [w for w in candidates if not self.final(w[1], before)]
                if not live:
                    start, end = max(candidates)
                    late.append((e.id, start, end))
                    continue
                for start, end in live:
                    window = (self.key(e), start, end)
                    self.by_window[window].append(e)
                    touched.add(window)
        else:
            new = {e.id for e in batch if e.t is not None}
            for e in batch:
                if e.t is None:
                    late.append((e.id, None, None))
                else:
                    self.by_key[self.key(e)].append(e)
            for key in {self.key(e) for e in batch if e.t is not None}:
                kept: list[Event] = []
                for start, end, members in sessions(self.by_key[key], c.gap):
                    if self.final(end, before):
                        # older events of a final session were forgotten already: all are new
                        assert all(m.id in new for m in members)
                        late.extend((m.id, start, end) for m in members)
                        continue
                    kept.extend(members)
                    if any(m.id in new for m in members):
                        touched.add((key, start, end))
                self.by_key[key] = kept

        stats = Stats(late=len(late), dropped=len(late) if c.late == "drop" else 0)
        if c.late != "drop":
            self.late_rows.extend(late)

        windows = self.state()
        if c.emit == "on_close" and c.late != "update":
            if after is not None:
                for window, events in windows.items():
                    closes = window[2] + self.close_after
                    if closes <= after and (before is None or closes > before):
                        self.output[window] = aggregate(events)
                        self.writes.append(window)
                        stats.emitted += 1
        else:
            if c.emit == "on_update":
                written = set(touched)
            elif after is None:
                written = set()
            else:
                written = {
                    w
                    for w in windows
                    if w[2] <= after
                    and (
                        before is None
                        or (w[2] + self.retain > before and (w[2] > before or w in touched))
                    )
                }
            doomed = {
                row
                for row in self.output
                if not self.final(row[2], before) and any(contains(t, row) for t in touched)
            }
            stats.updated = sum(
                1 for t in touched if t in written and any(contains(t, r) for r in doomed)
            )
            stats.retracted = len(doomed) - stats.updated
            for row in doomed:
                del self.output[row]
            for window in written:
                self.output[window] = aggregate(windows[window])
                self.writes.append(window)
            stats.emitted = len(written) - stats.updated

        if after is not None:
            if c.kind != "session":
                for window in list(self.by_window):
                    if self.final(window[2], after):
                        del self.by_window[window]
            else:
                for key, evs in list(self.by_key.items()):
                    self.by_key[key] = [
                        m
                        for start, end, members in sessions(evs, c.gap)
                        if not self.final(end, after)
                        for m in members
                    ]
        stats.open_windows = sum(
            1 for w in self.state() if after is None or w[2] + self.close_after > after
        )
        return before, after, stats


def plain_windows(config: Config, events: Iterable[Event]) -> dict[Window, Aggregate]:
    """The windows of all ``events`` at once, with nothing late: what every emit mode and late
    policy must end with when the watermark delay exceeds the events' disorder."""
    groups: dict[Window, list[Event]] = defaultdict(list)
    by_key: dict[Key, list[Event]] = defaultdict(list)
    for e in events:
        if e.t is None:
            continue
        key = e.key if config.grouped else None
        if config.kind == "session":
            by_key[key].append(e)
            continue
        hop = config.hop if config.kind == "hopping" else config.size
        for start, end in windows_of(e.t, config.size, hop):
            groups[(key, start, end)].append(e)
    for key, evs in by_key.items():
        for start, end, members in sessions(evs, config.gap):
            groups[(key, start, end)] = members
    return {w: aggregate(evs) for w, evs in groups.items()}
