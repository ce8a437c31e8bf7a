"""Plain Parquet tables: a hive-partitioned folder of zstd Parquet files that any engine can read
by listing it, published by swapping the whole folder.

* **Layout**: ``<root>/[col=value/…]part-<uuid>.parquet`` with the partition columns also inside
  the files (so a reader that ignores the folder names still sees them), and
  ``<root>/_headwater.json``: the version number and the last commits (a reader listing the
  folder skips names starting with ``_`` or ``.``, as Spark, pyarrow and DuckDB's hive readers
  do).
* **Staging**: a change is written into a hidden sibling folder (``.hw-stage-<id>-<name>``), never
  into the live folder, so a reader listing the live folder never sees a staged file.
* **Publishing**: the next version is assembled in another hidden sibling (``.hw-new-…``): the
  files it keeps are hard links to the live ones (no copy), the staged files are moved in, the
  marker is written; then the live folder is renamed aside and the new one renamed into place,
  and the old one is deleted. Readers see the old folder or the new one, never half of either
  (between the two renames the path does not exist for a moment). Local disks only: object stores
  have no rename (`LakeSpec` refuses them).
* **Compare-and-swap**: commits take an exclusive lock on a sibling lock file (``fcntl``), then
  compare the marker's version with the version the change was computed from.
* No time travel: the old folder is gone after a swap (Delta and Iceberg keep versions).

A folder written by another tool is read as version 0: every visible ``*.parquet`` file below it,
with hive partition values taken from the folder names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from headwater.errors import ExecutionError
from headwater.lake.table import Change, DataFile, HistoryEntry, LakeConflict, LakeTable, Snapshot

if TYPE_CHECKING:
    import pyarrow as pa

MARKER = "_headwater.json"
HISTORY_KEPT = 100
"""Commits remembered in the marker."""


def _hidden(part: str) -> bool:
    return part.startswith((".", "_"))


class ParquetTable(LakeTable):
    FORMAT = "parquet"
    TIME_TRAVEL = False
    PARTITIONS_IN_FILES = True
    STAGES_IN_PLACE = False

    def __init__(self, location: Any, name: str) -> None:
        super().__init__(location, name)
        self.root = Path(location.uri)
        self._stage: Path | None = None

    def _sibling(self, kind: str) -> Path:
        return self.root.parent / f".hw-{kind}-{uuid.uuid4().hex[:12]}-{self.root.name}"

    def stage_root(self) -> str | None:
        if self._stage is None:
            self._stage = self._sibling("stage")
            self._stage.mkdir(parents=True)
        return str(self._stage)

    def exists(self) -> bool:
        return self.root.is_dir()

    def _marker(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / MARKER).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 0, "history": []}
        except (OSError, ValueError) as exc:
            raise ExecutionError(
                f"`{self.name}`: cannot read {self.root / MARKER}: {exc}", node=self.name
            ) from None
        return data if isinstance(data, dict) else {"version": 0, "history": []}

    def snapshot(
        self, version: int | None = None, as_of: dt.datetime | None = None
    ) -> Snapshot | None:
        if version is not None or as_of is not None:
            raise ExecutionError(
                f"`{self.name}` is a plain Parquet table, which keeps no older versions",
                node=self.name,
                hint="make it a Delta or Iceberg table to read older versions",
            )
        if not self.exists():
            return None
        marker = self._marker()
        files = list(self._files())
        schema, in_files = self._schema(files)
        partition_by = tuple(files[0].partition) if files else tuple(marker.get("partition_by", ()))
        stamp = marker.get("committed_at")
        return Snapshot(
            version=int(marker.get("version", 0)),
            files=tuple(files),
            schema=schema,
            partition_by=partition_by,
            partitions_in_files=in_files,
            timestamp=dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
        )

    def _files(self) -> Iterator[DataFile]:
        import pyarrow.parquet as pq

        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
            for filename in sorted(filenames):
                if _hidden(filename) or not filename.endswith(".parquet"):
                    continue
                path = Path(dirpath) / filename
                relative = path.relative_to(self.root).as_posix()
                partition: dict[str, str | None] = {}
                for segment in relative.split("/")[:-1]:
                    key, sep, value = segment.partition("=")
                    if sep:
                        text = unquote(value)
                        partition[unquote(key)] = (
                            None if text == "__HIVE_DEFAULT_PARTITION__" else text
                        )
                rows = pq.read_metadata(path).num_rows
                yield DataFile(relative, rows, path.stat().st_size, partition)

    def _schema(self, files: Sequence[DataFile]) -> tuple[pa.Schema, bool]:
        """The columns of the files (partition columns typed as the files hold them, else as
        pyarrow infers them from the folder names), and whether the files hold them."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        marker = self._marker()
        if not files:
            stored = marker.get("schema")
            if stored:
                return pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(stored))), True
            return pa.schema([]), True
        paths = [str(self.root / f.path) for f in files]
        dataset = ds.dataset(paths, format="parquet", partitioning="hive",
                             partition_base_dir=str(self.root))  # fmt: skip
        in_files = all(c in pa.parquet.read_schema(paths[0]).names for c in files[0].partition)
        return dataset.schema, in_files

    def commit(self, change: Change, base: Snapshot | None, partition_by: Sequence[str]) -> int:
        with self._locked():
            current = self._marker()["version"] if self.exists() else None
            expected = base.version if base is not None else None
            if current != expected:
                raise LakeConflict(
                    f"`{self.name}`: another writer published version {current} of "
                    f"{self.root} after version {expected}, which this change was computed from",
                    node=self.name,
                )
            version = 0 if expected is None else expected + 1
            new = self._sibling("new")
            new.mkdir(parents=True)
            try:
                self._assemble(new, change, base)
                self._write_marker(new, version, change, partition_by)
                self._swap(new)
            except BaseException:
                shutil.rmtree(new, ignore_errors=True)
                raise
        self._drop_stage()
        return version

    def _assemble(self, new: Path, change: Change, base: Snapshot | None) -> None:
        gone = {f.path for f in change.removes}
        kept = [] if change.overwrite or base is None else [
            f for f in base.files if f.path not in gone
        ]  # fmt: skip
        for f in kept:
            target = new / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.root / f.path, target)
            except OSError:  # another file system, or no hard links
                shutil.copy2(self.root / f.path, target)
        stage = Path(self._stage) if self._stage is not None else None
        for f in change.adds:
            source = Path(f.path)
            relative = (
                source.relative_to(stage)
                if stage is not None and source.is_absolute()
                else Path(f.path)
            )
            target = new / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source if source.is_absolute() else self.root / f.path, target)

    def _write_marker(self, new: Path, version: int, change: Change,
                      partition_by: Sequence[str]) -> None:  # fmt: skip
        previous = self._marker() if self.exists() else {"history": []}
        now = dt.datetime.now(dt.UTC).isoformat()
        entry = {"version": version, "committed_at": now, "operation": change.operation,
                 **change.metadata}  # fmt: skip
        history = [entry, *previous.get("history", [])][:HISTORY_KEPT]
        marker: dict[str, Any] = {"version": version, "committed_at": now,
                                  "partition_by": list(partition_by), "history": history}  # fmt: skip
        if change.schema is not None:
            marker["schema"] = change.schema.serialize().to_pybytes().hex()
        (new / MARKER).write_text(json.dumps(marker), encoding="utf-8")

    def _swap(self, new: Path) -> None:
        old = self._sibling("old") if self.exists() else None
        if old is not None:
            os.replace(self.root, old)
        try:
            os.replace(new, self.root)
        except BaseException:
            if old is not None:
                os.replace(old, self.root)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.root.parent.mkdir(parents=True, exist_ok=True)
        lock = self.root.parent / f".hw-lock-{self.root.name}"
        with open(lock, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _drop_stage(self) -> None:
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None

    def discard(self, files: Sequence[DataFile]) -> None:
        self._drop_stage()

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        if not self.exists():
            return []
        out = []
        for item in self._marker().get("history", [])[:limit]:
            stamp = item.get("committed_at")
            details = {
                k: v for k, v in item.items() if k not in ("version", "committed_at", "operation")
            }
            out.append(HistoryEntry(int(item["version"]), dt.datetime.fromisoformat(stamp) if stamp else None,
                                    str(item.get("operation", "")), details))  # fmt: skip
        return out
