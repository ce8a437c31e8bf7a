"""Stream monitoring: what each `stream run` process measures goes into the state store's node
metrics (the stream node's series, like any node's), every `FLUSH_SECONDS`; `stream status` reads
the latest points back; SLAs (`slas: {max_lag: 10000 events, max_latency: 30s,
max_dlq_rate: 0.01}`) open and resolve incidents through the alert channels.

Series of a stream node (``column_name`` says whose value it is):

| metric | column | value |
|---|---|---|
| `stream_events_per_s` | process | events committed per second since the last point |
| `stream_events` | process | events committed since the last point |
| `stream_dlq_rate` | process | dead-lettered / events since the last point |
| `stream_latency_p50`, `stream_latency_p99` | process | seconds from the broker's timestamp to the commit |
| `stream_last_commit` | process | epoch seconds of the last commit |
| `stream_errors` | process | broker or warehouse failures (retried) since the last point |
| `stream_lag` | partition | messages behind the broker's end |
| `stream_watermark` | '' | epoch seconds of the watermark |
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.observe import Signal
    from headwater.state.protocol import StateStore
    from headwater.streams.processor import BatchReport
    from headwater.streams.source import StreamSource
    from headwater.streams.spec import StreamSpec

FLUSH_SECONDS = 2.0
ACTIVE_SECONDS = 30.0
"""A process whose last point is older than this is not counted as running."""


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class StreamMonitor:
    """Collects one process's batches of one stream and records them every `FLUSH_SECONDS`."""

    def __init__(
        self,
        spec: StreamSpec,
        unique_id: str,
        state: StateStore | None,
        process: str,
        alert: Callable[[list[Signal]], None] | None = None,
    ) -> None:
        self.spec = spec
        self.unique_id = unique_id
        self.state = state
        self.process = process
        self.alert = alert
        self._events = 0
        self._dlq = 0
        self.errors = 0
        """Broker or warehouse failures since the last point (counted by the processor)."""
        self._latencies: list[float] = []
        self._since = time.monotonic()
        self._last_flush = time.monotonic()
        self._last_commit: float | None = None
        self._watermark: dt.datetime | None = None
        self.lag: dict[str, int | None] = {}
        self._open_slas: set[str] = set()
        self._checked: set[str] = set()
        """SLAs measured once by this process (the first measurement within the limit resolves
        an incident a previous process left open)."""

    def batch(self, report: BatchReport, source: StreamSource) -> None:
        if not report.lost:
            self._events += report.messages
            self._dlq += report.dlq
            self._latencies.extend(report.latencies)
            self._last_commit = time.time()
            if report.watermark is not None:
                self._watermark = report.watermark
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush(source)

    def idle(self, source: StreamSource) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush(source)

    def flush(self, source: StreamSource, final: bool = False) -> None:
        from headwater.state.records import MetricValue

        now_m = time.monotonic()
        elapsed = max(now_m - self._since, 1e-6)
        try:
            self.lag = dict(source.lag())
        except Exception:  # lag is best effort: a broker hiccup must not stop the stream
            self.lag = {}
        now = time.time()
        inv = f"stream-{self.process}-{uuid.uuid4().hex[:8]}"
        values: list[tuple[str, str, float | None]] = []
        if self._events or not final:  # a stopping process keeps its last measured rates
            values += [
                ("stream_events", self.process, float(self._events)),
                ("stream_events_per_s", self.process, self._events / elapsed),
                (
                    "stream_dlq_rate",
                    self.process,
                    (self._dlq / self._events) if self._events else 0.0,
                ),
                ("stream_latency_p50", self.process, quantile(self._latencies, 0.5)),
                ("stream_latency_p99", self.process, quantile(self._latencies, 0.99)),
                ("stream_errors", self.process, float(self.errors)),
            ]
        if self._last_commit is not None:
            values.append(("stream_last_commit", self.process, self._last_commit))
        if self._watermark is not None:
            values.append(
                ("stream_watermark", "", self._watermark.replace(tzinfo=dt.UTC).timestamp())
            )
        for partition, lag in self.lag.items():
            values.append(("stream_lag", str(partition), None if lag is None else float(lag)))
        if final:
            values.append(("stream_stopped", self.process, now))
        if self.state is not None:
            self.state.metrics.record(
                MetricValue(inv, self.unique_id, now, metric, column, value)
                for metric, column, value in values
            )
            self.state.flush()
        self._check_slas()
        if self._events or not final:
            self._check_monitors(
                {metric: value for metric, column, value in values if column == self.process}
            )
        self._events, self._dlq, self._latencies, self.errors = 0, 0, [], 0
        self._since = now_m
        self._last_flush = now_m

    def _check_monitors(self, values: dict[str, float | None]) -> None:
        """`monitors:`: this process's new point of each watched series against its history
        (the anomaly detector of `headwater.observe.anomaly`), as incidents of trigger `anomaly`."""
        if self.alert is None or not self.spec.monitors or self.state is None:
            return
        from headwater.observe import Signal
        from headwater.observe.anomaly import detect

        signals: list[Signal] = []
        for monitor in self.spec.monitors:
            metric = monitor["metric"]
            value = values.get(f"stream_{metric}")
            if value is None:
                continue
            history = self.state.metrics.history(
                self.unique_id, f"stream_{metric}", self.process, limit=int(monitor["window"]) + 1
            )
            points = [(p.recorded_at, p.value) for p in history[:-1]]  # the new point is the last
            found = detect(
                points, (time.time(), value), sensitivity=float(monitor["sensitivity"]),
                direction=str(monitor["direction"]), window=int(monitor["window"]),
                min_points=int(monitor["min_points"]),
            )  # fmt: skip
            subject = f"{self.unique_id}:{metric}"
            if found.is_anomaly:
                low, high = found.lower, found.upper
                signals.append(Signal("anomaly", subject, "open",
                    f"stream `{self.spec.name}`: {metric} {value:g} is outside {low:g}..{high:g}",
                    details={"value": value, "lower": low, "upper": high, "score": found.score}))  # fmt: skip
                self._open_slas.add(subject)
            elif found.status == "ok" and (
                subject in self._open_slas or subject not in self._checked
            ):
                signals.append(
                    Signal(
                        "anomaly",
                        subject,
                        "ok",
                        f"stream `{self.spec.name}`: {metric} back in range",
                    )
                )
                self._open_slas.discard(subject)
                self._checked.add(subject)
        if signals:
            self.alert(signals)

    def _check_slas(self) -> None:
        if self.alert is None or not self.spec.slas:
            return
        from headwater.observe import Signal

        slas = self.spec.slas
        signals: list[Signal] = []
        checks: list[tuple[str, float | None, float, str]] = []
        if "max_lag" in slas:
            lag = sum(v for v in self.lag.values() if v is not None) if self.lag else None
            checks.append(("max_lag", lag, float(slas["max_lag"]), "events behind"))
        if "max_latency" in slas:
            checks.append(
                (
                    "max_latency",
                    quantile(self._latencies, 0.99),
                    float(slas["max_latency"]),
                    "s p99 latency",
                )
            )
        if "max_dlq_rate" in slas and self._events:
            checks.append(
                (
                    "max_dlq_rate",
                    self._dlq / self._events,
                    float(slas["max_dlq_rate"]),
                    "of events dead-lettered",
                )
            )
        for name, value, limit, unit in checks:
            if value is None:
                continue
            subject = f"{self.unique_id}:{name}"
            if value > limit:
                signals.append(
                    Signal(
                        "sla",
                        subject,
                        "open",
                        f"stream `{self.spec.name}`: {value:g} {unit} (SLA {name}: {limit:g})",
                        details={"value": value, "limit": limit},
                    )
                )
                self._open_slas.add(subject)
            elif subject in self._open_slas or subject not in self._checked:
                # back within the SLA (an incident an earlier process opened resolves too)
                signals.append(
                    Signal(
                        "sla",
                        subject,
                        "ok",
                        f"stream `{self.spec.name}`: {name} back within {limit:g}",
                    )
                )
                self._open_slas.discard(subject)
            self._checked.add(subject)
        if signals:
            self.alert(signals)


@dataclass
class StreamStatus:
    name: str
    unique_id: str
    processes: list[str] = field(default_factory=list)
    events_per_s: float = 0.0
    dlq_rate: float | None = None
    latency_p50: float | None = None
    latency_p99: float | None = None
    last_commit: float | None = None
    watermark: float | None = None
    lag: dict[str, float | None] = field(default_factory=dict)
    errors: float = 0.0
    """Broker or warehouse failures in the latest point of each running process."""
    offsets: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def iso(value: float | None) -> str | None:
            return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC).isoformat()

        return {
            "stream": self.name, "processes": self.processes, "running": bool(self.processes),
            "events_per_s": round(self.events_per_s, 3),
            "dlq_rate": self.dlq_rate, "errors": int(self.errors), "latency_p50_s": self.latency_p50,
            "latency_p99_s": self.latency_p99, "last_commit": iso(self.last_commit),
            "watermark": iso(self.watermark),
            "lag": {k: (None if v is None else int(v)) for k, v in self.lag.items()},
            "total_lag": int(sum(v for v in self.lag.values() if v is not None)) if self.lag else None,
            "offsets": self.offsets,
        }  # fmt: skip


def read_status(
    state: StateStore, name: str, unique_id: str, now: float | None = None
) -> StreamStatus:
    """The stream's latest points: rates summed over the processes seen in the last
    `ACTIVE_SECONDS` (and not stopped), latencies the worst of them, lag per partition."""
    now = time.time() if now is None else now
    status = StreamStatus(name, unique_id)
    points = state.metrics.series(unique_id, 1)
    latest: dict[tuple[str, str], tuple[float, float | None]] = {
        (p.metric, p.column_name): (p.recorded_at, p.value) for p in points
    }
    stopped = {col for (metric, col) in latest if metric == "stream_stopped"}
    active: set[str] = set()
    for (metric, col), (at, value) in latest.items():
        if metric == "stream_events_per_s" and now - at <= ACTIVE_SECONDS:
            stop_at = latest.get(("stream_stopped", col))
            if col in stopped and stop_at is not None and stop_at[0] >= at:
                continue
            active.add(col)
            status.events_per_s += value or 0.0
    status.processes = sorted(active)
    status.errors = sum(
        latest[("stream_errors", c)][1] or 0.0 for c in active if ("stream_errors", c) in latest
    )
    # a stopped stream shows what its processes measured last
    seen = active or {col for (metric, col) in latest if metric == "stream_events_per_s"}
    status.dlq_rate = _worst(latest, "stream_dlq_rate", seen)
    status.latency_p50 = _worst(latest, "stream_latency_p50", seen)
    status.latency_p99 = _worst(latest, "stream_latency_p99", seen)
    commits = [
        v for (m, _), (_, v) in latest.items() if m == "stream_last_commit" and v is not None
    ]
    status.last_commit = max(commits) if commits else None
    wm = latest.get(("stream_watermark", ""))
    status.watermark = wm[1] if wm else None
    status.lag = {col: v for (m, col), (_, v) in sorted(latest.items()) if m == "stream_lag"}
    return status


def _worst(
    latest: dict[tuple[str, str], tuple[float, float | None]], metric: str, cols: Iterable[str]
) -> float | None:
    values = [latest[(metric, c)][1] for c in cols if (metric, c) in latest]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
