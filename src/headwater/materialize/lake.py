"""Lake tables as materializations: a model or snapshot written as a Delta, Iceberg or Parquet
table, and read by the warehouse through a view over the files of its current version.

```yaml
models:
  - name: fct_orders
    config:
      materialized: delta          # parquet | delta | iceberg  (or dbt-spark's file_format: delta)
      location: s3://lake/marts/fct_orders   # default <lake_root>/<schema>/<name>
      partition_by: [order_date]
      sort_by: [customer_id]
      incremental_strategy: merge  # any strategy; no strategy and no unique_key: a table
      unique_key: order_id
```

**The relation.** The model's relation in the warehouse is a view reading exactly the files of
the table's current version (`headwater.lake.files.scan_sql`), so `ref()`, tests, docs and
`headwater query` see the lake table like any other relation. Every build first points the view at
the table's current version (another writer may have committed since), and after a commit at the
new one. Object-store tables are read through the project's lake cache (`headwater.lake.LocalFiles`).

**Building** (write-audit-publish, for every format):

* a *table* (no strategy, the first build of an incremental model, `--full-refresh`): the SELECT
  is written straight to staged Parquet files by DuckDB; the checks run on a view over the staged
  files; the commit replaces every file of the version the build started from;
* *append*, *merge*, *delete+insert* and *insert_overwrite* (without schema changes,
  `incremental_predicates` or `merge_update_columns`) change files, not rows: append adds the new
  rows' files; merge and delete+insert find the files holding a key of the new rows, rewrite them
  without those keys plus the new rows, and commit the new files with the old ones removed
  (copy-on-write, as Delta and Iceberg writers do); insert_overwrite removes the files of the
  partitions the new rows fall in. The checks run on a view of the resulting version before the
  commit;
* everything else (microbatch, schema changes, snapshots, scd1/scd3) runs the
  warehouse materialization unchanged on a copy of the table in DuckDB (`stateful.audited` with a
  `Publisher`): it applies its statements to the copy, the checks run on the copy, and the copy is
  written as a full new version. Same results as a warehouse table, at the cost of rewriting the
  table.

A commit is compare-and-swap on the version the change was computed from (`LakeTable.commit`).
When another writer got there first (`LakeConflict`, a `ConflictError`), the runner computes the
build again from the new version (`runner.scheduler.retrying`, with backoff), and reports the
conflict if it persists. A change whose checks fail is
never committed: its staged files are deleted, the current version stays, and the table's history
has no trace of it that a reader could see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from headwater.engines.base import Engine, quote_identifier
from headwater.errors import ConfigError, Location
from headwater.lake import LakeTable, LocalFiles, Snapshot
from headwater.lake.files import casted_select, scan_sql, write_files
from headwater.lake.spec import LakeSpec, table_for
from headwater.lake.table import Change, DataFile
from headwater.materialize import Materialization
from headwater.materialize.stateful import (
    BuildContext,
    BuildOutcome,
    StatefulMaterialization,
    _blocking,
    _refused,
)
from headwater.project.definition import Node, Relation, lake_format

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.quality.evaluator import CheckResult

FAST_STRATEGIES = ("append", "merge", "delete+insert", "insert_overwrite")

__all__ = ["LakeMaterialization", "LakeSource", "LakeSpec", "LakeWriter", "table_for"]


class LakeMaterialization(StatefulMaterialization):
    """A model or snapshot as a lake table; ``inner`` is how it is built (None: a table)."""

    KIND = "view"

    def __init__(self, name: str, kind: str, inner: StatefulMaterialization | None = None) -> None:
        super().__init__(name, kind)
        self.inner = inner

    def build(self, ctx: BuildContext) -> BuildOutcome:
        node = ctx.node
        if getattr(ctx.engine.strategies, "read_files_sql", None) is None:
            raise ConfigError(
                f"`{node.name}` is a {lake_format(node.config)} table, which the warehouse reads "
                f"through a view over its Parquet files; the target `{ctx.engine.target.name}` is "
                f"{ctx.engine.NAME}, which cannot read files",
                location=Location(node.path, node.line),
                node=node.name,
                hint="build lake tables on a duckdb target",
            )
        spec = LakeSpec.of(node, ctx.project, getattr(ctx.engine.target, "lake_root", "lake"))
        try:
            return self._build(ctx, LakeWriter(ctx, spec))
        finally:
            ctx.publisher = None

    def prepare(self, ctx: BuildContext) -> None:
        spec = LakeSpec.of(ctx.node, ctx.project, getattr(ctx.engine.target, "lake_root", "lake"))
        ctx.publisher = LakeWriter(ctx, spec)

    def _build(self, ctx: BuildContext, writer: LakeWriter) -> BuildOutcome:
        writer.begin()
        node = ctx.node
        if self.inner is None:
            return writer.full(node.compiled_sql or "")
        strategy = _fast_strategy(node)
        full = ctx.full_refresh and node.config.get("full_refresh") is not False
        if strategy and (writer.base is None or full):
            return writer.full(node.compiled_sql or "")
        if strategy:
            outcome = writer.incremental(strategy, node.variants.get("incremental") or "")
            if outcome is not None:
                return outcome
        ctx.publisher = writer
        return self.inner.build(ctx)


def _fast_strategy(node: Node) -> str | None:
    """The strategy when lake files can be changed directly (module docstring), else None."""
    if node.resource_type != "model" or node.materialized != "incremental":
        return None  # snapshots, scd1 and scd3 go through their own materialization
    strategy = str(node.config.get("incremental_strategy") or "").lower()
    if not strategy:
        strategy = "delete+insert" if node.config.get("unique_key") else "append"
    if strategy not in FAST_STRATEGIES:
        return None
    if strategy == "insert_overwrite" and not node.config.get("partition_by"):
        return None  # the warehouse materialization explains what is missing
    if strategy == "merge" and (
        node.config.get("merge_update_columns") or node.config.get("merge_exclude_columns")
    ):
        return None
    if node.config.get("incremental_predicates"):
        return None
    return strategy


@dataclass
class LakeWriter:
    """One attempt at one node's change of its lake table: the base version, staging, auditing,
    committing, and the node's view. Also the `Publisher` of stateful builds."""

    ctx: BuildContext
    spec: LakeSpec
    table: LakeTable = field(init=False)
    files: LocalFiles = field(init=False)
    base: Snapshot | None = None
    staged: list[DataFile] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.table = self.spec.table(self.ctx.node.name)
        self.files = self.spec.files(self.table)

    @property
    def engine(self) -> Engine:
        return self.ctx.engine

    @property
    def relation(self) -> Relation:
        relation = self.ctx.node.relation
        assert relation is not None
        return relation

    # -- the base version and the view -------------------------------------------------------------
    def begin(self) -> None:
        self.base = self.table.snapshot()
        self.show(self.base)

    def view_sql(self, snapshot: Snapshot) -> str:
        return scan_sql(snapshot, self.files.paths(snapshot.files))

    def show(self, snapshot: Snapshot | None) -> None:
        """Point the node's relation at ``snapshot`` (drop it when the table does not exist)."""
        if snapshot is None:
            self.engine.drop(self.relation)
            return
        self.engine.ensure_schema(self.relation.schema)
        if self.engine.relation_kind(self.relation) not in (None, "view"):
            self.engine.drop(self.relation)  # a warehouse table of the same name, from before
        self.engine.create_or_replace(self.relation, self.view_sql(snapshot), "view")

    # -- staging, auditing, committing ------------------------------------------------------------
    def stage(self, sql: str) -> tuple[list[DataFile], pa.Schema]:
        casted = casted_select(self.engine, sql, self.table.CASTS)
        schema = self.engine.fetch_arrow(f"SELECT * FROM (\n{casted}\n) AS hw_q LIMIT 0").schema
        separate = None if self.table.STAGES_IN_PLACE else self.table.stage_root()
        root = separate or self.files.write_root
        folder = f"{root}/{self.table.DATA_PREFIX}" if self.table.DATA_PREFIX else root
        self._check_columns(schema)
        files = write_files(
            self.engine,
            casted,
            folder,
            self.spec.partition_by,
            self.spec.sort_by,
            partitions_in_files=self.table.PARTITIONS_IN_FILES,
            relative_to=None if separate else root,
            schema=schema,
        )
        self.staged.extend(files)
        return files, schema

    def _check_columns(self, schema: pa.Schema) -> None:
        node = self.ctx.node
        names = set(schema.names)
        for key, columns in (
            ("partition_by", self.spec.partition_by),
            ("sort_by", self.spec.sort_by),
        ):
            for column in columns:
                if column not in names:
                    from headwater.errors import did_you_mean

                    raise ConfigError(
                        f"`{key}` of `{node.name}` names `{column}`, which the model does not "
                        "return" + did_you_mean(column, sorted(names)),
                        location=Location(node.path, node.line),
                        node=node.name,
                        hint=f"columns: {', '.join(schema.names)}",
                    )

    def audit(self, after: Snapshot) -> list[CheckResult]:
        """The node's checks on the version ``after`` would be, read from its files."""
        audit = self.engine.audit_relation(self.relation)
        self.engine.create_or_replace(audit, self.view_sql(after), "view")
        try:
            return self.ctx.audit(audit)
        finally:
            self.engine.drop(audit)

    def commit(self, change: Change) -> Snapshot:
        metadata = {
            "headwater.invocation_id": self.ctx.invocation_id,
            "headwater.node": self.ctx.node.unique_id,
        }
        change = Change(
            change.adds,
            change.removes,
            change.schema,
            change.overwrite,
            change.operation,
            {**metadata, **change.metadata},
        )
        try:
            self.files.upload(change.adds)
            version = self.table.commit(change, self.base, self.spec.partition_by)
        except BaseException:
            self.discard()
            raise
        self.staged = []
        if self.table.STAGES_IN_PLACE:  # the files are where the change staged them
            after = self._after(change.adds, change.removes, change.schema, change.overwrite)
            new = Snapshot(version, after.files, after.schema, after.partition_by,
                           after.partitions_in_files)  # fmt: skip
        else:
            found = self.table.snapshot()
            assert found is not None
            new = found
        self.show(new)
        self.base = new
        return new

    def discard(self) -> None:
        if self.staged:
            self.files.discard(self.staged)
            self.staged = []

    def _after(self, adds: Sequence[DataFile], removes: Sequence[DataFile] = (),
               schema: pa.Schema | None = None, overwrite: bool = False) -> Snapshot:  # fmt: skip
        gone = {f.path for f in removes}
        kept = [] if overwrite or self.base is None else [
            f for f in self.base.files if f.path not in gone
        ]  # fmt: skip
        base_schema = self.base.schema if self.base is not None else None
        chosen = schema if schema is not None else base_schema
        assert chosen is not None
        return Snapshot(
            version=-1,
            files=(*kept, *adds),
            schema=chosen,
            partition_by=self.spec.partition_by,
            partitions_in_files=self.table.PARTITIONS_IN_FILES,
        )

    def _publish(self, change: Change, after: Snapshot, rows: int | None,
                 stats: dict[str, int], message: str) -> BuildOutcome:  # fmt: skip
        checks = self.audit(after)
        if _blocking(checks):
            self.discard()
            return _refused(rows, checks)
        new = self.commit(change)
        return BuildOutcome(
            rows, True, f"{message}; {self.table.FORMAT} version {new.version}", checks, stats
        )

    # -- the builds -----------------------------------------------------------------------------
    def full(self, sql: str) -> BuildOutcome:
        """The whole table from ``sql``: staged, audited, committed over every old file."""
        try:
            adds, schema = self.stage(sql.strip().rstrip(";"))
            rows = sum(f.rows for f in adds)
            after = self._after(adds, schema=schema, overwrite=True)
            change = Change(adds, schema=schema, overwrite=True, operation="WRITE")
            return self._publish(change, after, rows, {"inserted": rows}, "full build")
        except BaseException:
            self.discard()
            raise

    def incremental(self, strategy: str, sql: str) -> BuildOutcome | None:
        """append / merge / delete+insert by files; None when the new rows change the table's
        columns (the stateful path handles `on_schema_change`)."""
        assert self.base is not None
        engine = self.engine
        new = engine.staging_relation(self.relation)
        engine.create_or_replace(
            new, casted_select(engine, sql.strip().rstrip(";"), self.table.CASTS), "table"
        )
        try:
            have = {n.lower(): t for n, t in engine.query_columns(self.view_sql(self.base))}
            if {n.lower(): t for n, t in engine.columns(new)} != have:
                return None  # new, dropped or retyped columns: `on_schema_change` decides
            try:
                if strategy == "append":
                    return self._append(new)
                if strategy == "insert_overwrite":
                    return self._replace_partitions(new)
                return self._replace_keys(strategy, new)
            except BaseException:
                self.discard()
                raise
        finally:
            engine.drop(new)

    def _append(self, new: Relation) -> BuildOutcome:
        adds, _schema = self.stage(f"SELECT * FROM {new.render()}")
        rows = sum(f.rows for f in adds)
        after = self._after(adds)
        return self._publish(Change(adds, operation="APPEND"), after, rows, {"inserted": rows},
                             f"append: {rows:,} rows")  # fmt: skip

    def _replace_keys(self, strategy: str, new: Relation) -> BuildOutcome:
        """merge / delete+insert: rewrite the files that hold a key of the new rows."""
        from headwater.materialize.incremental import _check_keys, unique_key

        assert self.base is not None
        node, engine = self.ctx.node, self.engine
        keys = unique_key(node)
        _check_keys(engine, node, keys, new, unique=strategy == "merge")
        q = quote_identifier
        match = " AND ".join(f"t.{q(k)} = n.{q(k)}" for k in keys)
        paths = self.files.paths(self.base.files)
        by_path = dict(zip(paths, self.base.files, strict=True))
        found = engine.execute(
            f"SELECT DISTINCT t.hw_file FROM ({scan_sql(self.base, paths, filename=True)}) AS t "
            f"WHERE EXISTS (SELECT 1 FROM {new.render()} AS n WHERE {match})"
        )
        touched = [str(r[0]) for r in found]
        removes = [by_path[p] for p in touched]
        columns = ", ".join(q(n) for n in self.base.schema.names)
        sql = f"SELECT {columns} FROM {new.render()}"
        if touched:
            old = Snapshot(-1, tuple(removes), self.base.schema, self.base.partition_by,
                           self.base.partitions_in_files)  # fmt: skip
            kept = (
                f"SELECT {columns} FROM ({scan_sql(old, touched)}) AS t "
                f"WHERE NOT EXISTS (SELECT 1 FROM {new.render()} AS n WHERE {match})"
            )
            sql = f"{kept}\nUNION ALL\n{sql}"
        total = int(engine.execute(f"SELECT count(*) FROM {new.render()}")[0][0])
        adds, _schema = self.stage(sql)
        # old rows a new row replaced: the rows of the rewritten files that were not kept
        replaced = sum(f.rows for f in removes) - (sum(f.rows for f in adds) - total)
        updated = min(replaced, total)
        after = self._after(adds, removes)
        stats = {"inserted": total - updated, "updated": updated, "deleted": replaced - updated}
        return self._publish(
            Change(adds, removes, operation="MERGE"), after, total, stats,
            f"{strategy}: {total:,} rows ({replaced:,} replaced, {len(removes)} files rewritten)",
        )  # fmt: skip

    def _replace_partitions(self, new: Relation) -> BuildOutcome:
        """insert_overwrite: the files of every partition the new rows fall in are replaced by
        the new rows' files (found by comparing typed partition values, not their text)."""
        assert self.base is not None
        q = quote_identifier
        parts = self.spec.partition_by
        match = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM n.{q(c)}" for c in parts)
        paths = self.files.paths(self.base.files)
        by_path = dict(zip(paths, self.base.files, strict=True))
        found = self.engine.execute(
            f"SELECT DISTINCT t.hw_file FROM ({scan_sql(self.base, paths, filename=True)}) AS t "
            f"WHERE EXISTS (SELECT 1 FROM (SELECT DISTINCT {', '.join(q(c) for c in parts)} "
            f"FROM {new.render()}) AS n WHERE {match})"
        )
        removes = [by_path[str(r[0])] for r in found]
        columns = ", ".join(q(n) for n in self.base.schema.names)
        adds, _schema = self.stage(f"SELECT {columns} FROM {new.render()}")
        rows = sum(f.rows for f in adds)
        replaced = sum(f.rows for f in removes)
        stats = {"inserted": rows, "updated": 0, "deleted": replaced}
        return self._publish(
            Change(adds, removes, operation="REPLACE PARTITIONS"), self._after(adds, removes),
            rows, stats, f"insert_overwrite: {rows:,} rows ({len(removes)} files replaced)",
        )  # fmt: skip

    # -- Publisher (stateful builds on a copy) ----------------------------------------------------
    def publish(self, staged: Relation) -> None:
        adds, schema = self.stage(f"SELECT * FROM {staged.render()}")
        self.commit(Change(adds, schema=schema, overwrite=True, operation="WRITE"))

    def create_empty(self, sql: str) -> None:
        """The table with the columns of ``sql`` and no rows (a microbatch model's first run)."""
        adds, schema = self.stage(f"SELECT * FROM (\n{sql}\n) AS hw_shape WHERE false")
        self.commit(Change(adds, schema=schema, overwrite=True, operation="CREATE"))

    def reset(self) -> None:
        """An empty version (no files), keeping the schema: the start of a full refresh that
        rebuilds interval by interval."""
        if self.base is not None:
            self.commit(Change((), schema=self.base.schema, overwrite=True, operation="TRUNCATE"))


def lake_materialization(node: Node, inner: Materialization | None) -> LakeMaterialization:
    """The lake materialization of ``node``, built as ``inner`` (None or a table: a table)."""
    stateful = inner if isinstance(inner, StatefulMaterialization) else None
    return LakeMaterialization(f"{lake_format(node.config)}", "view", stateful)


class LakeSource(StatefulMaterialization):
    """A source table that is an existing Delta, Iceberg or Parquet table (`format:` and
    `location:` in sources.yml): every run points the source's relation, a view, at the table's
    current version (or at its `version:` / `as_of:`), so models read what is committed when the
    run reaches them."""

    KIND = "view"

    def build(self, ctx: BuildContext) -> BuildOutcome:
        node = ctx.node
        spec = LakeSpec.of(node, ctx.project, getattr(ctx.engine.target, "lake_root", "lake"))
        table = spec.table(node.display_name)
        if (spec.version is not None or spec.as_of is not None) and not table.TIME_TRAVEL:
            raise ConfigError(
                f"source `{node.display_name}` asks for an older version of a {spec.format} "
                "table, which keeps none",
                location=Location(node.path, node.line),
                node=node.display_name,
                hint="remove `version:` / `as_of:`, or keep the data as a Delta or Iceberg table",
            )
        snapshot = table.snapshot(spec.version, spec.as_of)
        if snapshot is None:
            raise ConfigError(
                f"source `{node.display_name}`: no {spec.format} table at "
                f"{spec.location.describe()}",
                location=Location(node.path, node.line),
                node=node.display_name,
                hint="check `location:` (and the credentials in the environment for object "
                "storage), or write the table first",
            )
        relation = node.relation
        assert relation is not None
        files = spec.files(table)
        ctx.engine.ensure_schema(relation.schema)
        ctx.engine.create_or_replace(
            relation, scan_sql(snapshot, files.paths(snapshot.files)), "view"
        )
        return BuildOutcome(
            snapshot.rows, True, f"{spec.format} version {snapshot.version}", stats={}
        )
