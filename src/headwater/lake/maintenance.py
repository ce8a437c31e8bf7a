"""Maintenance of one node's lake table: ``headwater lake history|optimize|vacuum MODEL``
(`Context.lake_history`, `Context.lake_optimize`, `Context.lake_vacuum`).

Everything goes through the format seam (`LakeTable.history`, `optimize`, `vacuum`), so it works
the same for Delta, Iceberg and plain Parquet; a format that cannot do something (pyiceberg cannot
compact, plain Parquet keeps no old versions) raises an `ExecutionError` that says so.

* **history**: the table's versions, newest first, with each commit's operation and details
  (for headwater's commits, the invocation and node that wrote them).
* **optimize**: compaction of small files (and ``zorder``: clustering by a Z-order curve of the
  given columns) into a new version with the same rows. Files added and removed are computed from
  the versions before and after, so they do not depend on the format's metrics.
* **vacuum**: deletes the files that no version inside the retention window needs: files that
  stopped being part of the table (replaced by a merge, an overwrite or a compaction) more than
  ``retain`` ago, and files no version refers to (staged by a write that was rejected or killed)
  that are older than ``retain``. Versions committed inside the window, and the version that was
  current when it opened, keep every file they read, so time travel inside the window works.
  delta-rs measures the window in whole hours: ``retain`` is rounded *up* to whole hours, so
  vacuum keeps at least what was asked. The files reported are those that were on storage
  (delta-rs lists every expired remove action of the log, even files an earlier vacuum deleted).
  delta-rs records a vacuum as two versions (``VACUUM START``, ``VACUUM END``).

**The warehouse view.** A lake model's relation is a view over the files of one version
(`headwater.materialize.lake`). After optimize or vacuum commit, the view is pointed at the
table's new current version (same rows, other files), exactly as a build does.

**Concurrent writers.** optimize and vacuum open the warehouse for writing before they touch the
table: a DuckDB warehouse admits one writer, so no build of this project stages files while they
run. A writer from elsewhere (another project, Spark) is protected only by the window: its staged
files are younger than ``retain``, so keep ``retain`` longer than its longest write. ``retain``
of ``0h`` is for tables nobody else writes.

**Run history.** An optimize or vacuum that changes the table is recorded as an invocation
(command ``lake optimize`` / ``lake vacuum``, with a summary), which ``headwater status`` lists.
It records no node run: the rows did not change, and freshness reads node runs as loads.
A dry run and ``history`` record nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import (
    ConfigError,
    ExecutionError,
    HeadwaterError,
    Location,
    NodeNotFoundError,
    UsageError,
    did_you_mean,
)
from headwater.lake.table import HistoryEntry, LakeTable, Snapshot
from headwater.project.definition import Node, lake_format

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.lake import LocalFiles
    from headwater.lake.spec import LakeSpec

MAINTAINED = ("model", "snapshot")
"""Resource types whose lake tables headwater writes, and so optimizes and vacuums."""
DEFAULT_RETAIN = "168h"
"""Delta's default `delta.deletedFileRetentionDuration` (one week)."""


# -- results ------------------------------------------------------------------------------------
@dataclass
class LakeHistory:
    """The versions of one node's lake table, newest first (`Context.lake_history`)."""

    model: str
    unique_id: str
    format: str
    location: str
    current_version: int | None
    entries: list[HistoryEntry]

    exit_code = 0

    def to_dict(self) -> dict[str, Any]:
        """What `headwater lake history --json` prints."""
        return {
            "model": self.model,
            "unique_id": self.unique_id,
            "format": self.format,
            "location": self.location,
            "current_version": self.current_version,
            "versions": [
                {
                    "version": e.version,
                    "timestamp": e.timestamp.isoformat() if e.timestamp else None,
                    "operation": e.operation,
                    "details": e.details,
                }
                for e in self.entries
            ],
        }


@dataclass
class LakeMaintenance:
    """What one optimize or vacuum of a lake table did (or, with ``dry_run``, would do)."""

    operation: str
    """``optimize`` or ``vacuum``."""
    model: str
    unique_id: str
    format: str
    location: str
    version_before: int
    version_after: int
    files_before: int
    files_after: int
    """Data files of the current version before and after."""
    bytes_before: int
    bytes_after: int
    rows_before: int
    rows_after: int
    added: list[str] = field(default_factory=list)
    """optimize: files of the new version that the old one did not have."""
    removed: list[str] = field(default_factory=list)
    """optimize: files of the old version that the new one no longer has (still on storage until
    vacuum); vacuum: files deleted from storage (with ``dry_run``, that would be)."""
    zorder: list[str] = field(default_factory=list)
    target_size: int | None = None
    retain: dt.timedelta | None = None
    """vacuum: the retention window, as asked."""
    retention_hours: int | None = None
    """vacuum: the window passed to the format, in whole hours (rounded up)."""
    dry_run: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    """The format's own report (delta-rs's optimize metrics)."""
    invocation_id: str | None = None
    """The run history's invocation (None for a dry run)."""
    elapsed: float = 0.0

    exit_code = 0

    @property
    def changed(self) -> bool:
        """Whether a new version was committed."""
        return self.version_after != self.version_before

    def to_dict(self) -> dict[str, Any]:
        """What `headwater lake optimize|vacuum --json` prints."""
        out: dict[str, Any] = {
            "operation": self.operation, "model": self.model, "unique_id": self.unique_id,
            "format": self.format, "location": self.location, "dry_run": self.dry_run,
            "version_before": self.version_before, "version_after": self.version_after,
            "files_before": self.files_before, "files_after": self.files_after,
            "bytes_before": self.bytes_before, "bytes_after": self.bytes_after,
            "rows_before": self.rows_before, "rows_after": self.rows_after,
            "added": self.added, "removed": self.removed,
        }  # fmt: skip
        if self.operation == "optimize":
            out.update(zorder=self.zorder, target_size=self.target_size, metrics=self.metrics)
        else:
            retain = self.retain.total_seconds() if self.retain is not None else None
            out.update(retain_seconds=retain, retention_hours=self.retention_hours)
        out.update(invocation_id=self.invocation_id, elapsed=round(self.elapsed, 3))
        return out


# -- finding the table ----------------------------------------------------------------------------
@dataclass
class _Target:
    node: Node
    spec: LakeSpec
    table: LakeTable

    @property
    def location(self) -> Location:
        return Location(self.node.path, self.node.line)


def lake_node(ctx: Context, name: str, maintain: bool) -> _Target:
    """The lake table of the node ``name`` selects (a name, unique_id or selector of one node).
    ``maintain``: it must be one headwater writes (a model or snapshot, not a source)."""
    from headwater.lake.spec import LakeSpec

    node = _one_node(ctx, name)
    ctx.check_problems([node.unique_id])
    label = node.display_name
    fmt = lake_format(node.config)
    if fmt is None:
        raise ConfigError(
            f"`{label}` is a {node.config.get('materialized') or node.resource_type} in the "
            f"warehouse, not a lake table" + did_you_mean(label, _lake_names(ctx)),
            location=Location(node.path, node.line),
            node=label,
            hint=f"make it one with `materialized: delta` (or iceberg, parquet) and build it; "
            f"{_lake_listing(ctx)}",
        )
    if maintain and node.resource_type not in MAINTAINED:
        raise ConfigError(
            f"`{label}` is a source: headwater reads its {fmt} table but does not maintain it",
            location=Location(node.path, node.line),
            node=label,
            hint=f"maintain it where it is written; `headwater lake history {label}` shows its "
            "versions",
        )
    spec = LakeSpec.of(node, ctx.manifest.config, ctx.manifest.target.lake_root)
    return _Target(node, spec, spec.table(label))


def _one_node(ctx: Context, name: str) -> Node:
    if not name.strip():
        raise UsageError("name a model", hint="e.g. `headwater lake history fct_orders`")
    nodes = ctx.manifest.nodes
    if name in nodes:
        return nodes[name]
    by_display = [
        n for n in nodes.values() if n.resource_type == "source" and n.display_name == name
    ]
    if len(by_display) == 1:
        return by_display[0]
    kinds = (*MAINTAINED, "source")
    try:
        selected = ctx.select([name], with_tests=False)
    except UsageError as exc:  # SelectionError: no node of that name (with "did you mean")
        raise NodeNotFoundError(exc.message, hint=_lake_listing(ctx)) from None
    chosen = [n for n in selected if n.resource_type in kinds]
    if not chosen:
        what = " and ".join(sorted({f"a {n.resource_type}" for n in selected})) or "nothing"
        raise NodeNotFoundError(
            f"`{name}` selects {what}, not a model" + did_you_mean(name, _lake_names(ctx)),
            hint=_lake_listing(ctx),
        )
    if len(chosen) > 1:
        shown = ", ".join(f"`{n.unique_id}`" for n in chosen[:5])
        raise UsageError(
            f"`{name}` selects {len(chosen)} nodes ({shown}{', …' if len(chosen) > 5 else ''}): "
            "maintenance works on one table at a time",
            hint="name one model (or its unique_id)",
        )
    return chosen[0]


def _lake_names(ctx: Context) -> list[str]:
    return sorted(
        n.display_name
        for n in ctx.manifest.nodes.values()
        if n.resource_type in (*MAINTAINED, "source") and lake_format(n.config)
    )


def _lake_listing(ctx: Context) -> str:
    names = _lake_names(ctx)
    if not names:
        return "the project has no lake tables (`materialized: delta`, iceberg or parquet)"
    shown = ", ".join(f"`{n}`" for n in names[:10])
    return f"lake tables: {shown}{', …' if len(names) > 10 else ''}"


def _current(target: _Target) -> Snapshot:
    snapshot = target.table.snapshot()
    if snapshot is None:
        what = "model" if target.node.resource_type == "model" else target.node.resource_type
        raise ExecutionError(
            f"`{target.node.display_name}` has no {target.spec.format} table at "
            f"{target.spec.location.describe()} yet",
            location=target.location,
            node=target.node.display_name,
            hint=f"build the {what} first: `headwater build -s {target.node.name}`",
        )
    return snapshot


def _located(exc: HeadwaterError, target: _Target, hint: str | None = None) -> HeadwaterError:
    """``exc`` (raised by the format) with the node's file and line, and ``hint`` if it has
    none."""
    if exc.location is None:
        exc.location = target.location
    exc.node = exc.node or target.node.display_name
    exc.hint = exc.hint or hint
    return exc


# -- the operations ---------------------------------------------------------------------------
def lake_history(ctx: Context, name: str, limit: int | None = None) -> LakeHistory:
    """The versions of ``name``'s lake table, newest first (at most ``limit``)."""
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}", hint="e.g. --limit 20")
    target = lake_node(ctx, name, maintain=False)
    current = _current(target)
    try:
        entries = target.table.history(limit)
    except HeadwaterError as exc:
        raise _located(exc, target) from None
    node = target.node
    return LakeHistory(node.display_name, node.unique_id, target.spec.format,
                       target.spec.location.describe(), current.version, entries)  # fmt: skip


def lake_optimize(
    ctx: Context, name: str, zorder: Sequence[str] | None = None, target_size: int | None = None
) -> LakeMaintenance:
    """Compact ``name``'s lake table (Z-ordered by ``zorder``) into files of about
    ``target_size`` bytes, and point its warehouse view at the new version."""
    started = time.perf_counter()
    columns = [c for c in (zorder or []) if c]
    if target_size is not None and target_size < 1:
        raise UsageError(
            f"target size must be a positive number of bytes, got {target_size}",
            hint="e.g. --target-size 134217728 (128 MiB)",
        )
    target = lake_node(ctx, name, maintain=True)
    engine_ready = _open_warehouse(ctx)
    before = _current(target)
    _check_zorder(target, before, columns)
    args = {"zorder": columns, "target_size": target_size}
    with _recorded(ctx, "lake optimize", target, args) as run:
        try:
            metrics = target.table.optimize(
                target_size=target_size,
                zorder=columns,
                metadata={"headwater.invocation_id": run.invocation_id or "",
                          "headwater.operation": "OPTIMIZE", "headwater.node": target.node.unique_id},
            )  # fmt: skip
        except HeadwaterError as exc:
            rebuild = f"`headwater build --full-refresh -s {target.node.name}` rewrites the table "
            raise _located(exc, target, rebuild + "as new, full-size files") from None
        after = _current(target)
        if after.version != before.version and engine_ready:
            _show(ctx, target, after)
        result = _result("optimize", target, before, after, run.invocation_id)
        old, new = {f.path for f in before.files}, {f.path for f in after.files}
        result.added = sorted(new - old)
        result.removed = sorted(old - new)
        result.zorder, result.target_size = columns, target_size
        result.metrics = dict(metrics)
        result.elapsed = time.perf_counter() - started
        run.summary = _summary(result)
        return result


def lake_vacuum(
    ctx: Context, name: str, retain: str | dt.timedelta = DEFAULT_RETAIN, dry_run: bool = False
) -> LakeMaintenance:
    """Delete the files of ``name``'s lake table that no version inside the last ``retain``
    needs (``dry_run``: only list them)."""
    started = time.perf_counter()
    window = parse_retain(retain)
    hours = math.ceil(window.total_seconds() / 3600)
    target = lake_node(ctx, name, maintain=True)
    engine_ready = False if dry_run else _open_warehouse(ctx)
    before = _current(target)
    args = {"retain": str(retain), "dry_run": dry_run}
    with _recorded(ctx, "lake vacuum", target, args, skip=dry_run) as run:
        removed = _vacuum(target, hours, dry_run)
        after = _current(target)
        if after.version != before.version and engine_ready:
            _show(ctx, target, after)
        if not dry_run:
            _forget_cached(target, removed)
        result = _result("vacuum", target, before, after, run.invocation_id)
        result.removed = removed
        result.retain, result.retention_hours, result.dry_run = window, hours, dry_run
        result.elapsed = time.perf_counter() - started
        run.summary = _summary(result)
        return result


def _vacuum(target: _Target, hours: int, dry_run: bool) -> list[str]:
    """The files vacuum deletes (would delete), relative to the table's root.

    delta-rs lists every expired remove action of the log, including files an earlier vacuum
    already deleted. So the files are listed first (a dry run) and only those still on storage
    are reported. The vacuum itself runs even when none is: it may do more than delete files
    (Iceberg expires old snapshots)."""
    try:
        listed = [_relative(target, p) for p in target.table.vacuum(float(hours), dry_run=True)]
        present = _present(target, listed)
        if dry_run:
            return sorted(present)
        done = [_relative(target, p) for p in target.table.vacuum(float(hours), dry_run=False)]
    except HeadwaterError as exc:
        keeps = f"a {target.spec.format} table keeps no files beyond its current version"
        raise _located(exc, target, keeps if not target.table.TIME_TRAVEL else None) from None
    return sorted(p for p in done if p in present or p not in listed)


def _relative(target: _Target, path: str) -> str:
    if "://" in path or path.startswith("/"):
        return target.spec.location.relative(path)
    return path


def _present(target: _Target, paths: Sequence[str]) -> set[str]:
    """Those of ``paths`` that are on the table's storage (all of them, if it cannot tell)."""
    if not paths:
        return set()
    from pyarrow import fs

    location = target.spec.location
    filesystem, _root = location.filesystem()
    uris = [p if "://" in p or p.startswith("/") else location.join(p) for p in paths]
    try:
        infos = filesystem.get_file_info([u.split("://", 1)[-1] for u in uris])
    except OSError:
        return set(paths)
    return {p for p, info in zip(paths, infos, strict=True) if info.type != fs.FileType.NotFound}


def parse_retain(value: str | dt.timedelta) -> dt.timedelta:
    """``--retain`` as a timedelta (any form of `headwater.durations`; zero allowed)."""
    from headwater.durations import DurationError, parse_timedelta

    try:
        return parse_timedelta(value, key="--retain", allow_zero=True)
    except DurationError as exc:
        raise UsageError(str(exc), hint="write e.g. `168h`, `7d`, `36h`, `90m` or `0h`") from None


def _check_zorder(target: _Target, snapshot: Snapshot, columns: Sequence[str]) -> None:
    names = list(snapshot.schema.names)
    label = target.node.display_name
    for column in columns:
        if column not in names:
            raise UsageError(
                f"`{label}` has no column `{column}` to z-order by" + did_you_mean(column, names),
                hint=f"columns: {', '.join(names)}",
            )
        if column in snapshot.partition_by:
            raise UsageError(
                f"`{column}` is a partition column of `{label}`: files are already split by it",
                hint="z-order by columns inside the partitions (e.g. ones you filter or join on)",
            )


# -- the warehouse view and the run history -------------------------------------------------------
def _open_warehouse(ctx: Context) -> bool:
    """Open the warehouse for writing (the project's lock: no build of it stages files while
    maintenance runs); whether it reads lake tables through views (DuckDB)."""
    return getattr(ctx.engine.strategies, "read_files_sql", None) is not None


def _show(ctx: Context, target: _Target, snapshot: Snapshot) -> None:
    """Point the node's view at ``snapshot`` (as `LakeWriter.show` does after a commit)."""
    from headwater.lake.files import scan_sql

    relation = target.node.relation
    assert relation is not None
    engine = ctx.engine
    files: LocalFiles = target.spec.files(target.table)
    sql = scan_sql(snapshot, files.paths(snapshot.files))
    engine.ensure_schema(relation.schema)
    if engine.relation_kind(relation) not in (None, "view"):
        engine.drop(relation)  # a warehouse table of the same name, from before it was a lake table
    engine.create_or_replace(relation, sql, "view")


def _forget_cached(target: _Target, removed: Sequence[str]) -> None:
    """Drop the lake cache's copies of deleted files (object storage: local copies for DuckDB)."""
    location = target.spec.location
    if location.is_local or not removed:
        return
    cache = target.spec.files(target.table).cache
    for path in removed:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(cache, *path.lstrip("/").split("/")))


@dataclass
class _Run:
    invocation_id: str | None
    summary: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _recorded(ctx: Context, command: str, target: _Target, args: dict[str, Any],
              skip: bool = False) -> Iterator[_Run]:  # fmt: skip
    """An invocation in the run history around the body (none when ``skip``): `success`, or
    `error` when the body raised; the summary is what the body leaves in `_Run.summary`."""
    if skip:
        yield _Run(None)
        return
    run = _Run(str(uuid.uuid4()))
    assert run.invocation_id is not None
    args = {"model": target.node.unique_id, **args}
    ctx.state.runs.start(run.invocation_id, command, args, ctx.manifest.target.name)
    status = "error"
    try:
        yield run
        status = "success"
    finally:
        ctx.state.runs.finish(run.invocation_id, status, run.summary)


def _result(operation: str, target: _Target, before: Snapshot, after: Snapshot,
            invocation_id: str | None) -> LakeMaintenance:  # fmt: skip
    node = target.node
    return LakeMaintenance(
        operation, node.display_name, node.unique_id, target.spec.format,
        target.spec.location.describe(), before.version, after.version,
        len(before.files), len(after.files), sum(f.size for f in before.files),
        sum(f.size for f in after.files), before.rows, after.rows, invocation_id=invocation_id,
    )  # fmt: skip


def _summary(result: LakeMaintenance) -> dict[str, Any]:
    return {
        "lake": {
            "operation": result.operation, "model": result.unique_id,
            "version_before": result.version_before, "version_after": result.version_after,
            "files_before": result.files_before, "files_after": result.files_after,
            "files_removed": len(result.removed),
        }
    }  # fmt: skip


__all__ = [
    "DEFAULT_RETAIN",
    "LakeHistory",
    "LakeMaintenance",
    "lake_history",
    "lake_node",
    "lake_optimize",
    "lake_vacuum",
    "parse_retain",
]
