"""Reading the project file's own sections: `targets:`, `dispatch:`, `on-run-start`/`on-run-end`
hooks, and the Jinja in its config values (`+enabled: "{{ var('x') }}"`), rendered at load as dbt
does. `headwater.project.loader.read_project_config` puts them together into a `ProjectConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, HeadwaterError
from headwater.project.definition import ProjectConfig, Target
from headwater.project.validate import as_list, check_keys, expect_type, loc_of
from headwater.project.yaml import YMap

# Project-file values rendered with Jinja at load (dbt renders these; hooks and `vars` are not).
RENDERED_KEYS = ("models", "seeds", "snapshots", "sources", "tests", "data_tests", "analyses", "dispatch",
                 "packages-install-path", "model-paths", "seed-paths", "macro-paths", "test-paths")  # fmt: skip
_UNRENDERED = {"pre-hook", "post-hook", "+pre-hook", "+post-hook", "pre_hook", "post_hook", "+pre_hook", "+post_hook"}
TARGET_KEYS = {
    "engine", "type", "path", "schema", "threads", "memory_limit", "settings", "lock_timeout", "external_root",
    "extensions",
}  # fmt: skip


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
    data: YMap, cli_vars: dict[str, Any], project_vars: dict[str, Any], target: Target | None, project: str,
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
            raise ConfigError(f"environment variable `{name}` is not set", hint=f"export {name}=...")
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
            raise ConfigError(f"could not render `{value}`: {exc}", location=loc_of(where, key)) from None
        return native(text)

    for key in RENDERED_KEYS:
        if key in data:
            data[key] = render(data[key], data, key)


def _target_info(target: Target | None, project: str) -> dict[str, Any]:
    """`target` in project-file values: its name, schema, type, threads and database."""
    if target is None:
        return {"name": "", "schema": "main", "type": "duckdb", "threads": 1, "database": None}
    database = None
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


def _seconds(spec: YMap, key: str, target: str) -> float:
    value = spec.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"`{key}` of target `{target}` must be a number of seconds (0 or more), got `{value!r}`",
            location=loc_of(spec, key),
        )
    return float(value)


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
        check_keys(spec, TARGET_KEYS, f"target `{tname}`")
        threads = spec.get("threads", 4)
        if not isinstance(threads, int) or threads < 1:
            raise ConfigError(
                f"`threads` of target `{tname}` must be a positive integer, got `{threads!r}`",
                location=loc_of(spec, "threads"),
            )
        out[str(tname)] = Target(
            name=str(tname),
            engine=str(spec.get("engine", spec.get("type", "duckdb"))),
            path=spec.get("path", f"{cfg.state_dir}/warehouse.duckdb"),
            schema=str(spec.get("schema", "main")),
            threads=threads,
            memory_limit=spec.get("memory_limit"),
            settings=dict(spec.get("settings") or {}),
            lock_timeout=_seconds(spec, "lock_timeout", str(tname)),
            external_root=str(spec.get("external_root", ".")),
            extensions=[str(e) for e in as_list(spec.get("extensions"))],
        )
    if not out:
        raise ConfigError("`targets:` is empty", location=loc_of(data, "targets"))
    return out
