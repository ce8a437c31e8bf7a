"""What `Context.stream_run`, `stream_status` and `stream_reset` do: find the stream nodes, wire
the processor to the project's warehouse, state store and alert channels."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, UsageError, did_you_mean
from headwater.project.definition import Node

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.observe import Signal
    from headwater.streams.monitor import StreamStatus
    from headwater.streams.processor import BatchReport, RunSummary
    from headwater.streams.spec import StreamSpec


def stream_nodes(ctx: Context, names: list[str] | None) -> list[tuple[Node, StreamSpec]]:
    """The streams named (all when ``names`` is None), parsed; a name that is not a stream is a
    usage error listing the streams."""
    from headwater.streams.spec import parse_stream

    nodes = {
        n.name: n
        for n in ctx.manifest.nodes.values()
        if n.resource_type == "stream" and "window_of" not in n.config
    }
    if names is None:
        chosen = sorted(nodes)
    else:
        chosen = []
        for name in names:
            if name not in nodes:
                if ctx.manifest.problems:  # a stream that did not load: say why
                    ctx.check_problems()
                listing = ", ".join(sorted(nodes)) or "none: add one under streams/*.yml"
                raise UsageError(
                    f"`{name}` is not a stream{did_you_mean(name, nodes)}",
                    hint=f"streams of this project: {listing}",
                )
            chosen.append(name)
    ctx.check_problems([nodes[n].unique_id for n in chosen])
    out = []
    for name in chosen:
        node = nodes[name]
        spec = parse_stream(
            node.config["stream"], path=node.path, default_schema=ctx.manifest.target.schema
        )
        out.append((node, spec))
    return out


def stream_run(
    ctx: Context,
    names: list[str],
    *,
    until_idle: bool = False,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> list[RunSummary]:
    from headwater.streams.monitor import StreamMonitor
    from headwater.streams.processor import StreamProcessor, process_id, run_streams

    streams = stream_nodes(ctx, names)
    stop = stop or threading.Event()
    state = ctx.state
    alert = _alerter(ctx)
    processors = []
    for node, spec in streams:
        monitor = StreamMonitor(spec, node.unique_id, state, process_id(), alert)
        processors.append(
            StreamProcessor(
                spec,
                lambda: ctx.open_engine(),
                str(ctx.root),
                monitor=monitor,
                on_batch=on_batch,
                stop=stop,
                state_dir=str(ctx.state_dir),
            )
        )
    return run_streams(processors, until_idle, max_seconds)


def _alerter(ctx: Context) -> Callable[[list[Signal]], None]:
    lock = threading.Lock()

    def alert(signals: list[Signal]) -> None:
        import uuid

        from headwater.observe.alerts import process_signals

        with lock:  # one state-store writer at a time
            process_signals(ctx, signals, f"stream-{uuid.uuid4().hex[:12]}")

    return alert


@dataclass
class StatusReport:
    streams: list[StreamStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"streams": [s.to_dict() for s in self.streams]}


def stream_status(ctx: Context, names: list[str] | None = None) -> StatusReport:
    """Each stream's latest metrics from the state store, and its committed offsets from the
    warehouse (read-only; skipped while another process holds an embedded warehouse)."""
    from headwater.errors import LockError
    from headwater.streams.monitor import read_status
    from headwater.streams.state import all_positions

    report = StatusReport()
    streams = stream_nodes(ctx, names)
    for node, spec in streams:
        report.streams.append(read_status(ctx.state, spec.name, node.unique_id))
    try:
        engine = ctx.open_engine(read_only=True)
    except (LockError, ConfigError):
        return report
    try:
        for status in report.streams:
            try:
                status.offsets = all_positions(engine, status.name)
            except Exception:  # no stream has committed yet: no state tables
                status.offsets = {}
    finally:
        engine.close()
    return report


def stream_reset(ctx: Context, name: str, to: str) -> dict[str, str | None]:
    """Move the stream's consumer group to ``to`` (`earliest`, `latest` or an ISO timestamp)
    at the broker, and make the warehouse's committed positions match. The warehouse is opened
    (and, when embedded, locked) before the broker is touched: if it cannot be, nothing moves."""
    from headwater.streams.connectors import open_source
    from headwater.streams.source import Delivery
    from headwater.streams.spec import parse_start
    from headwater.streams.state import ensure_state_tables, record_source, reset_positions

    ((_, spec),) = stream_nodes(ctx, [name])
    target: Any = to
    if to not in ("earliest", "latest"):
        try:
            target = parse_start(to)
        except ValueError:
            raise UsageError(
                f"`--to {to}` is not earliest, latest or an ISO timestamp",
                hint="e.g. --to 2026-01-01T00:00:00Z",
            ) from None
    # the warehouse first: opening it takes its lock (an embedded warehouse that a running
    # `stream run` holds fails here), so nothing has moved at the broker when it cannot be had
    engine = ctx.open_engine()
    try:
        ensure_state_tables(engine)
        source = open_source(spec.source_config())
        try:
            positions = source.reset(target)
        finally:
            source.close()
        reset_positions(
            engine, spec.name, positions if source.delivery is Delivery.POSITIONED else {}
        )
        record_source(engine, spec)  # the offsets now are the current source's
    finally:
        engine.close()
    return positions
