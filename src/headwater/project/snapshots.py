"""Snapshot settings: `snapshot_settings` validates a snapshot's merged config (it runs at compile
time, once ``config()`` is known) and `snapshot_relation` names its table.

Snapshots are read into nodes by `headwater.project.readers.snapshots`.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from headwater.errors import ConfigError, Location, UnknownKeyError, did_you_mean
from headwater.project.definition import Node, Relation, Target
from headwater.project.naming import snapshot_schema
from headwater.project.validate import as_list, loc_of

STRATEGIES = ("timestamp", "check")
HARD_DELETES = ("ignore", "invalidate", "new_record")
META_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "dbt_is_deleted")

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


@dataclass
class SnapshotSettings:
    """A snapshot's validated config."""

    unique_key: list[str]
    """Column names or SQL expressions (dbt allows both)."""
    strategy: str
    updated_at: str | None
    check_cols: list[str] | str
    """A list of columns, or ``"all"``."""
    hard_deletes: str
    columns: dict[str, str] = field(default_factory=dict)
    """Meta column names: dbt's name -> the name used in the table."""
    valid_to_current: str | None = None
    """SQL expression current rows carry in the valid-to column instead of NULL."""


def snapshot_settings(node: Node) -> SnapshotSettings:
    """Validate the merged config of a snapshot; `ConfigError` with file:line and the fix."""
    cfg = node.config
    where = Location(node.path, node.line)

    def fail(message: str, hint: str) -> ConfigError:
        return ConfigError(
            f"snapshot `{node.name}`: {message}", location=where, node=node.name, hint=hint
        )

    strategy = cfg.get("strategy")
    if not strategy:
        raise fail(
            "`strategy` is missing",
            "add `strategy: timestamp` (with `updated_at: <column>`) "
            "or `strategy: check` (with `check_cols: [<column>, ...]` or `all`) to its config",
        )
    strategy = str(strategy).lower()
    if strategy not in STRATEGIES:
        raise fail(
            f"unknown strategy `{strategy}`" + did_you_mean(strategy, STRATEGIES),
            "use `strategy: timestamp` or `strategy: check`",
        )
    keys = cfg.get("unique_key")
    if keys in (None, "", []):
        raise fail(
            "`unique_key` is missing",
            "add `unique_key: id` (a column, an expression, or a list of columns) to its config",
        )
    if not isinstance(keys, str | list | tuple) or not all(
        isinstance(k, str) and k.strip() for k in as_list(keys)
    ):
        raise fail(
            f"`unique_key` must be a column name or a list of them, got `{keys!r}`",
            "e.g. `unique_key: id` or `unique_key: [order_id, line_no]`",
        )
    updated_at = cfg.get("updated_at")
    if updated_at is not None and not isinstance(updated_at, str):
        raise fail(
            f"`updated_at` must be a column name, got `{updated_at!r}`",
            "e.g. `updated_at: updated_at`",
        )
    if strategy == "timestamp" and not updated_at:
        raise fail(
            "strategy `timestamp` needs `updated_at`",
            "add `updated_at: <timestamp column>` or use `strategy: check` with `check_cols`",
        )
    check_cols: list[str] | str = []
    if strategy == "check":
        raw = cfg.get("check_cols")
        if raw in (None, "", []):
            raise fail(
                "strategy `check` needs `check_cols`",
                "add `check_cols: [<column>, ...]` or `check_cols: all`",
            )
        if isinstance(raw, str) and raw.lower() == "all":
            check_cols = "all"
        elif isinstance(raw, list | tuple) and all(isinstance(c, str) for c in raw):
            check_cols = [str(c) for c in raw]
        else:
            raise fail(
                f"`check_cols` must be a list of columns or `all`, got `{raw!r}`",
                "e.g. `check_cols: [status, amount]` or `check_cols: all`",
            )
    hard = cfg.get("hard_deletes")
    if hard is None:
        hard = (
            "invalidate"
            if cfg.get("invalidate_hard_deletes") in (True, "true", "True")
            else "ignore"
        )
    hard = str(hard).lower()
    if hard not in HARD_DELETES:
        raise fail(
            f"unknown `hard_deletes: {hard}`" + did_you_mean(hard, HARD_DELETES),
            "use `ignore` (default), `invalidate` or `new_record`",
        )
    names = cfg.get("snapshot_meta_column_names") or {}
    if not isinstance(names, dict):
        raise fail(
            f"`snapshot_meta_column_names` must be a mapping, got `{names!r}`",
            "e.g. `snapshot_meta_column_names: {dbt_valid_from: valid_from, dbt_valid_to: valid_to}`",
        )
    for key, value in names.items():
        if key not in META_COLUMNS:
            raise UnknownKeyError(
                f"snapshot `{node.name}`: unknown key `{key}` in `snapshot_meta_column_names`"
                + did_you_mean(str(key), META_COLUMNS),
                location=loc_of(names, key) or where,
                node=node.name,
                hint="keys: " + ", ".join(META_COLUMNS),
            )
        if not isinstance(value, str) or not value.strip():
            raise fail(
                f"`snapshot_meta_column_names.{key}` must be a column name, got `{value!r}`",
                f"e.g. `{key}: {key.removeprefix('dbt_')}`",
            )
    columns = {k: str(names.get(k) or k) for k in META_COLUMNS}
    if len({c.lower() for c in columns.values()}) != len(columns):
        raise fail(
            "`snapshot_meta_column_names` gives two meta columns the same name",
            "use distinct names",
        )
    current = cfg.get("dbt_valid_to_current")
    if current is not None:
        if isinstance(current, datetime.date):  # YAML read `9999-12-31` as a date
            current = f"'{current.isoformat()}'"
        current = str(current).strip() or None
    return SnapshotSettings(
        unique_key=[str(k).strip() for k in as_list(keys)],
        strategy=strategy,
        updated_at=str(updated_at).strip() if updated_at else None,
        check_cols=check_cols,
        hard_deletes=hard,
        columns=columns,
        valid_to_current=current,
    )


def snapshot_relation(node: Node, target: Target) -> Relation:
    """Validate a compiled snapshot's config and name its table.

    dbt's rules: legacy `target_schema` is used as is; `schema` follows the custom-schema naming
    of models (`<target schema>_<schema>`); neither means the target's schema. `target_database`
    and `database` are accepted and, as `database` of models, not used: the target's database is.
    """
    node.config["materialized"] = "snapshot"
    snapshot_settings(node)
    schema = snapshot_schema(node, target.schema)
    return Relation(schema=schema, identifier=str(node.config.get("alias") or node.name))


def is_identifier(text: str) -> bool:
    return bool(_IDENT_RE.match(text))
