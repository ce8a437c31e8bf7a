"""Delta Lake tables through deltalake (delta-rs).

* **Versions** are Delta versions. A `Snapshot` lists the version's add actions (so removed files
  that merges leave on disk are never read: see ``platform-notes``), with their partition values
  and row counts, the schema and the partition columns.
* **Commits** go through ``create_write_transaction`` (or ``create_table_with_add_actions`` for a
  new table) with the staged files as add actions and the replaced files as remove actions, and
  ``max_commit_retries=0``: delta-rs then refuses to commit on top of a version other than the
  one the change was computed from, which headwater reports as `LakeConflict` and recomputes.
  (delta-rs would otherwise rebase a blind append over a concurrent overwrite, and it does not
  reject a repeated app-transaction version either.) Each commit carries headwater's invocation
  id and node in its commit info, so `history` shows who wrote what.
* **Time travel**: ``DeltaTable(uri, version=N)`` and ``load_as_version(datetime)``.
* **Maintenance**: ``optimize.compact`` / ``optimize.z_order`` and ``vacuum`` with a retention
  window (delta-rs keeps every file a version inside the window needs).

Not read here (an error says so): tables with deletion vectors or column mapping, whose rows are
not simply the rows of their Parquet files.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headwater.errors import ExecutionError
from headwater.lake.files import DELTA_CASTS
from headwater.lake.table import (
    Change,
    DataFile,
    HistoryEntry,
    LakeConflict,
    LakeTable,
    Snapshot,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

TABLE_CONFIGURATION = {"delta.checkpointInterval": "10"}
"""Properties of tables headwater creates: a checkpoint every 10 commits (delta-rs's default is
100), so opening a table that is rewritten on every run replays a short log."""
_UNREADABLE_FEATURES = {"deletionVectors": "deletion vectors", "columnMapping": "column mapping"}


def partition_text(value: Any) -> str | None:
    """A typed partition value as Delta serializes it in ``partitionValues``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _millis(value: Any) -> dt.datetime | None:
    if not isinstance(value, int | float):
        return None
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)


class DeltaLakeTable(LakeTable):
    FORMAT = "delta"
    CASTS = DELTA_CASTS

    def _open(self, version: int | None = None) -> DeltaTable:
        from deltalake import DeltaTable

        try:
            return DeltaTable(
                self.location.uri,
                version=version,
                storage_options=self.location.storage_options() or None,
            )
        except Exception as exc:  # deltalake raises its own TableNotFoundError/OSError
            raise self._error(exc, "opening") from None

    def _error(self, exc: BaseException, what: str) -> ExecutionError:
        reason, hint = self.location.explain(exc)
        return ExecutionError(
            f"`{self.name}`: Delta table at {self.location.describe()} failed while {what}: "
            f"{reason}",
            node=self.name,
            hint=hint,
        )

    def exists(self) -> bool:
        """Whether a Delta table is there (by opening it: deltalake's `is_deltatable` holds the
        GIL while it waits for the store)."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            DeltaTable(self.location.uri, storage_options=self.location.storage_options() or None)
        except TableNotFoundError:
            return False
        except Exception as exc:
            raise self._error(exc, "looking it up") from None
        return True

    def snapshot(
        self, version: int | None = None, as_of: dt.datetime | None = None
    ) -> Snapshot | None:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:  # one read of the log (not `exists` and then a second one)
            table = DeltaTable(
                self.location.uri,
                version=version,
                storage_options=self.location.storage_options() or None,
            )
        except TableNotFoundError:
            if version is not None and self.exists():
                raise self._error(LookupError(f"no version {version}"), "opening") from None
            return None
        except Exception as exc:
            raise self._error(exc, "opening") from None
        if as_of is not None:
            stamp = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
            try:
                table.load_as_version(stamp)
            except Exception as exc:
                raise ExecutionError(
                    f"`{self.name}` has no version at or before {stamp.isoformat()}: {exc}",
                    node=self.name,
                    hint=f"see its versions with `headwater lake history {self.name}`",
                ) from None
        return self._snapshot(table)

    def _snapshot(self, table: DeltaTable) -> Snapshot:
        import pyarrow as pa

        self._check_readable(table)
        # through the stream interface: `pa.table()` imports pandas (~0.3 s) to ask whether
        # the arro3 table is a DataFrame
        actions = pa.RecordBatchReader.from_stream(table.get_add_actions(flatten=False)).read_all()
        partition_by = tuple(table.metadata().partition_columns)
        files = []
        paths = actions.column("path").to_pylist()
        sizes = actions.column("size_bytes").to_pylist()
        counts = actions.column("num_records").to_pylist()
        parts = (
            actions.column("partition").to_pylist()
            if "partition" in actions.column_names
            else [None] * len(paths)
        )
        for path, size, rows, part in zip(paths, sizes, counts, parts, strict=True):
            values = {c: partition_text((part or {}).get(c)) for c in partition_by}
            files.append(DataFile(str(path), int(rows or 0), int(size), values))
        return Snapshot(
            version=int(table.version()),
            files=tuple(files),
            schema=pa.schema(table.schema().to_arrow()),
            partition_by=partition_by,
            partitions_in_files=False,
        )

    def _check_readable(self, table: DeltaTable) -> None:
        protocol = table.protocol()
        features = set(protocol.reader_features or [])
        mode = (table.metadata().configuration or {}).get("delta.columnMapping.mode")
        if mode and mode != "none":
            features.add("columnMapping")
        for feature, label in _UNREADABLE_FEATURES.items():
            if feature in features:
                raise ExecutionError(
                    f"`{self.name}`: the Delta table at {self.location.describe()} uses {label}, "
                    "which headwater does not read",
                    node=self.name,
                    hint="rewrite it without them (e.g. `REORG TABLE ... APPLY (PURGE)` and "
                    "`delta.columnMapping.mode = none` in the engine that wrote it)",
                )

    def commit(self, change: Change, base: Snapshot | None, partition_by: Sequence[str]) -> int:
        from deltalake import Schema
        from deltalake.exceptions import CommitFailedError
        from deltalake.transaction import (
            AddAction,
            CommitProperties,
            RemoveAction,
            create_table_with_add_actions,
        )

        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        adds: list[AddAction | RemoveAction] = [
            AddAction(f.path, f.size, dict(f.partition), now, True, f.stats or _stats(f))
            for f in change.adds
        ]
        metadata = {"headwater.operation": change.operation, **change.metadata}
        if base is None:
            assert change.schema is not None
            try:
                create_table_with_add_actions(
                    self.location.uri,
                    Schema.from_arrow(delta_schema(change.schema)),
                    [a for a in adds if isinstance(a, AddAction)],
                    mode="error",
                    partition_by=list(partition_by) or None,
                    configuration=TABLE_CONFIGURATION,
                    storage_options=self.location.storage_options() or None,
                    # no rebase: a concurrent create must lose, not commit on top of the winner
                    commit_properties=CommitProperties(
                        max_commit_retries=0, custom_metadata=metadata
                    ),
                )
            except Exception as exc:
                if self.exists():
                    raise LakeConflict(
                        f"`{self.name}`: another writer created the Delta table at "
                        f"{self.location.describe()} first",
                        node=self.name,
                    ) from None
                raise self._error(exc, "creating it") from None
            return 0
        if not change.overwrite:
            adds += [
                RemoveAction(f.path, True, now, f.size, dict(f.partition) or None)
                for f in change.removes
            ]
        table = self._open(base.version)
        schema = delta_schema(change.schema if change.schema is not None else base.schema)
        try:
            table.create_write_transaction(
                adds,
                mode="overwrite" if change.overwrite else "append",
                schema=schema,
                partition_by=list(partition_by) or None,
                commit_properties=CommitProperties(max_commit_retries=0, custom_metadata=metadata),
            )
        except CommitFailedError:
            raise LakeConflict(
                f"`{self.name}`: another writer committed to the Delta table after version "
                f"{base.version} while this change was computed from it",
                node=self.name,
                hint="headwater recomputes the change from the new version; if this persists, "
                "two schedules write the same table",
            ) from None
        except Exception as exc:
            raise self._error(exc, "committing") from None
        return base.version + 1

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        out = []
        for item in self._open().history(limit):
            details = {
                k: v
                for k, v in item.items()
                if k not in ("version", "timestamp", "operation", "engineInfo", "clientVersion")
            }
            out.append(
                HistoryEntry(
                    int(item["version"]),
                    _millis(item.get("timestamp")),
                    str(item.get("operation", "")),
                    details,
                )
            )
        return out

    def optimize(
        self,
        target_size: int | None = None,
        zorder: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        from deltalake import CommitProperties

        table = self._open()
        commit = CommitProperties(custom_metadata=dict(metadata)) if metadata else None
        try:
            if zorder:
                metrics = table.optimize.z_order(
                    list(zorder), target_size=target_size, commit_properties=commit
                )
            else:
                metrics = table.optimize.compact(target_size=target_size, commit_properties=commit)
        except Exception as exc:
            raise self._error(exc, "optimizing") from None
        return dict(metrics)

    def vacuum(self, retention_hours: float, dry_run: bool = False) -> list[str]:
        table = self._open()
        try:
            return list(
                table.vacuum(
                    retention_hours=math.ceil(retention_hours),  # never keep less than asked
                    dry_run=dry_run,
                    enforce_retention_duration=False,
                    full=True,  # also files no version refers to (a killed write's), by age
                )
            )
        except Exception as exc:
            raise self._error(exc, "vacuuming") from None


def delta_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as Delta stores it: zoned timestamps are UTC instants (DuckDB names the zone
    ``Etc/UTC``, which delta-rs refuses; the values are the same)."""
    import pyarrow as pa

    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.tz is not None and t.tz != "UTC":
            f = f.with_type(pa.timestamp(t.unit, tz="UTC"))
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def _stats(f: DataFile) -> str:
    return json.dumps({"numRecords": f.rows})
