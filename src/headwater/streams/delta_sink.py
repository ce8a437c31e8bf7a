"""A stream whose sink is a Delta table (`sink: {delta: {path: s3://bucket/orders_live}}`).

A Delta commit cannot join the warehouse transaction, so the warehouse decides and Delta follows,
idempotently:

1. the micro-batch's warehouse transaction (positions, DLQ, windows: `headwater.streams.sink`)
   also writes the batch's rows into `<stream>__hw_delta_pending`, tagged with the batch's number
   (`stream_state.batches`, increasing under the stream's row lock);
2. after COMMIT, every pending batch is appended to the Delta table in number order, each as one
   Delta commit carrying the app transaction `(headwater-stream:<name>, number)`, and removed
   from the pending table.

A batch is appended only if the table's stored app-transaction version is below its number:
delta-rs does not refuse a repeated version (see the platform notes: a repeated write doubled
the rows), so headwater reads `transaction_version` itself, and commits with
`max_commit_retries=0`, so two processes flushing the same batch cannot both win. A crash between
the two steps leaves the batch pending; the next flush (any process, at its next micro-batch or
start) appends it. The warehouse relation of the sink is a view over the table's current files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.engines.base import Engine, quote_identifier
from headwater.errors import ExecutionError
from headwater.project.definition import Relation

if TYPE_CHECKING:
    from headwater.streams.spec import StreamSpec

BATCH = "_hw_batch"
MAX_ATTEMPTS = 20


class DeltaSink:
    def __init__(self, spec: StreamSpec, project_root: str, state_dir: str) -> None:
        from headwater.lake.spec import LakeSpec
        from headwater.lake.storage import TableLocation

        assert spec.sink.delta is not None
        self.spec = spec
        self.lake = LakeSpec(
            "delta", TableLocation.parse(spec.sink.delta, project_root), state_dir=state_dir
        )
        self.app_id = f"headwater-stream:{spec.name}"
        base = spec.sink.table
        assert base is not None
        self.relation = base
        self.pending = Relation(base.schema, f"{spec.name}__hw_delta_pending", base.database)

    # -- in the micro-batch's transaction ------------------------------------------------------------
    def stage(self, engine: Engine, source: str, batch: int) -> int:
        """Keep the batch's rows (``source``: the transformed batch) as pending batch ``batch``."""
        engine.ensure_schema(self.pending.schema)
        if not engine.columns(self.pending):
            engine.execute(
                f"CREATE TABLE {self.pending.render()} AS SELECT CAST(0 AS BIGINT) AS {BATCH}, * "
                f"FROM {source} LIMIT 0"
            )
            engine._remember(self.pending, "table")
        cols = [c for c, _ in engine.query_columns(f"SELECT * FROM {source}")]
        have = {c.lower() for c, _ in engine.columns(self.pending)}
        for col, type_name in engine.query_columns(f"SELECT * FROM {source}"):
            if col.lower() not in have:
                engine.strategies.add_column(self.pending, col, type_name)
        names = ", ".join(quote_identifier(c) for c in cols)
        rows = engine.execute(
            f"INSERT INTO {self.pending.render()} ({BATCH}, {names}) SELECT ?, {names} FROM {source}",
            [batch],
        )
        return int(rows[0][0]) if rows and rows[0] else 0

    # -- after COMMIT ------------------------------------------------------------------------------------
    def flush(self, engine: Engine) -> int:
        """Append the pending batches to the Delta table, in order, each once; point the sink's
        view at the new version. Returns the rows appended."""
        if not engine.columns(self.pending):
            return 0
        appended = 0
        numbers = [
            int(r[0])
            for r in engine.execute(
                f"SELECT DISTINCT {BATCH} FROM {self.pending.render()} ORDER BY 1"
            )
        ]
        for number in numbers:
            data = engine.fetch_arrow(
                f"SELECT * FROM {self.pending.render()} WHERE {BATCH} = {number}"
            )
            data = data.drop_columns([BATCH])
            appended += self._append(data, number)
            engine.execute(f"DELETE FROM {self.pending.render()} WHERE {BATCH} = ?", [number])
        self.show(engine)
        return appended

    def appended(self) -> int:
        """The last batch number appended to the table (its app transaction; 0: none). A warehouse
        that starts counting the stream's batches (new, or recreated) starts after it: numbers it
        gave again would read as appended already, and their events would be lost."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        uri = self.lake.location.uri
        try:
            done = DeltaTable(uri, storage_options=self.lake.location.storage_options() or None)
        except TableNotFoundError:
            return 0
        return int(done.transaction_version(self.app_id) or 0)

    def _append(self, data: object, number: int) -> int:
        import pyarrow as pa
        from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
        from deltalake.exceptions import CommitFailedError, TableNotFoundError

        assert isinstance(data, pa.Table)
        uri = self.lake.location.uri
        options = self.lake.location.storage_options() or None
        for _ in range(MAX_ATTEMPTS):
            try:
                done = DeltaTable(uri, storage_options=options).transaction_version(self.app_id)
            except TableNotFoundError:
                done = None
            if done is not None and done >= number:
                return 0  # appended before (by this process before a crash, or another one)
            try:
                write_deltalake(
                    uri, data, mode="append", schema_mode="merge", storage_options=options,
                    commit_properties=CommitProperties(
                        app_transactions=[Transaction(self.app_id, number)], max_commit_retries=0,
                        custom_metadata={"headwater.stream": self.spec.name, "headwater.batch": str(number)},
                    ),
                )  # fmt: skip
                return int(data.num_rows)
            except CommitFailedError:
                continue  # another writer committed first: read its app version again
            except Exception as exc:
                if "already exists" in str(exc).lower() or "conflict" in str(exc).lower():
                    continue
                raise ExecutionError(
                    f"stream `{self.spec.name}`: cannot append to the Delta table at "
                    f"{self.lake.location.describe()}: {exc}"
                ) from exc
        raise ExecutionError(
            f"stream `{self.spec.name}`: the Delta table at {self.lake.location.describe()} kept "
            f"changing under batch {number}",
            hint="another writer commits to it continuously; the batch stays pending and is retried",
        )

    def show(self, engine: Engine) -> None:
        """Point the sink's relation (a view) at the table's current files."""
        from headwater.lake.files import scan_sql

        table = self.lake.table(self.spec.name)
        snapshot = table.snapshot()
        if snapshot is None:
            return
        files = self.lake.files(table)
        engine.ensure_schema(self.relation.schema)
        if engine.relation_kind(self.relation) not in (None, "view"):
            engine.drop(self.relation)
        engine.create_or_replace(
            self.relation, scan_sql(snapshot, files.paths(snapshot.files)), "view"
        )

    def create_empty(self, engine: Engine, source: str) -> None:
        """A batch run before any event: an empty Delta table with the batch's columns, so the
        sink's view exists for the models that `ref()` it."""
        from deltalake import write_deltalake

        table = self.lake.table(self.spec.name)
        if not table.exists():
            empty = engine.fetch_arrow(f"SELECT * FROM {source} LIMIT 0")
            write_deltalake(self.lake.location.uri, empty, mode="append",
                            storage_options=self.lake.location.storage_options() or None)  # fmt: skip
        self.show(engine)
