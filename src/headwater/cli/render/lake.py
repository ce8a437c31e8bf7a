"""`headwater lake history|optimize|vacuum`: a `LakeHistory` as a table of versions, a
`LakeMaintenance` as a before/after table (optimize) or the list of deleted files (vacuum), or
either as one JSON document."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

    from headwater.lake.maintenance import LakeHistory, LakeMaintenance
    from headwater.lake.table import HistoryEntry

LISTED = 50
"""Files a vacuum lists on the terminal (--json lists all)."""
_DETAILS = (
    (("num_added_files", "numFilesAdded", "added-data-files"), "files added"),
    (("num_removed_files", "numFilesRemoved", "deleted-data-files"), "files removed"),
    (("num_added_rows", "added-records"), "rows added"),
    (("num_deleted_rows", "deleted-records"), "rows removed"),
    (("num_updated_rows",), "rows updated"),
    (("numFilesToDelete",), "files to delete"),
    (("numDeletedFiles",), "files deleted"),
    (("mode",), "mode"),
)
"""What the details column shows of a version, from Delta's operation metrics and parameters
and Iceberg's snapshot summary."""


def _console(stream: TextIO | None = None) -> Console:
    from rich.console import Console

    stream = stream or sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(file=stream, width=None if tty else 200, no_color=not tty, highlight=False)


def _json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, default=str))


def human_bytes(n: int) -> str:
    """``1.5 MiB``-style sizes (bytes below 1 KiB)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


# -- history ---------------------------------------------------------------------------------------
def print_history(
    history: LakeHistory, as_json: bool = False, stream: TextIO | None = None
) -> None:
    """The versions, newest first, the current one marked; or one JSON document."""
    if as_json:
        _json(history.to_dict())
        return
    from rich.markup import escape
    from rich.table import Table

    console = _console(stream)
    table = Table("version", "committed (UTC)", "operation", "by", "details")
    for e in history.entries:
        mark = " (current)" if e.version == history.current_version else ""
        table.add_row(
            f"{e.version}{mark}",
            e.timestamp.strftime("%Y-%m-%d %H:%M:%S") if e.timestamp else "-",
            escape(_operation(e)),
            escape(_author(e)),
            escape(_details(e)),
        )
    console.print(table)
    console.print(
        f"`{history.model}`: {history.format} table at {history.location}, "
        f"current version {history.current_version}; {len(history.entries)} "
        f"{'version' if len(history.entries) == 1 else 'versions'} shown",
        markup=False,
    )


def _operation(e: HistoryEntry) -> str:
    ours = e.details.get("headwater.operation")
    if ours and str(ours).upper() != e.operation.upper():
        return f"{e.operation} ({str(ours).lower()})"
    return e.operation


def _author(e: HistoryEntry) -> str:
    node = e.details.get("headwater.node")
    if not node:
        return "-"
    invocation = str(e.details.get("headwater.invocation_id") or "")
    return f"{str(node).rsplit('.', 1)[-1]} ({invocation[:8]})" if invocation else str(node)


def _details(e: HistoryEntry) -> str:
    flat: dict[str, Any] = {}
    for key in ("operationParameters", "operationMetrics"):
        value = e.details.get(key)
        if isinstance(value, dict):
            flat.update(value)
    flat.update({k: v for k, v in e.details.items() if not isinstance(v, dict)})
    parts = []
    for keys, label in _DETAILS:
        found = next((flat[k] for k in keys if flat.get(k) not in (None, "")), None)
        if found is not None:
            parts.append(f"{label} {found}")
    retention = flat.get("specifiedRetentionMillis")
    if retention not in (None, ""):
        parts.append(f"retain {int(retention) / 3_600_000:g}h")
    return ", ".join(parts) or "-"


# -- optimize and vacuum --------------------------------------------------------------------------
def print_maintenance(
    result: LakeMaintenance, as_json: bool = False, stream: TextIO | None = None
) -> None:
    """What optimize or vacuum did; or one JSON document."""
    if as_json:
        _json(result.to_dict())
        return
    console = _console(stream)
    if result.operation == "optimize":
        _print_optimize(console, result)
    else:
        _print_vacuum(console, result)


def _print_optimize(console: Console, r: LakeMaintenance) -> None:
    from rich.table import Table

    how = f"z-ordered by {', '.join(r.zorder)}" if r.zorder else "compacted"
    if not r.changed:
        console.print(
            f"`{r.model}` ({r.format} at {r.location}): nothing to compact; version "
            f"{r.version_before} has {r.files_before} "
            f"{'file' if r.files_before == 1 else 'files'} ({r.elapsed:.2f}s)",
            markup=False,
        )
        return
    table = Table("", f"version {r.version_before}", f"version {r.version_after}")
    table.add_row("files", f"{r.files_before:,}", f"{r.files_after:,}")
    table.add_row("size", human_bytes(r.bytes_before), human_bytes(r.bytes_after))
    table.add_row("rows", f"{r.rows_before:,}", f"{r.rows_after:,}")
    console.print(table)
    console.print(
        f"`{r.model}` ({r.format} at {r.location}) {how}: {len(r.removed)} files replaced by "
        f"{len(r.added)} in version {r.version_after}, which the warehouse view reads; the old "
        f"files stay for time travel until `headwater lake vacuum` ({r.elapsed:.2f}s)",
        markup=False,
    )


def _print_vacuum(console: Console, r: LakeMaintenance) -> None:
    from rich.markup import escape
    from rich.table import Table

    retain = _retain(r)
    if r.removed:
        table = Table("would delete" if r.dry_run else "deleted")
        for path in r.removed[:LISTED]:
            table.add_row(escape(path))
        if len(r.removed) > LISTED:
            table.add_row(f"… and {len(r.removed) - LISTED:,} more (--json lists all)")
        console.print(table)
    count = f"{len(r.removed):,} {'file' if len(r.removed) == 1 else 'files'}"
    verb = "would delete" if r.dry_run else "deleted"
    versions = f"; version {r.version_before} → {r.version_after}" if r.changed else ""
    console.print(
        f"`{r.model}` ({r.format} at {r.location}): {verb} {count} that no version of the last "
        f"{retain} needs{versions} ({r.elapsed:.2f}s)",
        markup=False,
    )


def _retain(r: LakeMaintenance) -> str:
    hours = r.retention_hours or 0
    asked = r.retain.total_seconds() / 3600 if r.retain is not None else float(hours)
    if asked == hours:
        return f"{hours}h"
    return f"{hours}h ({asked:g}h rounded up to whole hours)"
