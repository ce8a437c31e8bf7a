"""The project file (`headwater.yml` or `dbt_project.yml`) read into a `ProjectConfig`
(`read_project_config`): its own sections, `targets:`, `dispatch:`, `on-run-start`/`on-run-end`
hooks, and the Jinja in its config values (`+enabled: "{{ var('x') }}"`), rendered at load as dbt
does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from headwater.errors import (
    ConfigError,
    HeadwaterError,
    Location,
    UnknownKeyError,
    did_you_mean,
)
from headwater.project.definition import ProjectConfig, Target
from headwater.project.files import find_project_file
from headwater.project.validate import as_list, check_keys, expect_type, loc_of
from headwater.project.yaml import YMap, load_yaml_file

PROJECT_KEYS = {
    "name", "version", "default_target", "targets", "vars", "models", "seeds", "tests",
    "data_tests", "sources", "raw_data", "model-paths", "model_paths", "seed-paths", "seed_paths",
    "test-paths", "test_paths", "macro-paths", "macro_paths", "snapshot-paths", "snapshot_paths",
    "analysis-paths", "analysis_paths", "stream-paths", "stream_paths", "state_dir", "config-version", "profile", "require-dbt-version",
    "target-path", "clean-targets", "snapshots", "on-run-start", "on-run-end", "dispatch",
    "flags", "quoting", "docs-paths", "asset-paths", "packages-install-path", "query-comment",
    "observability", "dbt-cloud", "unit_tests", "semantic-models", "saved-queries", "metrics",
    "exposures", "restrict-access", "functions", "function-paths", "log-path", "data-paths",
    "source-paths", "modules-path", "packages", "on_run_start", "on_run_end", "analyses",
    "lint",
}  # fmt: skip

# Project-file values rendered with Jinja at load (dbt renders these; hooks and `vars` are not).
RENDERED_KEYS = ("models", "seeds", "snapshots", "sources", "tests", "data_tests", "analyses", "dispatch",
                 "packages-install-path", "model-paths", "seed-paths", "macro-paths", "test-paths")  # fmt: skip
_UNRENDERED = {
    "pre-hook",
    "post-hook",
    "+pre-hook",
    "+post-hook",
    "pre_hook",
    "post_hook",
    "+pre_hook",
    "+post_hook",
}
TARGET_KEYS_BY_ENGINE: dict[str, set[str]] = {
    "duckdb": {
        "engine", "type", "path", "schema", "threads", "memory_limit", "settings", "lock_timeout", "external_root",
        "extensions", "lake_root",
    },
    "postgres": {
        "engine", "type", "host", "port", "user", "password_env", "database", "dbname", "schema", "threads",
        "sslmode", "connect_timeout", "lock_timeout", "state", "settings",
    },
}  # fmt: skip
"""The keys a target may have, per engine."""
TARGET_KEYS = TARGET_KEYS_BY_ENGINE["duckdb"]
"""A DuckDB target's keys."""
STATE_STORES = ("sqlite", "warehouse")
"""Where run state may be kept (`state:` of a target)."""
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_DEFAULT_SCHEMA = {"postgres": "public"}
_PASSWORD_KEYS = ("password", "pass")


def read_project_config(
    project_dir: Path,
    target_name: str | None = None,
    package: bool = False,
    cli_vars: dict[str, Any] | None = None,
    target: Target | None = None,
) -> ProjectConfig:
    """Read `headwater.yml` (or `dbt_project.yml`) into a `ProjectConfig`; ``package`` reads an
    installed package's `dbt_project.yml` (its targets are not read; ``target`` is the root's, for
    `{{ target.name }}` in its values)."""
    root = project_dir if package else project_dir.resolve()
    path = find_project_file(root)
    data = load_yaml_file(path, root)
    if not isinstance(data, YMap):
        raise ConfigError(
            "the project file must be a mapping with at least `name:`",
            location=Location(path.name, 1),
        )
    check_keys(data, PROJECT_KEYS, path.name)
    name = data.get("name")
    if not name or not isinstance(name, str):
        raise ConfigError(
            "the project needs a `name:`",
            location=Location(path.name, 1),
            hint="add `name: my_project`",
        )
    cfg = ProjectConfig(name=name, root=str(root), config_file=path.name)
    cfg.state_dir = str(data.get("state_dir", cfg.state_dir))
    if not package:
        cfg.targets = read_targets(data, cfg)
        cfg.default_target = str(data.get("default_target") or next(iter(cfg.targets)))
        if cfg.default_target not in cfg.targets:
            raise ConfigError(
                f"default_target `{cfg.default_target}` is not defined under `targets:`"
                + did_you_mean(cfg.default_target, cfg.targets),
                location=loc_of(data, "default_target"),
            )
        import os

        chosen = target_name or os.environ.get("HEADWATER_TARGET") or cfg.default_target
        target = cfg.targets.get(chosen)
    render_values(data, cli_vars or {}, data.get("vars") or {}, target, name, cfg.env_vars)
    cfg.version = str(data.get("version", "1"))
    cfg.vars = dict(expect_type(data.get("vars") or {}, dict, "`vars`", data, "vars"))
    cfg.models = expect_type(data.get("models") or {}, dict, "`models`", data, "models")
    cfg.seeds = expect_type(data.get("seeds") or {}, dict, "`seeds`", data, "seeds")
    cfg.snapshots = expect_type(data.get("snapshots") or {}, dict, "`snapshots`", data, "snapshots")
    cfg.tests = expect_type(
        data.get("data_tests") or data.get("tests") or {}, dict, "`tests`", data
    )
    cfg.raw_data = str(data.get("raw_data", cfg.raw_data))
    cfg.observability = dict(
        expect_type(data.get("observability") or {}, dict, "`observability`", data, "observability")
    )
    # a YMap (file:line kept): headwater.lint validates it when lint runs
    cfg.lint = expect_type(data.get("lint") or {}, dict, "`lint`", data, "lint")
    cfg.packages_install_path = str(data.get("packages-install-path") or cfg.packages_install_path)
    cfg.dispatch = dispatch_config(data)
    cfg.on_run_start = hooks(data, "on-run-start")
    cfg.on_run_end = hooks(data, "on-run-end")
    for attr in ("model", "seed", "test", "macro", "snapshot", "analysis", "stream"):
        value = data.get(f"{attr}-paths", data.get(f"{attr}_paths"))
        if value is None and attr == "model":
            value = data.get("source-paths")  # dbt < 1.0's name
        if value is None and attr == "seed":
            value = data.get("data-paths")
        if value is not None:
            setattr(cfg, f"{attr}_paths", [str(v) for v in as_list(value)])
    return cfg


def target_keys(engine: str) -> set[str]:
    """The keys a target of ``engine`` may have. For an engine headwater does not know, the keys
    of every engine: the engine registry reports the unknown engine when the target is used."""
    keys = TARGET_KEYS_BY_ENGINE.get(engine)
    if keys is None:
        return set().union(*TARGET_KEYS_BY_ENGINE.values())
    return set(keys)


def hooks(data: YMap, key: str) -> list[str]:
    value = data.get(key, data.get(key.replace("-", "_")))
    out = []
    for item in as_list(value):
        if isinstance(item, dict):
            item = item.get("sql")
        if item:
            out.append(str(item))
    return out


def dispatch_config(data: YMap) -> dict[str, list[str]]:
    """`dispatch: [{macro_namespace: dbt_utils, search_order: [my_project, dbt_utils]}]`."""
    out: dict[str, list[str]] = {}
    entries = expect_type(data.get("dispatch") or [], list, "`dispatch`", data, "dispatch")
    for entry in entries:
        expect_type(entry, dict, "a `dispatch` entry", entries)
        check_keys(entry, {"macro_namespace", "search_order"}, "a `dispatch` entry")
        namespace, order = entry.get("macro_namespace"), entry.get("search_order")
        if not namespace or not isinstance(order, list) or not order:
            raise ConfigError(
                "a `dispatch` entry needs `macro_namespace:` and a non-empty `search_order:` list",
                location=loc_of(entry),
                hint="e.g. `- macro_namespace: dbt_utils\n  search_order: [my_project, dbt_utils]`",
            )
        out[str(namespace)] = [str(p) for p in order]
    return out


def render_values(
    data: YMap,
    cli_vars: dict[str, Any],
    project_vars: dict[str, Any],
    target: Target | None,
    project: str,
    seen_env: dict[str, str | None],
) -> None:
    """Render Jinja in the project file's config values, as dbt does: `+enabled: "{{ var('x', false) }}"`
    becomes the value `False`. Hooks and `vars:` stay as written (rendered when they run)."""
    import os

    from headwater import secrets

    env = None

    def var(name: str, default: Any = None) -> Any:
        if name in cli_vars:
            return cli_vars[name]
        return project_vars.get(name, default)

    def env_var(name: str, default: Any = None) -> Any:
        value = os.environ.get(name)
        seen_env[name] = value
        if name.startswith(secrets.SECRET_ENV_PREFIXES):
            secrets.register(value)
        if value is None and default is None:
            raise ConfigError(
                f"environment variable `{name}` is not set", hint=f"export {name}=..."
            )
        return value if value is not None else default

    def render(value: Any, where: Any, key: Any) -> Any:
        nonlocal env
        if isinstance(value, dict):
            for k in list(value):
                if k not in _UNRENDERED:
                    value[k] = render(value[k], value, k)
            return value
        if isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = render(item, value, i)
            return value
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return value
        if env is None:
            import jinja2.sandbox

            env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
            env.globals.update(var=var, env_var=env_var, target=_target_info(target, project))
        try:
            text = env.from_string(value).render()
        except HeadwaterError as exc:
            exc.location = exc.location or loc_of(where, key)
            raise
        except Exception as exc:
            raise ConfigError(
                f"could not render `{value}`: {exc}", location=loc_of(where, key)
            ) from None
        return native(text)

    for key in RENDERED_KEYS:
        if key in data:
            data[key] = render(data[key], data, key)


def _target_info(target: Target | None, project: str) -> dict[str, Any]:
    """`target` in project-file values: its name, schema, type, threads and database."""
    if target is None:
        return {"name": "", "schema": "main", "type": "duckdb", "threads": 1, "database": None}
    database = target.database
    if target.engine == "duckdb":
        path = str(target.path or "")
        database = "memory" if path in ("", ":memory:") else Path(path).stem
    return {"name": target.name, "schema": target.schema, "type": target.engine, "threads": target.threads,
            "database": database, "path": target.path, "profile_name": project, "target_name": target.name}  # fmt: skip


def native(text: str) -> Any:
    """A rendered value as the Python value it spells (`False`, `3`, `['a']`), else the text."""
    import ast

    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _seconds(spec: YMap, key: str, target: str, default: float = 0) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"`{key}` of target `{target}` must be a number of seconds (0 or more), got `{value!r}`",
            location=loc_of(spec, key),
        )
    return float(value)


def _text(spec: YMap, key: str, target: str) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise ConfigError(f"`{key}` of target `{target}` must be a non-empty string, got `{value!r}`",
                          location=loc_of(spec, key))  # fmt: skip
    return str(value)


def _target_engine(spec: YMap, tname: str) -> str:
    engine, kind = spec.get("engine"), spec.get("type")
    if engine is not None and kind is not None and str(engine) != str(kind):
        raise ConfigError(
            f"target `{tname}` has `engine: {engine}` and `type: {kind}`: `type` is another name for `engine`",
            location=loc_of(spec, "type"),
            hint="keep one of them",
        )
    return str(engine if engine is not None else kind if kind is not None else "duckdb")


def check_target_keys(spec: YMap, tname: str, engine: str) -> None:
    """Refuse a literal password and a `state` the engine cannot keep, then keys the target's
    engine does not have: a key of another engine (`path` on a postgres target) says whose it is;
    a typo gets "did you mean"."""
    for key in _PASSWORD_KEYS:
        if key in spec:
            raise ConfigError(
                f"`{key}` in target `{tname}`: secrets come only from the environment: use `password_env: NAME`",
                location=loc_of(spec, key),
                hint="put the password in an environment variable (e.g. PGPASSWORD) and name it: "
                "`password_env: PGPASSWORD`",
            )
    allowed = target_keys(engine)
    if (
        "state" in spec
    ):  # every target has a state store: `state: sqlite` is a DuckDB target's only one
        _state(spec, tname, engine)
        allowed.add("state")
    what = f"target `{tname}` (engine {engine})"
    for key in spec:
        if key in allowed:
            continue
        owners = sorted(e for e, keys in TARGET_KEYS_BY_ENGINE.items() if key in keys)
        if owners:
            raise UnknownKeyError(
                f"unknown key `{key}` in {what}: `{key}` is a key of {' and '.join(owners)} targets, "
                f"not of {engine} targets",
                location=loc_of(spec, key),
                hint=f"allowed keys for engine {engine}: " + ", ".join(sorted(allowed)),
            )
    check_keys(spec, allowed, what)


def _state(spec: YMap, tname: str, engine: str) -> str:
    state = spec.get("state", "sqlite")
    if state not in STATE_STORES:
        raise ConfigError(
            f"`state` of target `{tname}` must be `sqlite` or `warehouse`, got `{state!r}`"
            + did_you_mean(str(state), STATE_STORES),
            location=loc_of(spec, "state"),
        )
    if state == "warehouse" and engine == "duckdb":
        raise ConfigError(
            f"`state: warehouse` in target `{tname}` needs a server engine (e.g. postgres), not duckdb",
            location=loc_of(spec, "state"),
            hint="a DuckDB target keeps its run state in sqlite: remove `state:`",
        )
    return str(state)


def _port(spec: YMap, tname: str) -> int | None:
    port = spec.get("port")
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"`port` of target `{tname}` must be an integer from 1 to 65535, got `{port!r}`",
                          location=loc_of(spec, "port"))  # fmt: skip
    return port


def _password_env(spec: YMap, tname: str) -> str | None:
    name = spec.get("password_env")
    if name is None:
        return None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        # the value is not echoed: it may be the password itself
        raise ConfigError(
            f"`password_env` of target `{tname}` must be the name of an environment variable",
            location=loc_of(spec, "password_env"),
            hint="secrets come only from the environment: `password_env: PGPASSWORD`",
        )
    return name


def _database(spec: YMap, tname: str) -> str | None:
    if "database" in spec and "dbname" in spec:
        raise ConfigError(f"target `{tname}` has `database` and `dbname`: `dbname` is another name for `database`",
                          location=loc_of(spec, "dbname"), hint="keep one of them")  # fmt: skip
    key = "dbname" if "dbname" in spec else "database"
    return _text(spec, key, tname)


def _sslmode(spec: YMap, tname: str) -> str | None:
    mode = _text(spec, "sslmode", tname)
    if mode is not None and mode not in SSL_MODES:
        raise ConfigError(
            f"`sslmode` of target `{tname}` must be one of {', '.join(SSL_MODES)}, got `{mode}`"
            + did_you_mean(mode, SSL_MODES),
            location=loc_of(spec, "sslmode"),
        )
    return mode


def read_target(tname: str, spec: YMap, cfg: ProjectConfig) -> Target:
    """One entry of `targets:`, its keys checked against its engine's."""
    engine = _target_engine(spec, tname)
    check_target_keys(spec, tname, engine)
    threads = spec.get("threads", 4)
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(
            f"`threads` of target `{tname}` must be a positive integer, got `{threads!r}`",
            location=loc_of(spec, "threads"),
        )
    settings = dict(spec.get("settings") or {})
    if engine != "duckdb":
        for key in _PASSWORD_KEYS:
            if key in settings:
                raise ConfigError(
                    f"`settings.{key}` in target `{tname}`: secrets come only from the environment: "
                    "use `password_env: NAME`",
                    location=loc_of(spec["settings"], key),
                )
    server = engine in TARGET_KEYS_BY_ENGINE and engine != "duckdb"
    return Target(
        name=tname,
        engine=engine,
        path=spec.get("path", None if server else f"{cfg.state_dir}/warehouse.duckdb"),
        schema=str(spec.get("schema", _DEFAULT_SCHEMA.get(engine, "main"))),
        threads=threads,
        memory_limit=spec.get("memory_limit"),
        settings=settings,
        lock_timeout=_seconds(spec, "lock_timeout", tname),
        external_root=str(spec.get("external_root", ".")),
        lake_root=str(spec.get("lake_root", "lake")),
        extensions=[str(e) for e in as_list(spec.get("extensions"))],
        host=_text(spec, "host", tname),
        port=_port(spec, tname),
        user=_text(spec, "user", tname),
        password_env=_password_env(spec, tname),
        database=_database(spec, tname),
        sslmode=_sslmode(spec, tname),
        connect_timeout=_seconds(spec, "connect_timeout", tname, default=10),
        state=_state(spec, tname, engine),
    )


def read_targets(data: YMap, cfg: ProjectConfig) -> dict[str, Target]:
    raw = data.get("targets")
    if raw is None and data.get("profile") and cfg.config_file == "dbt_project.yml":
        from headwater.project.profiles import profile_targets

        found = profile_targets(Path(cfg.root), str(data["profile"]), cfg.state_dir, cfg.env_vars)
        if found is not None:  # a dbt project's own profile: the same warehouse file and schemas
            targets, default = found
            data.setdefault("default_target", default)
            return targets
    if raw is None:
        return {"dev": Target(name="dev", path=f"{cfg.state_dir}/warehouse.duckdb")}
    expect_type(raw, dict, "`targets`", data, "targets")
    out = {}
    for tname, spec in raw.items():
        expect_type(spec, dict, f"target `{tname}`", raw, tname)
        out[str(tname)] = read_target(str(tname), spec, cfg)
    if not out:
        raise ConfigError("`targets:` is empty", location=loc_of(data, "targets"))
    return out
