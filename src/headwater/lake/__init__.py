"""Lake tables: Parquet, Delta Lake and Iceberg tables on local disk or object storage.

* `storage`: where a table lives (`TableLocation`) and how to reach it (credentials from the
  environment);
* `table`: the format seam (`LakeTable`: snapshot, commit with compare-and-swap, history,
  optimize, vacuum) and its records (`Snapshot`, `DataFile`, `Change`);
* `delta`, `iceberg`, `parquet`: the three formats;
* `files`: writing a SELECT as Parquet files with DuckDB and reading a version back;
* `LocalFiles` (here): the local path DuckDB reads each file of a version from — the file itself
  on local disk; for object storage, a copy in the project's lake cache (Parquet files of a lake
  table are immutable and uniquely named, so a cached copy never goes stale). DuckDB's `httpfs`
  extension, which would read object storage directly, is not assumed to be installable.

Materializations and sources built on them are in `headwater.materialize.lake`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from headwater.errors import ConfigError, ExecutionError
from headwater.lake.storage import TableLocation
from headwater.lake.table import Change, DataFile, LakeConflict, LakeTable, Snapshot

FORMATS = ("delta", "iceberg", "parquet")


def open_table(
    fmt: str, location: TableLocation, name: str, catalog_dir: str | None = None
) -> LakeTable:
    """The table of format ``fmt`` at ``location`` (it need not exist yet). ``catalog_dir``:
    where an Iceberg SQL catalog is kept (the project's state folder)."""
    if fmt == "delta":
        from headwater.lake.delta import DeltaLakeTable

        return DeltaLakeTable(location, name)
    if fmt == "iceberg":
        from headwater.lake.iceberg import IcebergTable

        return IcebergTable(location, name, catalog_dir=catalog_dir)
    if fmt == "parquet":
        from headwater.lake.parquet import ParquetTable

        return ParquetTable(location, name)
    raise ConfigError(
        f"`{name}`: unknown table format `{fmt}`", hint="use one of: " + ", ".join(FORMATS)
    )


class LocalFiles:
    """Local paths of a table's files for DuckDB: the files themselves, or cached copies."""

    def __init__(self, table: LakeTable, cache_root: str) -> None:
        self.table = table
        self.location = table.location
        digest = hashlib.sha256(self.location.uri.encode()).hexdigest()[:16]
        self.cache = os.path.join(cache_root, digest)

    @property
    def write_root(self) -> str:
        """Where DuckDB writes staged files: the table's own folder when it is local, else the
        cache folder they are uploaded from (same relative paths)."""
        return self.location.uri if self.location.is_local else self.cache

    def path(self, f: DataFile) -> str:
        if self.location.is_local:
            return self.table.file_uri(f)
        relative = self.location.relative(self.table.file_uri(f))
        return os.path.join(self.cache, *relative.split("/"))

    def paths(self, files: Sequence[DataFile]) -> list[str]:
        """Local paths of ``files``, downloading the ones not cached yet."""
        out = [self.path(f) for f in files]
        if not self.location.is_local:
            missing = [(f, p) for f, p in zip(files, out, strict=True) if not _complete(p, f.size)]
            if missing:
                self._download(missing)
        return out

    def _download(self, missing: list[tuple[DataFile, str]]) -> None:
        filesystem, root = self.location.filesystem()
        for f, local in missing:
            remote = self._remote_path(root, self.table.file_uri(f))
            Path(local).parent.mkdir(parents=True, exist_ok=True)
            partial = f"{local}.part"
            try:
                with filesystem.open_input_stream(remote) as src, open(partial, "wb") as dst:
                    while chunk := src.read(8 << 20):
                        dst.write(chunk)
            except OSError as exc:
                reason, hint = self.location.explain(exc)
                raise ExecutionError(
                    f"`{self.table.name}`: cannot read {self.table.file_uri(f)} from "
                    f"{self.location.describe()}: {reason}",
                    node=self.table.name,
                    hint=hint,
                ) from None
            os.replace(partial, local)

    def _remote_path(self, root: str, uri: str) -> str:
        """A file's path in the location's filesystem (the root's, so an
        ``abfss://container@account…`` URI becomes ``container/…``)."""
        relative = self.location.relative(uri)
        if "://" in relative:  # a file outside the table's root (absolute in the log)
            return relative.split("://", 1)[1]
        return f"{root}/{relative}"

    def upload(self, files: Sequence[DataFile]) -> None:
        """Copy staged files written under `write_root` to the table's storage."""
        if self.location.is_local or not files:
            return
        filesystem, root = self.location.filesystem()
        for f in files:
            local = os.path.join(self.cache, *f.path.split("/"))
            try:
                with (
                    open(local, "rb") as src,
                    filesystem.open_output_stream(f"{root}/{f.path}") as dst,
                ):
                    while chunk := src.read(8 << 20):
                        dst.write(chunk)
            except OSError as exc:
                reason, hint = self.location.explain(exc)
                raise ExecutionError(
                    f"`{self.table.name}`: cannot write {self.location.join(f.path)} to "
                    f"{self.location.describe()}: {reason}",
                    node=self.table.name,
                    hint=hint,
                ) from None

    def discard(self, files: Sequence[DataFile]) -> None:
        """Delete staged files of a change that was not committed (and their cached copies)."""
        self.table.discard(files)
        if not self.location.is_local:
            for f in files:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.cache, *f.path.split("/")))


def _complete(path: str, size: int) -> bool:
    try:
        return os.path.getsize(path) == size
    except OSError:
        return False


__all__ = [
    "FORMATS",
    "Change",
    "DataFile",
    "LakeConflict",
    "LakeTable",
    "LocalFiles",
    "Snapshot",
    "TableLocation",
    "open_table",
]
