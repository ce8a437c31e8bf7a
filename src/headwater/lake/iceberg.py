"""Iceberg tables through pyiceberg (0.12), with a SQL catalog.

* **Catalog** (`headwater.lake.iceberg_catalog`): pyiceberg's `SqlCatalog` on SQLite in the
  project's state folder, or on the database named by ``HEADWATER_ICEBERG_CATALOG_URI``
  (PostgreSQL). Tables live in namespace ``headwater``, named after their location (``<last path
  segment>_<hash of the URI>``), so one catalog serves every table of a project and a location
  always maps to the same entry. A table's own folder holds ``metadata/`` (written by pyiceberg)
  and ``data/`` (written by DuckDB).
* **Versions** are the snapshots' **sequence numbers** (1, 2, 3 … like Delta versions; 0 is a table
  without a snapshot). ``snapshot(version=N)`` takes a sequence number, or a snapshot id when N is
  larger than every sequence number; ``as_of`` is the snapshot that was current at that time (the
  snapshot log). Format-1 tables written elsewhere have no sequence numbers: their versions are the
  snapshots' positions in time order (which shift when snapshots expire).
* **Commits** add DuckDB's staged Parquet files as they are (``parquet_file_to_data_file`` reads
  each footer for the row count, column statistics and the identity-partition values, which DuckDB
  writes into the files) and remove the replaced ones, in **one** snapshot: pyiceberg's overwrite
  snapshot producer (``update_snapshot().overwrite()`` with ``delete_data_file`` /
  ``append_data_file``; a fast append when nothing is removed). Compare-and-swap: the table must
  still be at the change's base version when the commit starts, and the catalog applies the commit
  only if the table's metadata file is still the one the commit was computed from (the SQL
  catalog's conditional UPDATE, plus pyiceberg's ``AssertRefSnapshotId``). pyiceberg 0.12 would
  otherwise *retry* a failed commit on top of the newer snapshot (rebasing a blind append), so
  every table headwater writes has ``commit.retry.num-retries = 0``: a concurrent commit surfaces
  as `LakeConflict` and headwater recomputes. Creating a table is one transaction with its first
  snapshot; a concurrent create fails on the catalog's primary key (`LakeConflict` too).
  headwater's operation and metadata (invocation id, node) go into the snapshot summary under
  ``headwater.*`` keys.
* **Schema changes** (a full rebuild, ``Change.overwrite``; `headwater.lake.iceberg_schema`):
  applied with ``update_schema`` in the commit's transaction, field ids kept by name as Iceberg's
  replace-table does (a changed primitive type is updated in place, a changed nested type is
  dropped and added with fresh ids, new columns added, missing ones dropped, the order follows
  the new SELECT); a changed ``partition_by`` replaces the partition spec in the same
  transaction. Such a rebuild is committed like a replace-table: the new snapshot holds only the
  new files and has no parent (the ``main`` branch is removed and set again in the same commit,
  the removal asserting it still points at the base snapshot), because pyiceberg cannot match
  the old files against a partition spec whose columns the new schema dropped or retyped. Older
  snapshots stay readable with their own schema. A commit that is not a rebuild must match the
  table's columns and partitioning.
* **Reading** a version: its data files from ``scan(snapshot_id=…).plan_files()``, with paths
  relative to the table root when under it. headwater reads the files themselves with DuckDB, so
  a snapshot whose files carry **delete files** (merge-on-read deletes written by Spark, Trino,
  Flink …) is refused: its rows are not just the rows of its files. Tables written by other
  engines and not in headwater's catalog are read (not written) from their newest metadata file
  (``metadata/version-hint.text`` if present, else the highest-numbered ``*.metadata.json``).
  headwater writes that hint after each commit, so readers without the catalog (DuckDB's
  ``iceberg_scan``, pyiceberg's ``StaticTable``, a source in another project) find the current
  version, not a metadata file a rejected commit left behind.

**What pyiceberg 0.12 cannot do, and what headwater does instead**

* **Compaction**: pyiceberg has no rewrite-data-files action; `optimize` raises and says so.
* **Removing files**: pyiceberg's ``expire_snapshots`` only drops snapshots from the metadata and
  deletes no file, and pyiceberg has no orphan-file removal. `vacuum` (in
  `headwater.lake.iceberg_vacuum`) therefore expires every snapshot that stopped being current
  before the retention window (the one current at the start of the window stays, so ``as_of``
  inside the window keeps working; branch and tag heads stay), then deletes itself the files
  under ``data/`` and the manifest (``*.avro``) files under ``metadata/`` that no remaining
  snapshot references and that are older than the window (staged files of a build in progress are
  newer). Metadata JSON files are left alone. As with Delta, a window shorter than the longest
  build is unsafe.
* GCS and Azure locations go through pyiceberg's FileIO with their SDKs' own environment
  variables; they are untested here (no emulator installs from the registries).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, ExecutionError
from headwater.lake import iceberg_catalog as catalogs
from headwater.lake.delta import partition_text
from headwater.lake.files import DELTA_CASTS
from headwater.lake.iceberg_catalog import CATALOG_URI_ENV, NAMESPACE
from headwater.lake.iceberg_schema import (
    arrow_schema,
    evolve_schema,
    iceberg_schema,
    identity_columns,
    is_identity,
    python_value,
    same_value,
    type_problems,
    versions,
)
from headwater.lake.storage import TableLocation
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
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.manifest import DataFile as IcebergDataFile
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table, Transaction
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.table.snapshots import Snapshot as IcebergSnapshot

ICEBERG_CASTS: dict[str, str] = {k: v for k, v in DELTA_CASTS.items() if k != "TIME"}
"""DuckDB types Iceberg cannot store, and what they are written as: Delta's list less TIME, which
Iceberg has (``time``, microseconds). Unsigned integers would be accepted by pyiceberg but overflow
Iceberg's signed ``int``/``long``; DuckDB writes HUGEINT as DOUBLE; INTERVAL, JSON, BIT and BIGNUM
have no Iceberg type; TIME WITH TIME ZONE would be shifted to UTC; nanosecond timestamps need
format 3. UUID is written as text although Iceberg has ``uuid`` (and pyiceberg reads it): DuckDB
hands UUIDs to Arrow as strings, so the table's schema (from the SELECT's Arrow schema) and the
files (Parquet UUID) would disagree."""

SUMMARY_PREFIX = "headwater."
_NO_RETRIES = "commit.retry.num-retries"
_NAME_MAPPING = "schema.name-mapping.default"
_MERGE_MANIFESTS = "commit.manifest-merge.enabled"
_TABLE_PROPERTIES = {
    "format-version": "2",
    _NO_RETRIES: "0",
    _MERGE_MANIFESTS: "true",  # appends merge small manifests (from 100 on), as Java's default
    "write.parquet.compression-codec": "zstd",
}


class IcebergTable(LakeTable):
    FORMAT = "iceberg"
    DATA_PREFIX = "data"
    PARTITIONS_IN_FILES = True
    CASTS = ICEBERG_CASTS

    def __init__(self, location: TableLocation, name: str, catalog_dir: str | None = None) -> None:
        super().__init__(location, name)
        self.catalog_dir = catalog_dir

    # -- naming ------------------------------------------------------------------------------------
    @property
    def identifier(self) -> tuple[str, str]:
        """The table's identifier in headwater's catalog: stable and unique per location."""
        last = self.location.uri.rstrip("/").rsplit("/", 1)[-1]
        stem = re.sub(r"[^0-9a-z_]+", "_", last.lower()).strip("_")[:48] or "table"
        digest = hashlib.sha256(self.location.uri.encode()).hexdigest()[:12]
        return (NAMESPACE, f"{stem}_{digest}")

    @property
    def table_uri(self) -> str:
        """The table's location as Iceberg metadata records it (``file://`` for local paths)."""
        return f"file://{self.location.uri}" if self.location.is_local else self.location.uri

    def _iceberg_path(self, f: DataFile) -> str:
        if "://" in f.path:
            return f.path
        if f.path.startswith("/"):
            return f"file://{f.path}"
        return f"{self.table_uri}/{f.path.lstrip('/')}"

    def _relative(self, uri: str) -> str:
        """A file's path relative to the root when under it, else an absolute path or URI."""
        path = uri
        if self.location.is_local:
            path = re.sub(r"^file:(//)?(?=/)", "", path)
        elif path.startswith("s3a://") or path.startswith("s3n://"):
            path = "s3://" + path.split("://", 1)[1]
        return self.location.relative(path)

    # -- the catalog -------------------------------------------------------------------------------
    def catalog_uri(self) -> str | None:
        """The SQL catalog's SQLAlchemy URL, or None when there is none (no state folder)."""
        return catalogs.catalog_uri(self.location, self.catalog_dir)

    def describe_catalog(self) -> str:
        return catalogs.describe(self.location, self.catalog_dir)

    def io_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties for this location, from the environment."""
        return catalogs.io_properties(self.location)

    def _catalog(self) -> SqlCatalog | None:
        uri = self.catalog_uri()
        if uri is None:
            return None
        try:
            return catalogs.open_catalog(uri, self.io_properties())
        except Exception as exc:
            configured = catalogs.configured_uri(self.location) is not None
            raise ExecutionError(
                f"`{self.name}`: cannot open {self.describe_catalog()}: {_first_line(exc)}",
                node=self.name,
                hint=f"check {CATALOG_URI_ENV} (a SQLAlchemy URL such as "
                "`postgresql+psycopg://user@host/db`) and that the database is reachable"
                if configured
                else "check that the project's state folder is writable",
            ) from None

    def _require_catalog(self) -> SqlCatalog:
        catalog = self._catalog()
        if catalog is None:
            raise ConfigError(
                f"`{self.name}`: no Iceberg catalog to commit to",
                node=self.name,
                hint=f"run inside a project (its state folder keeps the catalog) or set "
                f"{CATALOG_URI_ENV}",
            )
        return catalog

    def _catalog_table(self, catalog: SqlCatalog | None = None) -> Table | None:
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        catalog = catalog or self._catalog()
        if catalog is None:
            return None
        try:
            return catalog.load_table(self.identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            return None
        except FileNotFoundError as exc:
            if self._newest_metadata() is not None:
                raise self._error(exc, "loading it from the catalog") from None
            # the table's folder was deleted: the table is gone, and so is its catalog entry
            # (as a Delta table is gone with its folder), so the next build creates it again
            with contextlib.suppress(NoSuchTableError):
                catalog.drop_table(self.identifier)
            return None
        except Exception as exc:
            raise self._error(exc, "loading it from the catalog") from None

    def _static_table(self) -> Table | None:
        """The table from its own newest metadata file, when no catalog of ours has it."""
        from pyiceberg.table import StaticTable

        metadata = self._newest_metadata()
        if metadata is None:
            return None
        try:
            return StaticTable.from_metadata(metadata, properties=self.io_properties())
        except Exception as exc:
            raise self._error(exc, f"reading {metadata}") from None

    def _newest_metadata(self) -> str | None:
        try:
            return catalogs.newest_metadata(self.location, self.table_uri)
        except OSError as exc:
            raise self._error(exc, "listing its metadata") from None

    def _load(self) -> Table | None:
        table = self._catalog_table()
        return table if table is not None else self._static_table()

    def _error(self, exc: BaseException | None, what: str) -> ExecutionError:
        return ExecutionError(
            f"`{self.name}`: Iceberg table at {self.location.describe()} failed while {what}: "
            f"{_first_line(exc)}",
            node=self.name,
        )

    # -- reading -----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self._load() is not None

    def snapshot(
        self, version: int | None = None, as_of: dt.datetime | None = None
    ) -> Snapshot | None:
        table = self._load()
        if table is None:
            return None
        metadata = table.metadata
        if version is not None:
            snap = self._by_version(metadata, version)
        elif as_of is not None:
            stamp = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
            snap = table.snapshot_as_of_timestamp(int(stamp.timestamp() * 1000))
            if snap is None:
                raise ExecutionError(
                    f"`{self.name}` has no version at or before {stamp.isoformat()}",
                    node=self.name,
                    hint=f"see its versions with `headwater lake history {self.name}`",
                )
        else:
            snap = table.current_snapshot()
        return self._snapshot(table, snap)

    def _by_version(self, metadata: TableMetadata, version: int) -> IcebergSnapshot | None:
        numbers = versions(metadata)
        for snap in metadata.snapshots:
            if numbers[snap.snapshot_id] == version:
                return snap
        if version == 0 and not numbers:
            return None  # a table without a snapshot yet
        if numbers and version > max(numbers.values()):
            by_id = metadata.snapshot_by_id(version)
            if by_id is not None:
                return by_id
        known = sorted(numbers.values())
        raise ExecutionError(
            f"`{self.name}` has no version {version}"
            + (f" (versions {known[0]}..{known[-1]})" if known else " (it has no snapshot yet)"),
            node=self.name,
            hint=f"see its versions with `headwater lake history {self.name}`",
        )

    def _snapshot(self, table: Table, snap: IcebergSnapshot | None) -> Snapshot:
        metadata = table.metadata
        if snap is None:
            schema = metadata.schema()
            return Snapshot(
                version=0,
                files=(),
                schema=arrow_schema(schema),
                partition_by=identity_columns(metadata.spec(), schema),
                partitions_in_files=True,
            )
        schema = (
            metadata.schema_by_id(snap.schema_id) if snap.schema_id is not None else None
        ) or metadata.schema()
        tasks = self._plan(table, snap)
        specs = metadata.specs()
        spec_ids = {task.file.spec_id for task in tasks}
        spec = specs[spec_ids.pop()] if len(spec_ids) == 1 else metadata.spec()
        files = tuple(
            self._data_file(task.file, specs[task.file.spec_id], schema) for task in tasks
        )
        return Snapshot(
            version=versions(metadata)[snap.snapshot_id],
            files=files,
            schema=arrow_schema(schema),
            partition_by=identity_columns(spec, schema),
            partitions_in_files=True,
            timestamp=dt.datetime.fromtimestamp(snap.timestamp_ms / 1000, tz=dt.UTC),
        )

    def _plan(self, table: Table, snap: IcebergSnapshot) -> list[Any]:
        try:
            tasks = list(table.scan(snapshot_id=snap.snapshot_id).plan_files())
        except Exception as exc:
            raise self._error(exc, "listing the files of a snapshot") from None
        deletes = sum(len(task.delete_files) for task in tasks)
        if deletes:
            raise ExecutionError(
                f"`{self.name}`: the Iceberg table at {self.location.describe()} has {deletes} "
                "delete file(s) (merge-on-read deletes written by another engine); headwater "
                "reads a version as exactly its data files and does not apply delete files",
                node=self.name,
                hint="compact it in the engine that wrote the deletes (e.g. Spark "
                "`CALL catalog.system.rewrite_data_files(table => '...', options => "
                "map('delete-file-threshold', '1'))`), or set its `write.delete.mode`, "
                "`write.update.mode` and `write.merge.mode` to `copy-on-write`",
            )
        return tasks

    def _data_file(self, f: IcebergDataFile, spec: PartitionSpec, schema: Schema) -> DataFile:
        partition: dict[str, str | None] = {}
        for position, field in enumerate(spec.fields):
            if not is_identity(field):
                continue
            try:
                column = schema.find_column_name(field.source_id)
                source = schema.find_type(field.source_id)
            except ValueError:
                continue
            if column is None:
                continue
            partition[column] = partition_text(python_value(f.partition[position], source))
        return DataFile(
            path=self._relative(f.file_path),
            rows=int(f.record_count),
            size=int(f.file_size_in_bytes),
            partition=partition,
        )

    # -- writing -----------------------------------------------------------------------------------
    def commit(self, change: Change, base: Snapshot | None, partition_by: Sequence[str]) -> int:
        from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError

        catalog = self._require_catalog()
        try:
            with catalogs.writing(self.catalog_uri()):
                if base is None:
                    table = self._create(catalog, change, partition_by)
                else:
                    table = self._update(catalog, change, base, partition_by)
        except (CommitFailedException, TableAlreadyExistsError):
            raise self._conflict(base) from None
        self._write_hint(table)
        snap = table.current_snapshot()
        assert snap is not None
        return versions(table.metadata)[snap.snapshot_id]

    @staticmethod
    def _write_hint(table: Table) -> None:
        """``metadata/version-hint.text`` naming the metadata file just committed: what readers
        without the catalog open (DuckDB's ``iceberg_scan``, pyiceberg's ``StaticTable``, another
        project's source), instead of guessing the newest file, which may be one a rejected
        commit left behind. Best effort: a hint lost to a crash or overtaken by a concurrent
        commit's names an older, complete version."""
        name = table.metadata_location.rsplit("/", 1)[-1].removesuffix(".metadata.json")
        with contextlib.suppress(OSError):
            hint = table.io.new_output(f"{table.metadata.location}/metadata/version-hint.text")
            with hint.create(overwrite=True) as out:
                out.write(name.encode())

    def _conflict(self, base: Snapshot | None) -> LakeConflict:
        if base is None:
            what = "another writer created the Iceberg table first"
        else:
            what = (
                f"another writer committed to the Iceberg table after version {base.version} "
                "while this change was computed from it"
            )
        return LakeConflict(
            f"`{self.name}`: {what} (at {self.location.describe()})",
            node=self.name,
            hint="headwater recomputes the change from the new version; if this persists, "
            "two schedules write the same table",
        )

    def _create(self, catalog: SqlCatalog, change: Change, partition_by: Sequence[str]) -> Table:
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.transforms import IdentityTransform

        if change.schema is None:
            raise ExecutionError(
                f"`{self.name}`: a new Iceberg table needs a schema", node=self.name
            )
        if self._catalog_table(catalog) is not None:
            raise self._conflict(None)
        self._refuse_foreign()
        schema = iceberg_schema(change.schema)
        fields = []
        for i, column in enumerate(partition_by):
            source = self._find(schema, column)
            fields.append(
                PartitionField(
                    source_id=source, field_id=1000 + i, transform=IdentityTransform(), name=column
                )
            )
        try:
            catalogs.ensure_namespace(catalog)
            txn = catalog.create_table_transaction(
                self.identifier,
                schema,
                location=self.table_uri,
                partition_spec=PartitionSpec(*fields),
                properties=_TABLE_PROPERTIES,
            )
            txn.set_properties(
                {_NAME_MAPPING: txn.table_metadata.schema().name_mapping.model_dump_json()}
            )
            self._produce(txn, change, removes=[])
            return txn.commit_transaction()
        except (LakeConflict, ExecutionError):
            raise
        except Exception as exc:
            if _is_conflict(exc):
                raise
            raise self._error(exc, "creating it") from None

    def _find(self, schema: Schema, column: str) -> int:
        try:
            return schema.find_field(column).field_id
        except ValueError:
            raise ExecutionError(
                f"`{self.name}`: partition column `{column}` is not a column of the table",
                node=self.name,
                hint="columns: " + ", ".join(f.name for f in schema.fields),
            ) from None

    def _refuse_foreign(self) -> None:
        metadata = self._newest_metadata()
        if metadata is None:
            return
        raise ExecutionError(
            f"`{self.name}`: {self.location.describe()} holds an Iceberg table that is not in "
            f"{self.describe_catalog()}; headwater reads it but does not commit to a table "
            "another catalog may own",
            node=self.name,
            hint="if headwater wrote it and its catalog was lost, register its newest metadata "
            f"file ({metadata}) as `{'.'.join(self.identifier)}` with pyiceberg's "
            "`SqlCatalog.register_table`; otherwise write the model to another `location`",
        )

    def _update(
        self, catalog: SqlCatalog, change: Change, base: Snapshot, partition_by: Sequence[str]
    ) -> Table:
        table = self._catalog_table(catalog)
        if table is None:
            self._refuse_foreign()
            raise LakeConflict(
                f"`{self.name}`: the Iceberg table at {self.location.describe()} was dropped "
                f"from {self.describe_catalog()} after version {base.version}",
                node=self.name,
            )
        table = self._without_retries(table)
        self._check_base(table, base)
        try:
            txn = table.transaction()
            if change.overwrite and self._evolve(txn, change.schema, partition_by):
                self._detach(txn)
                removes = []
            else:
                if not change.overwrite:
                    self._check_shape(txn.table_metadata, change.schema, partition_by)
                removes = self._removed(table, change) if change.overwrite or change.removes else []
            self._produce(txn, change, removes)
            return txn.commit_transaction()
        except (LakeConflict, ExecutionError):
            raise
        except Exception as exc:
            if _is_conflict(exc):
                raise
            raise self._error(exc, "committing") from None

    def _without_retries(self, table: Table) -> Table:
        """The table with pyiceberg's commit retries off (set once, on tables created elsewhere
        or by an older headwater), so a stale commit fails instead of being rebased."""
        if table.metadata.properties.get(_NO_RETRIES) == "0":
            return table
        from pyiceberg.exceptions import CommitFailedException

        # another writer may move on meanwhile: the base check after this reports it
        with contextlib.suppress(CommitFailedException):
            table.transaction().set_properties({_NO_RETRIES: "0"}).commit_transaction()
        reloaded = self._catalog_table()
        assert reloaded is not None
        return reloaded

    def _check_base(self, table: Table, base: Snapshot) -> None:
        current = table.current_snapshot()
        version = 0 if current is None else versions(table.metadata)[current.snapshot_id]
        if version != base.version:
            raise self._conflict(base)

    def _removed(self, table: Table, change: Change) -> list[IcebergDataFile]:
        current = table.current_snapshot()
        if current is None:
            return []
        live = {self._relative(t.file.file_path): t.file for t in self._plan(table, current)}
        if change.overwrite:
            return list(live.values())
        out = []
        for f in change.removes:
            found = live.get(self._relative(self._iceberg_path(f)))
            if found is None:
                raise ExecutionError(
                    f"`{self.name}`: cannot remove {f.path}: it is not a file of the table's "
                    "current version",
                    node=self.name,
                )
            out.append(found)
        return out

    def _produce(self, txn: Transaction, change: Change, removes: list[IcebergDataFile]) -> None:
        """Stage one snapshot that removes ``removes`` and adds the change's staged files."""
        metadata = txn.table_metadata  # computed anew on every access: once is enough
        if change.schema is not None and change.adds:
            self._check_types(metadata.schema(), change.schema)
        adds = self._data_files(metadata, change.adds)
        properties = {k if k.startswith(SUMMARY_PREFIX) else SUMMARY_PREFIX + k: str(v)
                      for k, v in change.metadata.items()}  # fmt: skip
        properties[f"{SUMMARY_PREFIX}operation"] = change.operation
        update = txn.update_snapshot(snapshot_properties=properties)
        if removes:
            with update.overwrite() as overwrite:
                for old in removes:
                    overwrite.delete_data_file(old)
                for new in adds:
                    overwrite.append_data_file(new)
        else:
            merge = metadata.properties.get(_MERGE_MANIFESTS, "false") == "true"
            with update.merge_append() if merge else update.fast_append() as append:
                for new in adds:
                    append.append_data_file(new)

    def _check_types(self, table_schema: Schema, schema: pa.Schema) -> None:
        """The staged files' columns fit the table's (checked here with a readable message;
        pyiceberg's own check prints a table to stdout)."""
        problems = type_problems(table_schema, schema)
        if problems:
            raise ExecutionError(
                f"`{self.name}`: the new files do not fit the Iceberg table: "
                + "; ".join(problems),
                node=self.name,
                hint="cast the columns in the model to the table's types, or rebuild the table "
                "with `--full-refresh` to change them",
            )

    def _data_files(
        self, metadata: TableMetadata, files: Sequence[DataFile]
    ) -> list[IcebergDataFile]:
        """The staged files as Iceberg data files, from their footers (not rewritten)."""
        from concurrent.futures import ThreadPoolExecutor

        from pyiceberg.io import load_file_io
        from pyiceberg.io.pyarrow import parquet_file_to_data_file

        io = load_file_io({**metadata.properties, **self.io_properties()}, self.table_uri)

        def convert(f: DataFile) -> IcebergDataFile:
            path = self._iceberg_path(f)
            try:
                data_file = parquet_file_to_data_file(io, metadata, path)
            except Exception as exc:
                raise ExecutionError(
                    f"`{self.name}`: cannot add {f.path} to the Iceberg table: {_first_line(exc)}",
                    node=self.name,
                    hint="the staged file does not match the table's schema or partitioning; "
                    "rebuild the table with `--full-refresh`",
                ) from None
            self._check_partition(f, data_file, metadata)
            return data_file

        if len(files) <= 1:
            return [convert(f) for f in files]
        with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
            return list(pool.map(convert, files))

    def _check_partition(
        self, f: DataFile, data_file: IcebergDataFile, metadata: TableMetadata
    ) -> None:
        """The partition values Iceberg derived from the file's statistics are the ones DuckDB
        wrote it for (statistics can be truncated or missing)."""
        got = self._data_file(data_file, metadata.spec(), metadata.schema()).partition
        for column, value in f.partition.items():
            if column in got and got[column] != value and not same_value(got[column], value):
                raise ExecutionError(
                    f"`{self.name}`: {f.path} was written for {column}={value!r} but its "
                    f"statistics say {got[column]!r}",
                    node=self.name,
                )

    def _check_shape(
        self, metadata: TableMetadata, schema: pa.Schema | None, partition_by: Sequence[str]
    ) -> None:
        current = metadata.schema()
        if schema is not None:
            new = [f.name for f in iceberg_schema(schema).fields]
            old = [f.name for f in current.fields]
            if new != old:
                raise ExecutionError(
                    f"`{self.name}`: the change has columns {new} but the Iceberg table has {old}",
                    node=self.name,
                    hint="schema changes need a full rebuild (`--full-refresh`, or "
                    "`on_schema_change`)",
                )
        columns = identity_columns(metadata.spec(), current)
        if tuple(partition_by) != columns or len(metadata.spec().fields) != len(columns):
            raise ExecutionError(
                f"`{self.name}`: `partition_by` is {list(partition_by)} but the Iceberg table is "
                f"partitioned by {list(columns)}",
                node=self.name,
                hint="rebuild it with `--full-refresh` to change its partitioning",
            )

    def _evolve(
        self, txn: Transaction, schema: pa.Schema | None, partition_by: Sequence[str]
    ) -> bool:
        """A full rebuild's schema and partitioning, in the commit's transaction; whether either
        changed. The old partition fields go first (a dropped column may be one), the new ones
        come last (a new column may be one)."""
        metadata = txn.table_metadata
        spec = metadata.spec()
        same_spec = identity_columns(spec, metadata.schema()) == tuple(partition_by) and len(
            spec.fields
        ) == len(partition_by)
        if not same_spec and spec.fields:
            with txn.update_spec() as update:
                for field in spec.fields:
                    update.remove_field(field.name)
        evolved = schema is not None and evolve_schema(txn, iceberg_schema(schema))
        if not same_spec and partition_by:
            for column in partition_by:
                self._find(txn.table_metadata.schema(), column)
            with txn.update_spec() as update:
                for column in partition_by:
                    update.add_identity(column)
        return evolved or not same_spec

    @staticmethod
    def _detach(txn: Transaction) -> None:
        """Replace-table semantics for a rebuild that changed the schema or partitioning: the
        new snapshot starts from nothing (no parent) instead of deleting the old files one by
        one (pyiceberg cannot match files of a partition spec whose columns the new schema
        dropped or retyped). Removing the ``main`` branch asserts it still points at the base
        snapshot, which is the commit's compare-and-swap."""
        from pyiceberg.table.refs import MAIN_BRANCH
        from pyiceberg.table.update.snapshot import ManageSnapshots

        if MAIN_BRANCH not in txn.table_metadata.refs:
            return
        with ManageSnapshots(txn) as manage:
            manage.remove_branch(MAIN_BRANCH)

    # -- history and maintenance ---------------------------------------------------------------------
    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        table = self._load()
        if table is None:
            return []
        numbers = versions(table.metadata)
        snaps = sorted(table.metadata.snapshots, key=lambda s: numbers[s.snapshot_id], reverse=True)
        out = []
        for snap in snaps[:limit] if limit is not None else snaps:
            summary = dict(snap.summary.additional_properties) if snap.summary else {}
            iceberg_op = snap.summary.operation.value if snap.summary else ""
            operation = summary.get(f"{SUMMARY_PREFIX}operation") or iceberg_op.upper()
            details: dict[str, Any] = {
                "snapshot_id": snap.snapshot_id,
                "parent_snapshot_id": snap.parent_snapshot_id,
                "iceberg_operation": iceberg_op,
                **summary,
            }
            out.append(
                HistoryEntry(
                    numbers[snap.snapshot_id],
                    dt.datetime.fromtimestamp(snap.timestamp_ms / 1000, tz=dt.UTC),
                    operation,
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
        raise ExecutionError(
            f"`{self.name}`: Iceberg tables cannot be compacted by headwater: pyiceberg has no "
            "rewrite-data-files (compaction) action",
            node=self.name,
            hint="compact it with an engine that can (Spark: `CALL catalog.system."
            "rewrite_data_files('headwater.…')`), or rebuild it with `headwater build "
            f"--full-refresh -s {self.name}`, which writes it as new, full-size files",
        )

    def vacuum(self, retention_hours: float, dry_run: bool = False) -> list[str]:
        from headwater.lake.iceberg_vacuum import vacuum

        return vacuum(self, retention_hours, dry_run)


def _is_conflict(exc: BaseException) -> bool:
    from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError

    return isinstance(exc, CommitFailedException | TableAlreadyExistsError)


def _first_line(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["CATALOG_URI_ENV", "ICEBERG_CASTS", "IcebergTable"]
