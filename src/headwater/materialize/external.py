"""`materialized: external` (dbt-duckdb): the model's rows written to a file, and the model's
relation a view that reads the file.

Configuration, as dbt-duckdb 1.11 reads it:

* `location`: the file (or, when partitioned, the folder); default
  `{external_root}/{alias or name}.{format}`, or `{external_root}/{alias or name}` with
  `options.partition_by`. `external_root` is the target's (default `.`). Relative paths are
  relative to the project. `{{ this.identifier }}`-style Jinja in it is rendered.
* `format`: `parquet` (default), `csv` or `json`. Without it the format comes from `options`,
  then from the location's extension (`.csv`, `.csv.gz`, ...), then `csv` if a `delimiter` is
  set, else `parquet`.
* `delimiter` (csv), and `options`: a mapping passed to DuckDB's `COPY ... TO` — keys must be
  identifiers and values literals (strings, numbers, booleans, lists, mappings), so nothing from
  the config is spliced into SQL. `partition_by` (`"region, year"` or a list) writes a
  hive-partitioned folder (`region=eu/year=2024/data_0.parquet`). A csv file gets a header.
* `parquet_read_options`, `csv_read_options`, `json_read_options`: arguments of the view's
  `read_parquet` (default `union_by_name = false`), `read_csv` / `read_json` (default
  `auto_detect = true`).

The view is ``SELECT * FROM read_parquet('<file>', union_by_name = false)`` (`read_csv`,
`read_json` for the other formats; a glob such as `<folder>/*/*.parquet` for a partitioned one),
as dbt-duckdb creates it, with the file's absolute path. A SELECT without rows is written as one
row of NULLs (so a csv or json file still has its columns) that the view filters out.

Write-audit-publish: the rows go to a hidden file beside the target
(`.hw-tmp-<id>-<name>`); inside one transaction the view is pointed at it and the node's
error-level checks run; only if they pass is the file renamed over the target (an atomic
`rename` for a file; for a partitioned folder the old folder is moved aside first, a moment in
which the path does not exist) and the view pointed at the target. A failing check, an error or a
killed process leaves the previous file and view as they were; a leftover hidden file is removed
by the next build.

Not supported (an error says so): `glue_register` / `plugin` (registering the file in a
catalog), and locations that are URLs (`s3://...`: no atomic rename).

Engines: the relation is a view that reads the file, so `external` needs an engine that reads
files in SQL — DuckDB (`strategies.read_files_sql`). On PostgreSQL the server cannot read a file
headwater writes on this machine (it may run elsewhere; `COPY FROM` a server file needs
superuser), so a build fails with a `ConfigError` naming the engine and the fix (a `table`
model) before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.engines.base import Engine, quote_identifier, quote_literal
from headwater.engines.duckdb import sql_value
from headwater.errors import ConfigError, Location
from headwater.materialize.stateful import BuildContext, BuildOutcome, StatefulMaterialization
from headwater.project.definition import Node, ProjectConfig, Relation

FORMATS = ("parquet", "csv", "json")
READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}
DEFAULT_READ_OPTIONS: dict[str, dict[str, Any]] = {
    "parquet": {"union_by_name": False},
    "csv": {"auto_detect": True},
    "json": {"auto_detect": True},
}
COLUMN_LIST_OPTIONS = ("partition_by", "force_quote", "force_not_null")
"""COPY options whose value is a list of columns (written as quoted identifiers)."""
TMP_PREFIX, OLD_PREFIX = ".hw-tmp-", ".hw-old-"
"""Hidden names beside the target: the file being written, the previous folder during a swap."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMPRESSION_SUFFIXES = {".gz": "gzip", ".zst": "zstd"}


class ExternalMaterialization(StatefulMaterialization):
    """Writes the model's SELECT to a file and makes its relation a view over the file."""

    KIND = "view"

    def build(self, ctx: BuildContext) -> BuildOutcome:
        node = ctx.node
        assert node.relation is not None
        if getattr(ctx.engine.strategies, "read_files_sql", None) is None:
            raise ConfigError(
                f"`{node.name}` is materialized as external, which needs an engine that reads files in SQL "
                f"(duckdb); the target `{ctx.engine.target.name}` is {ctx.engine.NAME}, whose views cannot read "
                "a file written here",
                location=Location(node.path, node.line),
                node=node.name,
                hint="make it `materialized: table` on this target (a table in the warehouse), or build it "
                "on a duckdb target",
            )
        spec = ExternalSpec.of(node, ctx.project, getattr(ctx.engine.target, "external_root", "."))
        return _Build(ctx, spec).run()


@dataclass(frozen=True)
class ExternalSpec:
    """Where and how one external model is written and read back."""

    location: str
    """As configured or defaulted (rendered), before resolving against the project."""
    path: Path
    """Absolute path of the file, or of the folder of a partitioned or per-thread output."""
    format: str
    """What the view reads: parquet, csv or json."""
    write_options: dict[str, Any] = field(default_factory=dict)
    """COPY options (validated), including `format`."""
    read_options: dict[str, Any] = field(default_factory=dict)
    glob_depth: int | None = None
    """For a folder output: how many `*` folder levels precede the files (None: a single file)."""

    @classmethod
    def of(cls, node: Node, project: ProjectConfig, external_root: str = ".") -> ExternalSpec:
        return _SpecBuilder(node, project, external_root).build()

    @property
    def is_folder(self) -> bool:
        return self.glob_depth is not None

    def read_location(self, path: Path) -> str:
        """The file, or the glob of the files of a folder output, that the view reads."""
        if self.glob_depth is None:
            return str(path)
        ext = str(self.write_options.get("format", "parquet"))
        return "/".join([str(path), "*", *["*"] * self.glob_depth]) + f".{ext}"

    def view_sql(self, path: Path, empty_columns: list[str] | None = None) -> str:
        args = [quote_literal(self.read_location(path))]
        args += [f"{key} = {sql_value(value)}" for key, value in self.read_options.items()]
        sql = f"SELECT * FROM {READERS[self.format]}({', '.join(args)})"
        if empty_columns is not None:  # the written row of NULLs stands for "no rows"
            sql += " WHERE " + " AND ".join(
                ["1", *(f"{quote_identifier(c)} IS NOT NULL" for c in empty_columns)]
            )
        return sql

    def copy_sql(self, select: str, dest: Path) -> str:
        opts = ", ".join(
            f"{key} {_copy_value(key, value)}" for key, value in self.write_options.items()
        )
        return f"COPY (\n{select}\n) TO {quote_literal(str(dest))} ({opts})"


class _SpecBuilder:
    """dbt-duckdb's rules for location, format and options, with validation."""

    def __init__(self, node: Node, project: ProjectConfig, external_root: str) -> None:
        self.node = node
        self.project = project
        self.external_root = external_root or "."
        self.config = node.config

    def error(self, message: str, hint: str) -> ConfigError:
        return ConfigError(
            message,
            location=Location(self.node.path, self.node.line),
            node=self.node.name,
            hint=hint,
        )

    def build(self) -> ExternalSpec:
        self.refuse_unsupported()
        configured = self.options("options")
        options = {k: self.rendered(v) for k, v in configured.items()}
        fmt_config = self.config.get("format")
        if fmt_config and str(fmt_config) not in FORMATS:
            raise self.error(
                f"unknown `format: {fmt_config}` for external model `{self.node.name}`",
                "use one of: " + ", ".join(FORMATS),
            )
        if fmt_config:
            options["format"] = self.rendered(fmt_config)
        if self.config.get("delimiter"):
            options["delimiter"] = self.rendered(self.config["delimiter"])
        location = self.location(configured, fmt_config)
        self.infer_format(options, location)
        write_format = str(options["format"]).lower()
        if write_format not in FORMATS:
            raise self.error(
                f"`{self.node.name}` would be written as `{options['format']}`, which headwater cannot read back",
                "set `format:` to one of "
                + ", ".join(FORMATS)
                + " (or give `location` one of their extensions)",
            )
        options["format"] = write_format
        if write_format == "csv":
            options.setdefault("header", 1)
        if "partition_by" in options:
            options["partition_by"] = self.columns(options["partition_by"], "options.partition_by")
        view_format = str(fmt_config) if fmt_config else write_format
        read_options = self.read_options(view_format, options)
        depth = None
        if options.get("partition_by") or options.get("per_thread_output"):
            depth = len(options.get("partition_by") or [])
        path = Path(location)
        if not path.is_absolute():
            path = Path(self.project.root) / path
        return ExternalSpec(
            location, Path(os.path.normpath(path)), view_format, options, read_options, depth
        )

    def refuse_unsupported(self) -> None:
        if self.config.get("glue_register") or self.config.get("plugin") is not None:
            raise self.error(
                f"`{self.node.name}`: registering an external model in a catalog (`glue_register`, `plugin`) is not supported",
                "remove `glue_register` / `plugin` from the model's config; the file and the view are still written",
            )

    def options(self, key: str) -> dict[str, Any]:
        value = self.config.get(key) or {}
        if not isinstance(value, dict):
            raise self.error(
                f"`{key}` of `{self.node.name}` must be a mapping, got `{value!r}`",
                f"e.g. `{key}: {{compression: zstd}}`",
            )
        for name, item in value.items():
            if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
                raise self.error(
                    f"`{key}` of `{self.node.name}` has the key `{name}`, which is not an option name",
                    "option names are letters, digits and `_` (e.g. `row_group_size`)",
                )
            check_literal(item, f"`{key}.{name}` of `{self.node.name}`", self.error)
        return dict(value)

    def rendered(self, value: Any) -> Any:
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return render_template(value, self.node, self.external_root)
        return value

    def location(self, configured: dict[str, Any], fmt_config: Any) -> str:
        location = self.config.get("location")
        if location:
            location = str(self.rendered(location))
        else:
            assert self.node.relation is not None
            root = self.external_root.rstrip("/") or "."
            location = f"{root}/{self.node.relation.identifier}"
            if configured.get("partition_by") is None:
                location += f".{fmt_config or 'parquet'}"
        if "://" in location:
            raise self.error(
                f"`{self.node.name}` would be written to `{location}`: remote locations are not supported yet",
                "write to a local path (`location:` or the target's `external_root`) and upload it afterwards",
            )
        return location

    @staticmethod
    def infer_format(options: dict[str, Any], location: str) -> None:
        if "format" in options:
            return
        root, ext = os.path.splitext(location)
        compression = _COMPRESSION_SUFFIXES.get(ext.lower())
        if compression:
            ext = os.path.splitext(root)[1]
        if ext:
            options["format"] = ext[1:].lower()
            if compression:
                options.setdefault("compression", compression)
        elif "delimiter" in options:
            options["format"] = "csv"
        else:
            options["format"] = "parquet"

    def read_options(self, view_format: str, write_options: dict[str, Any]) -> dict[str, Any]:
        key = f"{view_format}_read_options"
        options = (
            self.options(key)
            if self.config.get(key) is not None
            else dict(DEFAULT_READ_OPTIONS[view_format])
        )
        if (
            view_format != "parquet"
            and write_options.get("compression")
            and "compression" not in options
        ):
            options["compression"] = write_options["compression"]
        return options

    def columns(self, value: Any, what: str) -> list[str]:
        names = value if isinstance(value, list) else str(value).strip().strip("()").split(",")
        out = [str(n).strip() for n in names]
        if not out or not all(out):
            raise self.error(
                f"`{what}` of `{self.node.name}` names no column: `{value!r}`",
                "e.g. `partition_by: 'region, year'`",
            )
        return out


def check_literal(value: Any, what: str, error: Callable[[str, str], Exception]) -> None:
    """A config value that becomes an SQL literal: no None, no objects."""
    if isinstance(value, bool | int | float | str):
        return
    if isinstance(value, list | tuple):
        for item in value:
            check_literal(item, what, error)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise error(f"{what} has a non-text key `{key!r}`", "use text keys")
            check_literal(item, what, error)
        return
    raise error(
        f"{what} is `{value!r}`: expected a string, number, boolean, list or mapping",
        "write the value as a literal",
    )


def _copy_value(key: str, value: Any) -> str:
    if key.lower() in COLUMN_LIST_OPTIONS:
        names = value if isinstance(value, list | tuple) else [value]
        return "(" + ", ".join(quote_identifier(str(n)) for n in names) + ")"
    return sql_value(value)


def render_template(text: str, node: Node, external_root: str) -> str:
    """Render `{{ this.identifier }}`-style Jinja in a location or option (a sandbox that knows
    `this`, `model`, `target.external_root` and `env_var`)."""
    from types import SimpleNamespace

    import jinja2.sandbox

    relation = node.relation or Relation("", node.name)

    class This(SimpleNamespace):
        def __str__(self) -> str:
            return relation.render()

    this = This(
        identifier=relation.identifier,
        name=relation.identifier,
        schema=relation.schema,
        database=relation.database,
    )

    def env_var(name: str, default: str | None = None) -> str:
        value = os.environ.get(name, default)
        if value is None:
            raise ConfigError(
                f"env_var(`{name}`) is not set",
                location=Location(node.path, node.line),
                node=node.name,
            )
        return value

    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    context = {
        "this": this,
        "model": {"name": node.name, "alias": relation.identifier, "config": dict(node.config)},
        "target": {"external_root": external_root},
        "env_var": env_var,
    }
    try:
        return env.from_string(text).render(context)
    except jinja2.TemplateError as exc:
        raise ConfigError(
            f"cannot render `{text}` for `{node.name}`: {exc}",
            location=Location(node.path, node.line),
            node=node.name,
            hint="an external location may use `this` (identifier, schema), `model.name`, `target.external_root`, `env_var()`",
        ) from None


class _Build:
    """One build: write beside the target, audit through the view, swap in, commit."""

    def __init__(self, ctx: BuildContext, spec: ExternalSpec) -> None:
        self.ctx = ctx
        self.engine: Engine = ctx.engine
        self.spec = spec
        assert ctx.node.relation is not None
        self.relation: Relation = ctx.node.relation
        final = spec.path
        self.tmp = final.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{final.name}")
        self.backup = final.with_name(f"{OLD_PREFIX}{uuid.uuid4().hex[:12]}-{final.name}")

    def run(self) -> BuildOutcome:
        final = self.spec.path
        self.refuse_foreign_folder(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(final)
        try:
            rows, empty = self.write()
            return self.publish(rows, empty)
        finally:
            _remove(self.tmp)
            _remove(self.backup)

    def refuse_foreign_folder(self, final: Path) -> None:
        """Replacing a folder removes it: only a partitioned output headwater wrote (`key=value/`
        folders and files of the format) may be replaced, never another folder (dbt-duckdb fails
        on an existing folder too)."""
        if not final.is_dir() or final.is_symlink():
            return
        suffix = f".{self.spec.format}"
        ours = self.spec.is_folder and all(
            (entry.is_dir() and "=" in entry.name) or (entry.is_file() and suffix in entry.name)
            for entry in final.iterdir()
        )
        if not ours:
            from headwater.errors import ConfigError

            raise ConfigError(
                f"`{self.ctx.node.name}` would replace the folder `{final}`, which is not a partitioned "
                f"output of this model; nothing was written",
                node=self.ctx.node.name,
                hint="point `location` at a file (or, with `partition_by`, at a folder of its own)",
            )

    def write(self) -> tuple[int, list[str] | None]:
        """COPY the rows to the hidden file; no rows: one row of NULLs, and the column names."""
        select = (self.ctx.node.compiled_sql or "").strip().rstrip(";")
        rows = self.engine.execute(self.spec.copy_sql(select, self.tmp))
        count = int(rows[0][0]) if rows and rows[0] else 0
        if count:
            return count, None
        _remove(self.tmp)
        columns = [
            str(r[0])
            for r in self.engine.query_columns(f"SELECT * FROM (\n{select}\n) AS _hw_rows")
        ]
        padded = f"SELECT _hw_rows.* FROM (SELECT 1) AS _hw_one LEFT JOIN (\n{select}\n) AS _hw_rows ON true"
        self.engine.execute(self.spec.copy_sql(padded, self.tmp))
        return 0, columns

    def publish(self, rows: int, empty: list[str] | None) -> BuildOutcome:
        engine = self.engine
        with engine.transaction_scope() as txn:
            if engine.relation_kind(self.relation) == "table":
                engine.drop(self.relation)
            engine.create_or_replace(self.relation, self.spec.view_sql(self.tmp, empty), "view")
            checks = self.ctx.audit()
            blocking = [c for c in checks if c.blocks]
            if blocking:
                txn.rollback()
                names = ", ".join(f"`{c.name}`" for c in blocking)
                return BuildOutcome(
                    rows, False, f"not published: {names} failed; the previous file stays", checks
                )
            self.swap()
            engine.create_or_replace(
                self.relation, self.spec.view_sql(self.spec.path, empty), "view"
            )
        return BuildOutcome(rows, True, "", checks)

    def swap(self) -> None:
        """Put the written file (or folder) in the target's place."""
        final = self.spec.path
        if final.exists() and (final.is_dir() or self.spec.is_folder):
            os.rename(final, self.backup)  # a folder cannot be replaced by rename in one step
            try:
                os.rename(self.tmp, final)
            except OSError:
                os.rename(self.backup, final)
                raise
        else:
            os.replace(self.tmp, final)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_leftovers(final: Path) -> None:
    """Hidden files a killed build left beside the target (never read: not the target's name).
    A previous folder moved aside by a build killed mid-swap is put back first."""
    pattern = re.compile(r"\.hw-(tmp|old)-[0-9a-f]{12}-" + re.escape(final.name))
    with contextlib.suppress(OSError):
        entries = [e for e in final.parent.iterdir() if pattern.fullmatch(e.name)]
        for entry in entries:
            if entry.name.startswith(OLD_PREFIX) and not final.exists():
                os.rename(entry, final)
            else:
                _remove(entry)
