"""The objects a node template sees in its Jinja context, besides the renderer's own functions.

dbt's `target`, `execute`, `flags`, `var`, `config`, `model`, `graph`, `modules` and `exceptions`,
the small helpers behind `zip`, `set`, `tojson`/`fromjson`, `toyaml`/`fromyaml`, and `node_dict`
(a node as dbt's manifest describes it). The `Renderer` of `headwater.sql.render` builds them;
each keeps its plumbing in `_`-prefixed attributes, out of the sandbox's reach.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from headwater import secrets
from headwater.project.definition import Column, Node, Target
from headwater.sql.jinja_env import Return

if TYPE_CHECKING:
    from headwater.sql.render import Renderer

HOOK_KEYS = ("pre_hook", "post_hook")


def target_database(target: Target) -> str | None:
    """dbt-duckdb's database name: the stem of the database file (`memory` in memory)."""
    if target.engine != "duckdb":
        return None
    path = str(target.path or "")
    if not path or path == ":memory:":
        return "memory"
    return os.path.splitext(os.path.basename(path))[0]


class TargetInfo:
    """dbt's `target`: attributes and mapping access over a fixed set of keys, nothing else (a
    `getattr` with a name the template chooses would reach `__class__`).

    On DuckDB the keys are dbt-duckdb's (`path`, `database` the file's stem); on a server engine
    they are dbt-postgres's: `host`, `port`, `user`, `database` and its alias `dbname`, `sslmode`,
    `connect_timeout`, with the defaults the engine connects with. Never the password (dbt does
    not give `target.pass` either): the target's `settings` are not copied, only named keys."""

    def __init__(self, target: Target, profile: str) -> None:
        self._keys: dict[str, Any] = {
            "name": target.name, "schema": target.schema, "type": target.engine, "threads": target.threads,
            "path": target.path, "database": target_database(target), "profile_name": profile,
            "target_name": target.name,
        }  # fmt: skip
        if target.engine == "postgres":
            self._keys.pop("path")
            self._keys.update(_server_keys(target))
        for key, value in self._keys.items():
            setattr(self, key, value)

    def __getitem__(self, key: str) -> Any:
        return self._keys[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._keys.get(key, default)


def _server_keys(target: Target) -> dict[str, Any]:
    """dbt-postgres's connection keys of ``target``, as the PostgreSQL engine resolves them
    (target fields first, then `settings`, then its defaults); no password."""
    settings = dict(target.settings or {})

    def first(*values: Any) -> Any:
        return next((v for v in values if v is not None and v != ""), None)

    database = first(
        getattr(target, "database", None),
        settings.get("dbname"),
        settings.get("database"),
        "postgres",
    )
    port = first(getattr(target, "port", None), settings.get("port"), 5432)
    return {
        "host": str(first(getattr(target, "host", None), settings.get("host"), "127.0.0.1")),
        "port": int(port),
        "user": str(
            first(
                getattr(target, "user", None),
                settings.get("user"),
                os.environ.get("PGUSER"),
                "postgres",
            )
        ),
        "database": str(database),
        "dbname": str(database),
        "sslmode": first(getattr(target, "sslmode", None), settings.get("sslmode")),
        "connect_timeout": getattr(target, "connect_timeout", None),
    }


class Flag:
    """`execute`: false at load, true when the runner renders; reading it marks the node."""

    def __init__(self, value: bool, on_read: Callable[[str], None]) -> None:
        self._value = value
        self._on_read = on_read

    def __bool__(self) -> bool:
        self._on_read("execute")
        return self._value

    def __str__(self) -> str:
        return str(bool(self))

    def __eq__(self, other: object) -> bool:
        return bool(self) == other

    def __hash__(self) -> int:
        return hash(self._value)


class Flags:
    """dbt's `flags`."""

    def __init__(self, full_refresh: bool, which: str) -> None:
        self.FULL_REFRESH = full_refresh
        self.WHICH = which
        self.STORE_FAILURES = False
        self.FAIL_FAST = False
        self.WARN_ERROR = False
        self.USE_COLORS = False
        self.DEBUG = False
        self.EMPTY = False
        self.INTROSPECT = True
        self.PARTIAL_PARSE = True
        self.VERSION_CHECK = False
        self.SEND_ANONYMOUS_USAGE_STATS = False
        self.LOG_FORMAT = "default"

    def __getattr__(self, name: str) -> None:
        if name.startswith("_"):
            raise AttributeError(name)
        return None  # dbt's flags object answers None for flags it was not given


class VarCall:
    """`var('x', default)`, and `var.has_var('x')`."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def __call__(self, name: str, default: Any = Return) -> Any:
        return self._renderer._var(str(name), default)

    def has_var(self, name: str) -> bool:
        return self._renderer._has_var(str(name))


class ConfigCall:
    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        state = self._renderer._state
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
        if state is not None:
            for key, value in kwargs.items():
                key = str(key).replace("-", "_")
                if key in HOOK_KEYS:
                    state.config[key] = hook_list(state.config.get(key)) + hook_list(value)
                else:
                    state.config[key] = value
        return ""

    def get(self, key: str, default: Any = None, validator: Any = None) -> Any:
        node, state = self._renderer._node, self._renderer._state
        if state is not None and key in state.config:
            return state.config[key]
        return node.config.get(key, default) if node else default

    def require(self, key: str, validator: Any = None) -> Any:
        value = self.get(key, Return)
        if value is Return:
            raise self._renderer._error(f"config `{key}` is required here")
        return value

    def set(self, key: str, value: Any) -> str:
        return self(**{key: value})

    def meta_get(self, key: str, default: Any = None) -> Any:
        meta = self.get("meta") or {}
        return meta.get(key, default) if isinstance(meta, dict) else default

    def meta_require(self, key: str) -> Any:
        meta = self.get("meta") or {}
        if not isinstance(meta, dict) or key not in meta:
            raise self._renderer._error(f"meta `{key}` is required here")
        return meta[key]


class NodeView:
    """dbt's `model`: the node being rendered as a mapping (`model.name`, `model['config']`)."""

    def __init__(self, renderer: Renderer, node: Node | None) -> None:
        self._renderer = renderer
        self._node = node

    def _data(self) -> dict[str, Any]:
        node = self._node or self._renderer._node
        return node_dict(node, self._renderer.target) if node is not None else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        data = self._data()
        if name in data:
            return data[name]
        raise AttributeError(name)

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data().get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._data()

    def keys(self) -> list[str]:
        return list(self._data())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data().items())

    def values(self) -> list[Any]:
        return list(self._data().values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())


def node_dict(node: Node, target: Target) -> dict[str, Any]:
    """A node as dbt's manifest describes it (the keys templates use)."""
    schema = node.relation.schema if node.relation else node.config.get("schema") or target.schema
    alias = node.relation.identifier if node.relation else node.config.get("alias") or node.name
    tags = list(node.config.get("tags") or [])
    return {
        "unique_id": node.unique_id,
        "name": node.name,
        "resource_type": node.resource_type,
        "package_name": node.package,
        "path": node.path,
        "original_file_path": node.path,
        "fqn": list(node.fqn),
        "config": dict(node.config),
        "tags": tags,
        "meta": dict(node.meta),
        "description": node.description,
        "raw_code": node.raw_sql or "",
        "raw_sql": node.raw_sql or "",
        "compiled_code": node.compiled_sql,
        "language": node.language,
        "schema": schema,
        "alias": alias,
        "identifier": alias,
        "database": target_database(target),
        "relation_name": node.relation.render() if node.relation else None,
        "depends_on": {"nodes": list(node.depends_on), "macros": []},
        "refs": [
            {"name": uid.split(".")[-1], "package": None, "version": None} for uid in node.refs
        ],
        "sources": [
            [n.split(".")[-2], n.split(".")[-1]] for n in node.depends_on if n.startswith("source.")
        ],
        "columns": {name: _column_dict(c) for name, c in node.columns.items()},
        "source_name": node.source_name,
        "version": node.version,
        "checksum": {"name": "sha256", "checksum": node.checksum},
        "test_metadata": _test_metadata(node),
    }


def _column_dict(column: Column) -> dict[str, Any]:
    return {
        "name": column.name, "description": column.description, "data_type": column.data_type,
        "meta": dict(column.meta), "tags": list(column.tags), "quote": None,
    }  # fmt: skip


def _test_metadata(node: Node) -> dict[str, Any] | None:
    if node.test is None or node.test.kind not in ("generic", "macro"):
        return None
    name = node.test.name
    return {
        "name": name.split(".")[-1],
        "kwargs": dict(node.test.kwargs),
        "namespace": name.split(".")[0] if "." in name else None,
    }


class GraphView:
    """dbt's `graph`: `graph.nodes.values()`, `graph.sources`, ... as dicts, built when read."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer
        self._cache: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._cache is None or len(self._renderer._graph_nodes) != self._cache["_n"]:
            target = self._renderer.target
            nodes: dict[str, dict[str, Any]] = {}
            sources: dict[str, dict[str, Any]] = {}
            for uid, node in self._renderer._graph_nodes.items():
                (sources if node.resource_type == "source" else nodes)[uid] = node_dict(
                    node, target
                )
            self._cache = {"nodes": nodes, "sources": sources, "macros": {}, "exposures": {}, "metrics": {},
                           "groups": {}, "semantic_models": {}, "saved_queries": {}, "_n": len(self._renderer._graph_nodes)}  # fmt: skip
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._data()[name]

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data().get(key, default)


def _public(module: types.ModuleType) -> types.SimpleNamespace:
    """The public functions, types and constants of ``module``, without the module itself."""
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    return types.SimpleNamespace(
        **{
            n: getattr(module, n)
            for n in names
            if not isinstance(getattr(module, n, None), types.ModuleType)
        }
    )


class Modules:
    """dbt's `modules`: `modules.datetime.date(2026, 1, 1)`, `modules.re.sub(...)`,
    `modules.itertools.chain(...)`, `modules.pytz.timezone(...)` — namespaces of each module's
    public names."""

    def __init__(self) -> None:
        import itertools

        self.datetime = _public(datetime)
        self.re = _public(re)
        self.itertools = _public(itertools)

    @property
    def pytz(self) -> types.SimpleNamespace:
        import pytz

        # time zones only: pytz's file helpers (`open_resource`) stay out of templates
        names = ("timezone", "utc", "UTC", "FixedOffset", "all_timezones", "all_timezones_set",
                 "common_timezones", "common_timezones_set", "country_timezones", "country_names",
                 "UnknownTimeZoneError", "NonExistentTimeError", "AmbiguousTimeError")  # fmt: skip
        return types.SimpleNamespace(**{n: getattr(pytz, n) for n in names if hasattr(pytz, n)})


class Exceptions:
    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def raise_compiler_error(self, message: Any, node: Any = None) -> NoReturn:
        raise self._renderer._error(str(message))

    def raise_not_implemented(self, message: Any) -> NoReturn:
        raise self._renderer._unsupported(str(message))

    def raise_database_error(self, message: Any) -> NoReturn:
        raise self._renderer._error(str(message))

    def warn(self, message: Any, node: Any = None) -> str:
        print(f"warning: {secrets.mask(str(message))}", file=sys.stderr)
        return ""

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name.startswith("raise_"):
            return self.raise_compiler_error
        raise AttributeError(name)


def zip_(*args: Any) -> list[tuple[Any, ...]] | None:
    try:
        return list(zip(*args, strict=False))
    except TypeError:
        return None


def set_(value: Any, default: Any = None) -> Any:
    try:
        return set(value)
    except TypeError:
        return default


def json_or(func: Callable[[], Any], default: Any) -> Any:
    try:
        return func()
    except (TypeError, ValueError):
        return default


def toyaml(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    import yaml

    try:
        return yaml.safe_dump(value, sort_keys=sort_keys)
    except yaml.YAMLError:
        return default


def fromyaml(text: Any, default: Any = None) -> Any:
    import yaml

    try:
        return yaml.safe_load(str(text))
    except (yaml.YAMLError, ValueError, OverflowError):  # and impossible dates
        return default


def split_vars(
    values: dict[str, Any], packages: set[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """dbt's var scopes: a top-level key naming the project or a package holds that package's vars."""
    global_vars: dict[str, Any] = {}
    scoped: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if key in packages and isinstance(value, dict):
            scoped[str(key)] = dict(value)
        else:
            global_vars[str(key)] = value
    return global_vars, scoped


def hook_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("sql", "")
        if item:
            out.append(str(item))
    return out
