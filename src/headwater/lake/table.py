"""The seam between headwater and a table format: what a lake table must do.

Every format (`delta`, `iceberg`, `parquet`) is a `LakeTable`. headwater writes a new version
the same way for all of them:

1. **stage**: the new rows are written as Parquet files by DuckDB (`headwater.lake.files`) beside
   the table's live files, under names no version refers to, so no reader sees them;
2. **audit**: the node's checks run against the version that *would* result (the current files,
   minus those the change removes, plus the staged ones), read by DuckDB;
3. **commit**: one atomic commit adds the staged files and removes the replaced ones, *only if
   the table is still at the version the change was computed from* (compare-and-swap). A commit
   that finds a newer version raises `LakeConflict`; the materialization recomputes and tries
   again. A rejected change is never committed: its staged files are deleted (and any left by a
   killed process are not part of any version, so `vacuum` removes them).

A `Snapshot` is one version: its files (with partition values and row counts), its schema and
partition columns. Reading a version is reading exactly its files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import ConflictError, ExecutionError
from headwater.lake.storage import TableLocation

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class DataFile:
    """One Parquet file of a version."""

    path: str
    """Relative to the table's root (as the Delta log names it), or an absolute URI."""
    rows: int
    size: int
    partition: dict[str, str | None] = field(default_factory=dict)
    """Partition column -> value as text (None: null), as the table's metadata holds it."""
    stats: str = ""
    """Delta's per-file statistics (JSON: numRecords, minValues, maxValues, nullCount)."""


@dataclass(frozen=True)
class Snapshot:
    """One version of a table, as headwater reads it."""

    version: int
    files: tuple[DataFile, ...]
    schema: pa.Schema
    partition_by: tuple[str, ...] = ()
    partitions_in_files: bool = False
    """True when the data files hold the partition columns (Iceberg, plain Parquet); False when
    only the metadata and the file paths do (Delta)."""
    timestamp: dt.datetime | None = None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


@dataclass(frozen=True)
class Change:
    """A staged change: files to add and files to remove, committed as one version."""

    adds: Sequence[DataFile]
    removes: Sequence[DataFile] = ()
    schema: pa.Schema | None = None
    """The table's schema after the change (a full rebuild may change it)."""
    overwrite: bool = False
    """The change replaces every file of the base version (a full rebuild)."""
    operation: str = "WRITE"
    metadata: dict[str, str] = field(default_factory=dict)
    """Recorded with the commit (e.g. headwater's invocation id and node)."""


@dataclass(frozen=True)
class HistoryEntry:
    """One version in a table's history."""

    version: int
    timestamp: dt.datetime | None
    operation: str
    details: dict[str, Any] = field(default_factory=dict)


class LakeConflict(ConflictError):
    """Another writer committed a version after the one this change was computed from."""


class LakeTable(ABC):
    """One table in one format at one location."""

    FORMAT = ""
    TIME_TRAVEL = True
    """Whether older versions can be read (plain Parquet keeps none)."""
    DATA_PREFIX = ""
    """Folder under the root where staged data files are written (Iceberg: ``data``)."""
    PARTITIONS_IN_FILES = False
    """Whether data files hold the partition columns (Iceberg, Parquet) or only their paths and
    the metadata do (Delta)."""
    STAGES_IN_PLACE = True
    """Staged files are written under the table's root and stay where they are when committed
    (Delta, Iceberg); False: staged apart and moved in (`stage_root`)."""
    CASTS: Mapping[str, str] = {}
    """DuckDB types the format cannot store -> the type they are written as."""

    def __init__(self, location: TableLocation, name: str) -> None:
        self.location = location
        self.name = name
        """The node (or source) the table belongs to, for messages."""

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def snapshot(
        self, version: int | None = None, as_of: dt.datetime | None = None
    ) -> Snapshot | None:
        """The current version, a given one, or the last one committed at or before ``as_of``;
        None when the table does not exist."""

    @abstractmethod
    def commit(self, change: Change, base: Snapshot | None, partition_by: Sequence[str]) -> int:
        """Commit ``change`` as the version after ``base`` (None: create the table); raise
        `LakeConflict` if the table moved on from ``base``. Returns the new version."""

    @abstractmethod
    def history(self, limit: int | None = None) -> list[HistoryEntry]: ...

    def optimize(
        self,
        target_size: int | None = None,
        zorder: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Compact the table's files (Z-ordered by ``zorder``) as a new version with the same
        rows; ``metadata`` is recorded with the commit."""
        raise ExecutionError(
            f"`{self.name}`: {self.FORMAT} tables cannot be compacted by headwater"
        )

    def vacuum(self, retention_hours: float, dry_run: bool = False) -> list[str]:
        raise ExecutionError(f"`{self.name}`: {self.FORMAT} tables have nothing to vacuum")

    def discard(self, files: Sequence[DataFile]) -> None:
        """Delete staged files that no version refers to (a rejected or failed change)."""
        filesystem, root = self.location.filesystem()
        for f in files:
            path = f.path if "://" in f.path or f.path.startswith("/") else f"{root}/{f.path}"
            if "://" in path:
                path = path.split("://", 1)[1]
            with contextlib.suppress(FileNotFoundError, OSError):
                filesystem.delete_file(path)

    def stage_root(self) -> str | None:
        """A folder outside the table where a change's files are staged (named by absolute path
        until the commit moves them in), or None: staged in place, under the table's root,
        named relative to it (Delta, Iceberg: files no version refers to are invisible)."""
        return None

    def file_uri(self, f: DataFile) -> str:
        if "://" in f.path or f.path.startswith("/"):
            return f.path
        return self.location.join(f.path)
