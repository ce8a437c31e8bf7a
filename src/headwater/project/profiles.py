"""dbt's `profiles.yml`: the targets of a dbt project that has no headwater `targets:`.

dbt finds `profiles.yml` in `--profiles-dir`, then `DBT_PROFILES_DIR`, then the project folder,
then `~/.dbt/`. The project's `profile:` names an entry; its `outputs` are the targets and its
`target` the default. A dbt-duckdb output becomes a DuckDB target with the same file (`path`,
relative to the project), `schema` (default `main`), `threads` (default 1, as dbt), `settings`,
`extensions` and `external_root`; so `target.database`, the warehouse file and the schemas are the
ones the team's dbt runs use. Keys headwater cannot honour (`attach`, `plugins`, `filesystems`,
`secrets`, `module_paths`) are an error naming them when that target is used; other adapter types
are read with their keys, and the engine layer says whether it can run them. A dbt-postgres output
(`type: postgres`) becomes a postgres target: `host`, `port`, `user`, `dbname`/`database`, `schema`
(default `public`), `threads` (default 1), `sslmode`, `connect_timeout` (default 10); its password
becomes `password_env` when written as `{{ env_var('NAME') }}`, else `settings["password"]`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, Location
from headwater.project.definition import Target

UNSUPPORTED_DUCKDB_KEYS = (
    "attach",
    "plugins",
    "filesystems",
    "secrets",
    "module_paths",
    "use_credential_provider",
)


def find_profiles(root: Path) -> Path | None:
    """Where dbt would read `profiles.yml` for the project at ``root``."""
    candidates = []
    if os.environ.get("DBT_PROFILES_DIR"):
        candidates.append(Path(os.environ["DBT_PROFILES_DIR"]).expanduser())
    candidates += [root, Path.home() / ".dbt"]
    for folder in candidates:
        path = folder / "profiles.yml"
        if path.is_file():
            return path
    return None


def profile_targets(
    root: Path, profile: str, state_dir: str, seen_env: dict[str, str | None] | None = None
) -> tuple[dict[str, Target], str] | None:
    """The targets of ``profile`` and its default target, or None when there is no profiles.yml
    or it has no such profile (headwater's default target is used then)."""
    path = find_profiles(root)
    if path is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # and impossible dates
        raise ConfigError(
            f"profiles.yml is not valid YAML: {exc}", location=Location(str(path))
        ) from None
    entry = data.get(profile) if isinstance(data, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), dict):
        return None
    raw_outputs = entry["outputs"]
    entry = _render(entry, str(path), {} if seen_env is None else seen_env)
    targets = {}
    for name, output in entry["outputs"].items():
        if isinstance(output, dict):
            raw = raw_outputs.get(name)
            targets[str(name)] = _target(
                str(name),
                output,
                root,
                state_dir,
                str(path),
                raw if isinstance(raw, dict) else None,
            )
    if not targets:
        return None
    default = str(entry.get("target") or next(iter(targets)))
    return targets, default


def _target(
    name: str,
    output: dict[str, Any],
    root: Path,
    state_dir: str,
    where: str,
    raw: dict[str, Any] | None = None,
) -> Target:
    kind = str(output.get("type", "duckdb"))
    if kind == "postgres":
        return _postgres_target(name, output, where, raw or {})
    if kind != "duckdb":
        from headwater import secrets

        for key in ("password", "pass", "token", "private_key"):
            if output.get(key):
                secrets.register(str(output[key]))
        return Target(name=name, engine=kind, schema=str(output.get("schema", "public")),
                      threads=int(output.get("threads", 1)), settings=dict(output))  # fmt: skip
    keys = [k for k in UNSUPPORTED_DUCKDB_KEYS if output.get(k)]
    unsupported = (
        (
            f"{where}: profile output `{name}` uses dbt-duckdb's {', '.join(f'`{k}`' for k in keys)}, which headwater "
            "does not support (remove them for headwater, or give the project `targets:` in headwater.yml)"
        )
        if keys
        else None
    )
    settings = dict(output.get("settings") or {})
    if output.get("memory_limit"):
        settings.setdefault("memory_limit", output["memory_limit"])
    path = str(output.get("path") or f"{state_dir}/warehouse.duckdb")
    return Target(
        name=name,
        engine="duckdb",
        path=path,
        schema=str(output.get("schema") or "main"),
        threads=max(1, int(output.get("threads", 1))),
        settings=settings,
        external_root=str(output.get("external_root", ".")),
        lake_root=str(output.get("lake_root", "lake")),
        extensions=[str(e) for e in output.get("extensions") or []],
        unsupported=unsupported,
    )


_ENV_VAR_ONLY = re.compile(
    r"""\s*\{\{-?\s*env_var\(\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*(?:,[^)]*)?\)\s*-?\}\}\s*"""
)


def _postgres_target(name: str, output: dict[str, Any], where: str, raw: dict[str, Any]) -> Target:
    """A dbt-postgres output as a postgres target. A password written as one `{{ env_var('NAME') }}`
    (and NAME set) becomes `password_env: NAME`; any other password is registered as a secret and
    kept in `settings["password"]`. dbt-postgres keys headwater has no field for (`keepalives_idle`,
    `search_path`, `role`, `retries`, ...) are not used."""
    from headwater import secrets

    loc = Location(where)

    def fail(key: str, must: str) -> ConfigError:
        return ConfigError(f"profiles.yml: `{key}` of output `{name}` must be {must}, got `{output.get(key)!r}`",
                           location=loc)  # fmt: skip

    def text(key: str) -> str | None:
        value = output.get(key)
        return None if value is None or value == "" else str(value)

    def number(key: str, default: Any, kind: type = float) -> Any:
        value = output.get(key)
        if value is None or value == "":
            return default
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise fail(key, "a number") from None

    for key in ("password", "pass", "token", "private_key"):
        if output.get(key):
            secrets.register(str(output[key]))
    password_key = "password" if output.get("password") is not None else "pass"
    password, password_env, settings = output.get(password_key), None, {}
    if password is not None and password != "":
        written = raw.get(password_key)
        match = _ENV_VAR_ONLY.fullmatch(written) if isinstance(written, str) else None
        if match and os.environ.get(match.group(2)) is not None:
            password_env = match.group(2)
        else:
            settings["password"] = str(password)
    port = number("port", None, int)
    if port is not None and not 1 <= port <= 65535:
        raise fail("port", "an integer from 1 to 65535")
    threads = number("threads", 1, int)
    timeout = number("connect_timeout", 10)
    if timeout < 0:
        raise fail("connect_timeout", "a number of seconds (0 or more)")
    return Target(
        name=name,
        engine="postgres",
        path=None,
        schema=text("schema") or "public",
        threads=max(1, threads),
        settings=settings,
        host=text("host"),
        port=port,
        user=text("user"),
        password_env=password_env,
        database=text("dbname") or text("database"),
        sslmode=text("sslmode"),
        connect_timeout=timeout,
    )


def _render(value: Any, where: str, seen_env: dict[str, str | None]) -> Any:
    """profiles.yml may use `{{ env_var('X') }}` (secrets among them) and `{{ env_var('X', 'd') }}`."""
    if isinstance(value, dict):
        return {k: _render(v, where, seen_env) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, where, seen_env) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    import jinja2.sandbox

    from headwater import secrets

    def env_var(name: str, default: Any = None) -> Any:
        found = os.environ.get(name)
        seen_env[name] = found
        if name.startswith(secrets.SECRET_ENV_PREFIXES) or any(
            w in name.upper() for w in ("PASSWORD", "TOKEN", "SECRET")
        ):
            secrets.register(found)
        if found is None and default is None:
            raise ConfigError(f"profiles.yml: environment variable `{name}` is not set", location=Location(where),
                              hint=f"export {name}=...")  # fmt: skip
        return found if found is not None else default

    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = env_var
    try:
        text = env.from_string(value).render()
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"profiles.yml: cannot render `{value}`: {exc}", location=Location(where)
        ) from None
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


__all__ = ["find_profiles", "profile_targets"]
