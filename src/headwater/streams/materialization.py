"""A stream node in a batch run (`headwater run`/`build`): its sink, dead-letter and window tables
are created when missing, empty, with the columns the first micro-batch would give them, so the
batch models that `ref()` them build (and their checks run) before `stream run` has consumed
anything. Consuming is `headwater stream run`, never a batch run."""

from __future__ import annotations

from pathlib import Path

from headwater.materialize.stateful import BuildContext, BuildOutcome, StatefulMaterialization


class StreamTables(StatefulMaterialization):
    KIND = "table"

    def build(self, ctx: BuildContext) -> BuildOutcome:
        from headwater.streams.decode import Decoder
        from headwater.streams.processor import StreamProcessor, delta_sink
        from headwater.streams.sink import StreamSink
        from headwater.streams.source import Delivery
        from headwater.streams.spec import parse_stream

        node = ctx.node
        spec = parse_stream(
            node.config["stream"], path=node.path, default_schema=ctx.engine.target.schema
        )
        processor = StreamProcessor(spec, lambda: ctx.engine, ctx.project.root)
        state_dir = str(Path(ctx.project.root) / ctx.project.state_dir)
        delta = delta_sink(spec, ctx.project.root, state_dir)
        sink = StreamSink(spec, Delivery.ACKED, str, processor._windows, delta)
        decoder = Decoder(spec, ctx.project.root)
        try:
            empty = decoder.decode([]).rows
        finally:
            decoder.close()
        created = sink.create_tables(ctx.engine, empty)
        message = (
            "created "
            + ", ".join(created)
            + " (empty until `headwater stream run "
            + spec.name
            + "`)"
            if created
            else "tables exist (filled by `headwater stream run " + spec.name + "`)"
        )
        return BuildOutcome(rows=0, message=message, checks=ctx.audit())
