"""`IcebergTable.vacuum`: expire old snapshots, then delete the files nothing references.

pyiceberg 0.12's ``expire_snapshots`` only drops snapshots from the metadata and deletes no file,
and pyiceberg has no orphan-file removal, so headwater does both itself (see
`headwater.lake.iceberg` for what is kept): every snapshot that stopped being current before the
retention window is expired, then the files under ``data/`` and the manifests under ``metadata/``
that no remaining snapshot references and that are older than the window are deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from headwater.errors import ExecutionError

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot as IcebergSnapshot

    from headwater.lake.iceberg import IcebergTable


def vacuum(lake: IcebergTable, retention_hours: float, dry_run: bool = False) -> list[str]:
    """The files deleted (or, with ``dry_run``, that would be), as URIs."""
    catalog = lake._require_catalog()
    table = lake._catalog_table(catalog)
    if table is None:
        if lake._newest_metadata() is not None:
            lake._refuse_foreign()
        return []
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=retention_hours)
    at_cutoff = table.snapshot_as_of_timestamp(int(cutoff.timestamp() * 1000))
    expire = expirable(table, at_cutoff)
    if dry_run:
        keep = [s for s in table.metadata.snapshots if s.snapshot_id not in expire]
        return unreferenced(lake, table, keep, cutoff)
    if expire and at_cutoff is not None:
        from pyiceberg.exceptions import CommitFailedException

        since = dt.datetime.fromtimestamp(at_cutoff.timestamp_ms / 1000, tz=dt.UTC)
        try:
            # the same snapshots as `expirable` (by_ids would be quadratic in pyiceberg)
            table.maintenance.expire_snapshots().older_than(since).commit()
        except CommitFailedException:
            raise ExecutionError(
                f"`{lake.name}`: another writer committed while old snapshots were expired",
                node=lake.name,
                hint=f"run `headwater lake vacuum {lake.name}` again",
            ) from None
        except Exception as exc:
            raise lake._error(exc, "expiring snapshots") from None
    table = lake._catalog_table(catalog)
    assert table is not None
    doomed = unreferenced(lake, table, table.metadata.snapshots, cutoff)
    filesystem, _root = lake.location.filesystem()
    for uri in doomed:
        try:
            filesystem.delete_file(fs_path(uri))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise lake._error(exc, f"deleting {uri}") from None
    return doomed


def expirable(table: Table, at_cutoff: IcebergSnapshot | None) -> set[int]:
    """Snapshots that stopped being current before the cutoff: older than ``at_cutoff``, the one
    current then (not branch or tag heads)."""
    if at_cutoff is None:
        return set()  # every snapshot is inside the window
    protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
    return {
        s.snapshot_id
        for s in table.metadata.snapshots
        if s.timestamp_ms < at_cutoff.timestamp_ms and s.snapshot_id not in protected
    }


def unreferenced(
    lake: IcebergTable, table: Table, keep: Iterable[IcebergSnapshot], cutoff: dt.datetime
) -> list[str]:
    """Files under ``data/`` and manifests under ``metadata/`` that no snapshot in ``keep``
    references and that were last written before ``cutoff``."""
    from pyarrow import fs

    referenced: set[str] = set()
    for snap in keep:
        referenced.add(lake._relative(snap.manifest_list))
        for manifest in snap.manifests(table.io):
            path = lake._relative(manifest.manifest_path)
            if path in referenced:
                continue  # shared with a snapshot already seen
            referenced.add(path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                referenced.add(lake._relative(entry.data_file.file_path))
    for stats in table.metadata.statistics:
        referenced.add(lake._relative(stats.statistics_path))
    filesystem, root = lake.location.filesystem()
    cutoff_ns = int(cutoff.timestamp() * 1e9)
    out = []
    for folder, suffix in ((lake.DATA_PREFIX, ""), ("metadata", ".avro")):
        try:
            infos = filesystem.get_file_info(
                fs.FileSelector(f"{root}/{folder}", recursive=True, allow_not_found=True)
            )
        except OSError as exc:
            raise lake._error(exc, f"listing {folder}/") from None
        for info in infos:
            if info.type != fs.FileType.File or not info.path.endswith(suffix):
                continue
            relative = info.path[len(root) :].lstrip("/")
            if relative in referenced:
                continue
            if info.mtime_ns is not None and info.mtime_ns >= cutoff_ns:
                continue
            out.append(lake.location.join(relative))
    return sorted(out)


def fs_path(uri: str) -> str:
    """A URI or local path as a path for the location's pyarrow filesystem."""
    if uri.startswith("file://"):
        return uri[len("file://") :]
    return uri.split("://", 1)[1] if "://" in uri else uri
