"""Typed objects a project is read into: the project config, targets, graph nodes, and the
`Project` the readers fill; `merge_config` merges dbt configs level by level.

Everything here is a plain dataclass (stdlib only) so a parsed project can be cached on disk and
loaded without importing the parsing stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.errors import HeadwaterError

# Placeholders of a microbatch model's `batch` variant, replaced by each interval's bounds.
BATCH_START, BATCH_END = "__HW_BATCH_START__", "__HW_BATCH_END__"

RESOURCE_TYPES = ("source", "seed", "model", "snapshot", "test", "analysis", "stream")
REFABLE = ("model", "seed", "snapshot", "stream")
"""Resource types `ref()` names: a stream's sink and window tables are read like models."""
MATERIALIZATIONS = ("view", "table", "ephemeral", "incremental")

MODEL_CONFIG_KEYS = frozenset(
    {
        "materialized", "schema", "alias", "database", "tags", "enabled", "pre_hook",
        "post_hook", "pre-hook", "post-hook", "persist_docs", "meta", "docs", "unique_key",
        "incremental_strategy", "on_schema_change", "contract", "grants", "full_refresh",
        "incremental_predicates",
        "event_time", "batch_size", "begin", "lookback", "partition_by", "cluster_by",
        "sql_header", "quoting", "column_types", "delimiter", "quote_columns", "severity",
        "warn_if", "error_if", "where", "limit", "store_failures", "store_failures_as",
        "fail_calc", "group", "access", "threads", "owner", "description", "columns",
        "strategy", "updated_at", "check_cols", "target_schema", "hard_deletes", "on_failure",
        "max_quarantined", "constraints", "snapshot_meta_column_names", "dbt_valid_to_current",
        "invalidate_hard_deletes", "scd_columns", "target_database",
        # dbt-duckdb: materialized: external
        "format", "location", "options", "glue_register", "plugin", "parquet_read_options",
        "csv_read_options", "json_read_options",
        # observability (headwater.observe)
        "monitors", "profile", "freshness", "max_duration", "schema_change", "loaded_at_field",
        # query lint (headwater.lint): {disable: [HW101]}
        "lint",
        # aggregate tables (headwater.materialize.aggregate); `lookback` is shared with microbatch
        "dimensions", "grain", "measures", "rollup", "cube",
        # lake tables (headwater.lake): materialized: delta | iceberg | parquet
        "file_format", "sort_by", "as_of", "version",
    }
)  # fmt: skip


@dataclass
class Target:
    """One place to build into: an engine and its connection settings."""

    name: str
    engine: str = "duckdb"
    path: str | None = None
    """DuckDB database file; relative paths are relative to the project. Default `.headwater/<name>.duckdb`."""
    schema: str = "main"
    """Schema models are built into unless configured otherwise."""
    threads: int = 4
    """Nodes run in parallel at most."""
    memory_limit: str | None = None
    """Engine memory limit, e.g. `2GB`."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Extra engine settings (DuckDB `SET key = value`). For a postgres target read from dbt's
    profiles.yml whose `password` is a literal (not one `{{ env_var('NAME') }}`), it also holds
    that password as `settings["password"]` (registered as a secret); only profiles.yml may set
    it: headwater.yml refuses a password anywhere but `password_env`."""
    lock_timeout: float = 0.0
    """Seconds to wait for another run holding the warehouse (0: fail at once with a clear
    message). `HEADWATER_LOCK_TIMEOUT` overrides it."""
    unsupported: str | None = None
    """Why this target cannot be used (e.g. a dbt-duckdb profile key headwater does not run):
    an error when it is chosen, not when another target is."""
    extensions: list[str] = field(default_factory=list)
    """DuckDB extensions loaded when the warehouse opens (dbt-duckdb's `extensions`)."""
    external_root: str = "."
    """Folder (or URL) where `materialized: external` models write their files when no
    `location` is configured (dbt-duckdb's `external_root`); relative to the project."""
    lake_root: str = "lake"
    """Folder or URL (`s3://bucket/prefix`) under which lake tables (`materialized: delta`,
    `iceberg`, `parquet`) without a `location` are written, as `<lake_root>/<schema>/<name>`;
    relative to the project."""
    host: str | None = None
    """Server host name or address (server engines, e.g. postgres); None: the driver's default."""
    port: int | None = None
    """Server port, 1..65535 (postgres: 5432 when None)."""
    user: str | None = None
    """User name the engine connects as; None: the driver's default."""
    password_env: str | None = None
    """Name of the environment variable holding the password: secrets come only from the
    environment, never from headwater.yml."""
    database: str | None = None
    """Database to connect to (`dbname` is an alias); None for DuckDB, whose database is `path`."""
    sslmode: str | None = None
    """libpq `sslmode` (`disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`)."""
    connect_timeout: float = 10
    """Seconds to wait for a connection to the server."""
    state: str = "sqlite"
    """Where run state is kept: `sqlite` (a file under the state dir) or `warehouse` (tables in the
    warehouse itself; server engines only)."""


@dataclass
class ProjectConfig:
    """The contents of `headwater.yml` (or `dbt_project.yml`)."""

    name: str
    root: str
    version: str = "1"
    default_target: str = "dev"
    targets: dict[str, Target] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    raw_data: str = "data/raw"
    model_paths: list[str] = field(default_factory=lambda: ["models"])
    seed_paths: list[str] = field(default_factory=lambda: ["seeds"])
    test_paths: list[str] = field(default_factory=lambda: ["tests"])
    macro_paths: list[str] = field(default_factory=lambda: ["macros"])
    snapshot_paths: list[str] = field(default_factory=lambda: ["snapshots"])
    analysis_paths: list[str] = field(default_factory=lambda: ["sql", "analyses"])
    stream_paths: list[str] = field(default_factory=lambda: ["streams"])
    """Folders of `streams/*.yml` (headwater.streams)."""
    state_dir: str = ".headwater"
    config_file: str = "headwater.yml"
    packages_install_path: str = "dbt_packages"
    dispatch: dict[str, list[str]] = field(default_factory=dict)
    """`dispatch:` of the project file: macro namespace -> package search order."""
    on_run_start: list[str] = field(default_factory=list)
    on_run_end: list[str] = field(default_factory=list)
    """Hooks run at the start and end of `build`, `run`, `seed`, `snapshot` and `test`."""
    packages: list[str] = field(default_factory=list)
    """Names of the installed packages (`dbt_packages/`), in load order."""
    env_vars: dict[str, str | None] = field(default_factory=dict)
    """Environment variables the project file and profiles.yml read (they key the parse cache)."""
    package_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each installed package's own `vars:` (the root project's override them)."""
    observability: dict[str, Any] = field(default_factory=dict)
    """`observability:` of headwater.yml: `profile` defaults, `alerts` channels and rules,
    `openlineage` transport, `slas` (see `headwater.observe`)."""
    lint: dict[str, Any] = field(default_factory=dict)
    """`lint:` of headwater.yml (`rules`, `marts_paths`), validated by `headwater.lint`."""


@dataclass
class Relation:
    """Where a node lives in the warehouse."""

    schema: str
    identifier: str
    database: str | None = None

    external: str | None = None
    """A source read from files, as dbt-duckdb's `external_location` gives it: the SQL that reads
    it (`'data/orders.parquet'`, `read_csv('x.csv')`), rendered instead of a name."""

    def render(self, quote: bool = True) -> str:
        if self.external is not None:
            return self.external
        parts = [p for p in (self.database, self.schema, self.identifier) if p]
        if not quote:
            return ".".join(parts)
        return ".".join('"' + p.replace('"', '""') + '"' for p in parts)

    @property
    def name(self) -> str:
        return self.identifier

    def __str__(self) -> str:
        return self.render()


@dataclass
class Column:
    name: str
    description: str = ""
    data_type: str | None = None
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    """dbt model-contract constraints (`not_null`, `unique`, `primary_key`, `check`)."""


@dataclass
class CheckSpec:
    """A generic check (`unique`, `not_null`, ...) or a singular SQL test."""

    name: str
    """Check type, e.g. `unique`; `singular` for a SQL file in `tests/`."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    column: str | None = None
    attached_to: str | None = None
    """unique_id of the node the check was declared on."""
    kind: str = "generic"
    """`generic` (dbt-style, `name` is the check), `expectation` (`kwargs["expectation"]` is the GX
    config) or `singular`."""


@dataclass
class FileSpec:
    """Raw files a source table is loaded from."""

    path: str
    format: str
    options: dict[str, Any] = field(default_factory=dict)
    allow_empty: bool = False
    """Reloading may empty a table that has rows (refused by default)."""
    max_row_drop: float | None = None
    """Refuse a reload that loses more than this fraction of the table's rows."""


@dataclass
class Node:
    """One node of the graph: a source, seed, model, snapshot, test or analysis."""

    unique_id: str
    name: str
    resource_type: str
    path: str
    package: str
    fqn: list[str]
    line: int | None = None
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)
    raw_sql: str | None = None
    compiled_sql: str | None = None
    depends_on: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    relation: Relation | None = None
    source_name: str | None = None
    files: FileSpec | None = None
    loaded_at_field: str | None = None
    freshness: dict[str, Any] | None = None
    test: CheckSpec | None = None
    checksum: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)
    """Other compiled forms of the SQL: `incremental` (rendered with `is_incremental()` true) and
    `batch` (microbatch: inputs with an `event_time` filtered to `__HW_BATCH_START__` ..
    `__HW_BATCH_END__`, placeholders the runner replaces per interval)."""
    hooks: dict[str, list[str]] = field(default_factory=dict)
    """Compiled `pre_hook` / `post_hook` statements, run before the build and after publishing."""
    introspective: bool = False
    """The SQL reads the warehouse (`execute`, `run_query`, `adapter.get_columns_in_relation`):
    the runner renders it again when it runs, after its parents are built."""
    problem: str | None = None
    """Why the node could not be loaded (message with file:line); the rest of the project still
    loads, and running this node reports the problem."""
    language: str = "sql"
    """`sql`, or `python` for a dbt Python model (`def model(dbt, session)`)."""
    version: str | None = None
    """The version of a versioned model (`versions:` in its properties), else None."""

    @property
    def materialized(self) -> str | None:
        if self.resource_type == "model":
            materialized: str | None = self.config.get("materialized", "view")
            return materialized
        if self.resource_type == "seed":
            return "seed"
        if self.resource_type == "source":
            if self.config.get("connector"):
                return "extract"
            if lake_format(self.config):
                return "lake_source"
            return "load" if self.files else None
        if self.resource_type == "test":
            return "test"
        return self.config.get("materialized")

    @property
    def tags(self) -> list[str]:
        return list(self.config.get("tags") or [])

    @property
    def is_executable(self) -> bool:
        """True if running the node builds something or evaluates a check."""
        if self.resource_type in ("seed", "test", "snapshot"):
            return True
        if self.resource_type == "stream":  # a run creates its tables; `stream run` fills them
            return "window_of" not in self.config
        if self.resource_type == "model":
            return self.materialized != "ephemeral"
        return self.resource_type == "source" and (
            self.files is not None
            or bool(self.config.get("connector"))
            or lake_format(self.config) is not None
        )

    @property
    def severity(self) -> str:
        return str(self.config.get("severity", "error")).lower()

    @property
    def display_name(self) -> str:
        if self.resource_type == "source":
            return f"{self.source_name}.{self.name}"
        return self.name


@dataclass
class Project:
    """A project as read from disk, before compilation."""

    config: ProjectConfig
    nodes: dict[str, Node] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> content hash of every file read."""
    macro_files: list[tuple[str, str, str]] = field(default_factory=list)
    """(package, path, text) of every macro file: the root project's and its packages'."""
    problems: list[HeadwaterError] = field(default_factory=list)
    """What could not be loaded; the rest of the project loads (each names its file and line)."""
    problem_nodes: dict[int, str] = field(default_factory=dict)
    """id() of a problem -> the node it stops, when it concerns one."""
    warnings: list[str] = field(default_factory=list)
    """What dbt warns about and headwater does too (e.g. properties of a model that does not exist)."""
    unit_tests: list[tuple[str, Any, str]] = field(default_factory=list)
    """`unit_tests:` entries of properties files: (package, entry, path of its file)."""


LAKE_FORMATS = ("delta", "iceberg", "parquet")
"""Open table formats a model or snapshot can be written as (`headwater.lake`)."""


def lake_format(config: dict[str, Any]) -> str | None:
    """The lake format of a node's config (`file_format`), or None for a warehouse relation."""
    fmt = str(config.get("file_format") or "").lower()
    return fmt if fmt in LAKE_FORMATS else None


def normalize_lake_config(config: dict[str, Any]) -> None:
    """`materialized: delta | iceberg | parquet` is a lake table: `file_format` says which and
    `materialized` how it is built, `incremental` when it has an `incremental_strategy` or a
    `unique_key`, else `table`. dbt-spark's spelling (`materialized: incremental` with
    `file_format: delta`) means the same and is left as it is."""
    materialized = str(config.get("materialized") or "").lower()
    if materialized in LAKE_FORMATS:
        config["file_format"] = materialized
        incremental = config.get("incremental_strategy") or config.get("unique_key")
        config["materialized"] = "incremental" if incremental else "table"


def merge_config(out: dict[str, Any], new: dict[Any, Any]) -> None:
    """Merge one level of dbt configs into ``out``, as dbt does: `+` prefixes and dashes dropped
    from keys, hooks and tags add up across levels, `meta` merges, anything else is replaced."""
    for key, value in new.items():
        key = str(key).lstrip("+").replace("-", "_")
        if key in ("pre_hook", "post_hook"):  # hooks add up across levels, as in dbt
            out[key] = _as_list(out.get(key)) + _as_list(value)
        elif key == "tags":
            tags = list(out.get("tags") or [])
            tags.extend(t for t in _as_list(value) if t not in tags)
            out["tags"] = tags
        elif key == "meta" and isinstance(value, dict):
            out["meta"] = {**(out.get("meta") or {}), **value}
        else:
            out[key] = value


def _as_list(value: Any) -> list[Any]:
    """`headwater.project.validate.as_list`, here so that this module imports nothing of ours."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
