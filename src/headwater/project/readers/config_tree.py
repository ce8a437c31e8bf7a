"""dbt-style config trees of the project file (`models:`, `seeds:`, `snapshots:`, `tests:`):
`+key` configs per folder, collected along a node's folders, and a check that the folders named
exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.errors import UnknownKeyError, did_you_mean
from headwater.project.definition import merge_config
from headwater.project.validate import check_config_keys, loc_of

CONFIG_SHORTHAND = {
    "materialized", "schema", "alias", "tags", "enabled", "column_types", "severity", "meta",
    "docs",
}  # fmt: skip
"""Configs a tree may give without the `+` prefix (when the value is not a mapping)."""


def folder_config(
    tree: dict[str, Any],
    folders: list[str],
    kind: str,
    name: str | None,
    package: str,
    root_tree: dict[str, Any],
) -> dict[str, Any]:
    """Collect `+key` configs along ``folders`` (and the node ``name``, dbt's last fqn part) from
    ``tree``, the tree of ``package``'s project file, then from ``root_tree`` (for an installed
    package, the root project's tree for it, which overrides the package's own)."""
    folders = [*folders, name] if name else folders
    out: dict[str, Any] = {}
    level = tree
    if package in level and isinstance(level[package], dict):
        _take_config(out, level, package, kind)
        level = level[package]
    for start in (level, root_tree):
        if not start:
            continue
        _take_config(out, start, None, kind)
        sub: Any = start
        for folder in folders:
            sub = sub.get(folder)
            if not isinstance(sub, dict):
                break
            _take_config(out, sub, None, kind)
    return out


def check_folder_tree(tree: dict[str, Any], dirs: list[Path], kind: str, package: str) -> None:
    """A key under `models:` that nearly names an existing folder of ``dirs`` is a typo: an error."""
    level = tree
    if isinstance(level.get(package), dict):
        level = level[package]
    _check_level(level, dirs, kind)


def _check_level(level: dict[str, Any], dirs: list[Path], kind: str) -> None:
    for key, value in level.items():
        if not isinstance(value, dict) or str(key).startswith("+") or key in ("column_types",):
            continue
        subdirs = [d / str(key) for d in dirs if (d / str(key)).is_dir()]
        if not subdirs and any(
            p.stem == str(key) for d in dirs if d.is_dir() for p in d.iterdir() if p.is_file()
        ):
            continue  # config of one node (`stg_orders: {+enabled: false}`)
        if not subdirs:
            existing = sorted(
                {p.name for d in dirs if d.is_dir() for p in d.iterdir() if p.is_dir()}
            )
            if not did_you_mean(str(key), existing):
                continue  # config for a folder that does not exist (yet): ignored, as in dbt
            raise UnknownKeyError(
                f"`{kind}:` configures folder `{key}`, which does not exist"
                + did_you_mean(str(key), existing),
                location=loc_of(level, key),
                hint="folders here: "
                + (", ".join(existing) or "(none)")
                + "; configs need a `+` prefix, e.g. `+materialized: table`",
            )
        _check_level(value, subdirs, kind)


def _take_config(out: dict[str, Any], level: dict[str, Any], skip: str | None, kind: str) -> None:
    for key, value in level.items():
        if key == skip:
            continue
        if isinstance(key, str) and key.startswith("+"):
            check_config_keys({key: value}, f"`{kind}:` of the project file")
            merge_config(out, {key[1:]: value})
        elif (key in CONFIG_SHORTHAND and not isinstance(value, dict)) or key in ("column_types",):
            merge_config(out, {key: value})
        elif not isinstance(value, dict):
            raise UnknownKeyError(
                f"`{key}: {value!r}` under `{kind}:` is neither a folder nor a `+config`"
                + did_you_mean(str(key), CONFIG_SHORTHAND),
                location=loc_of(level, key),
                hint=f"write configs with a `+` prefix, e.g. `+{key}: {value}`",
            )
