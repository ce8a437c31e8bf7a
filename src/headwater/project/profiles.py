"""dbt's `profiles.yml`: the targets of a dbt project that has no headwater `targets:`.

dbt finds `profiles.yml` in `--profiles-dir`, then `DBT_PROFILES_DIR`, then the project folder,
then `~/.dbt/`. The project's `profile:` names an entry; its `outputs` are the targets and its
`target` the default. A dbt-duckdb output becomes a DuckDB target with the same file (`path`,
relative to the project), `schema` (default `main`), `threads` (default 1, as dbt), `settings`,
`extensions` and `external_root`; so `target.database`, the warehouse file and the schemas are the
ones the team's dbt runs use. Keys headwater cannot honour (`attach`, `plugins`, `filesystems`,
`secrets`, `module_paths`) are an error naming them when that target is used; other adapter types
are read with their keys, and the engine layer says whether it can run them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, Location
from headwater.project.definition import Target

UNSUPPORTED_DUCKDB_KEYS = ("attach", "plugins", "filesystems", "secrets", "module_paths", "use_credential_provider")


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
    except yaml.YAMLError as exc:
        raise ConfigError(f"profiles.yml is not valid YAML: {exc}", location=Location(str(path))) from None
    entry = data.get(profile) if isinstance(data, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), dict):
        return None
    entry = _render(entry, str(path), {} if seen_env is None else seen_env)
    targets = {}
    for name, output in entry["outputs"].items():
        if isinstance(output, dict):
            targets[str(name)] = _target(str(name), output, root, state_dir, str(path))
    if not targets:
        return None
    default = str(entry.get("target") or next(iter(targets)))
    return targets, default


def _target(name: str, output: dict[str, Any], root: Path, state_dir: str, where: str) -> Target:
    kind = str(output.get("type", "duckdb"))
    if kind != "duckdb":
        from headwater import secrets

        for key in ("password", "pass", "token", "private_key"):
            if output.get(key):
                secrets.register(str(output[key]))
        return Target(name=name, engine=kind, schema=str(output.get("schema", "public")),
                      threads=int(output.get("threads", 1)), settings=dict(output))  # fmt: skip
    keys = [k for k in UNSUPPORTED_DUCKDB_KEYS if output.get(k)]
    unsupported = (
        f"{where}: profile output `{name}` uses dbt-duckdb's {', '.join(f'`{k}`' for k in keys)}, which headwater "
        "does not support (remove them for headwater, or give the project `targets:` in headwater.yml)"
    ) if keys else None
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
        extensions=[str(e) for e in output.get("extensions") or []],
        unsupported=unsupported,
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
        if name.startswith(secrets.SECRET_ENV_PREFIXES) or any(w in name.upper() for w in ("PASSWORD", "TOKEN", "SECRET")):
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
        raise ConfigError(f"profiles.yml: cannot render `{value}`: {exc}", location=Location(where)) from None
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


__all__ = ["find_profiles", "profile_targets"]
