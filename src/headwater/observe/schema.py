"""Schema changes between two runs of a node: columns added, removed, renamed or retyped.

Columns are compared by exact name (a change of case is a rename: it breaks consumers that
quote names). Types are compared as the engine spells them (DuckDB `INTEGER`, PostgreSQL
`integer`: its catalog's `format_type`), case-insensitively. A change of column
order alone is not a change.

Renames are a best guess — the warehouse does not say that a column was renamed — made from the
columns that were removed and added in the same run, in two passes, each column paired once:

1. a removed and an added column of the **same type at the same position** (index in the
   column list) are a rename (``select amount as total`` in place of ``amount``);
2. of the rest, a removed and an added column of the **same type with very similar names**
   (``difflib`` ratio >= 0.8 on lower-case names: ``customer_id`` -> ``customerid``,
   ``ID`` -> ``id``) are a rename, most similar pairs first.

Anything else is reported as removed plus added. A rename that also changes the type is
therefore reported as a removal and an addition.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from headwater.state.records import SchemaChangeRecord

if TYPE_CHECKING:
    from headwater.project.definition import Node
    from headwater.state import StateStore

CHANGE_KINDS = ("added", "removed", "renamed", "type_changed")
SEVERITIES = ("warn", "error", "ignore")
SIMILAR = 0.8


@dataclass(frozen=True)
class SchemaChange:
    """One difference. ``column`` is the column's new name (its old name for ``removed``); for a
    rename ``old``/``new`` are the names, otherwise the types (None where there is none)."""

    change: str
    column: str
    old: str | None = None
    new: str | None = None

    def describe(self) -> str:
        if self.change == "added":
            return f"+{self.column} {self.new}"
        if self.change == "removed":
            return f"-{self.column} {self.old}"
        if self.change == "renamed":
            return f"{self.old} -> {self.new} (renamed?)"
        return f"{self.column}: {self.old} -> {self.new}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _same_type(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()


def diff_schemas(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> list[SchemaChange]:
    """What changed from ``old`` to ``new`` ([(name, type)] each), in the order of the new
    columns (removals last). Equal schemas (in any order) give ``[]``."""
    old_pos = {name: i for i, (name, _) in enumerate(old)}
    new_pos = {name: i for i, (name, _) in enumerate(new)}
    old_type, new_type = dict(old), dict(new)
    removed = [n for n, _ in old if n not in new_pos]
    added = [n for n, _ in new if n not in old_pos]

    renames: dict[str, str] = {}  # added name -> removed name
    for a in added:  # 1. same type, same position
        for r in removed:
            if (
                r not in renames.values()
                and old_pos[r] == new_pos[a]
                and _same_type(old_type[r], new_type[a])
            ):
                renames[a] = r
                break
    pairs = sorted(
        (
            (difflib.SequenceMatcher(None, r.lower(), a.lower()).ratio(), new_pos[a], old_pos[r], a, r)
            for a in added if a not in renames
            for r in removed if r not in renames.values() and _same_type(old_type[r], new_type[a])
        ),
        key=lambda p: (-p[0], p[1], p[2]),
    )  # fmt: skip
    for ratio, _, _, a, r in pairs:  # 2. same type, similar names, best first
        if ratio >= SIMILAR and a not in renames and r not in renames.values():
            renames[a] = r

    out: list[SchemaChange] = []
    renamed_from = set(renames.values())
    for name, type_ in new:
        if name in renames:
            out.append(SchemaChange("renamed", name, renames[name], name))
        elif name not in old_pos:
            out.append(SchemaChange("added", name, None, type_))
        elif not _same_type(old_type[name], type_):
            out.append(SchemaChange("type_changed", name, old_type[name], type_))
    out += [SchemaChange("removed", r, old_type[r], None) for r in removed if r not in renamed_from]
    return out


def apply_changes(old: list[tuple[str, str]], changes: list[SchemaChange]) -> dict[str, str]:
    """{name: type} after ``changes`` — the inverse of `diff_schemas` up to column order (used
    to test it). A renamed column keeps its type."""
    out = dict(old)
    for c in changes:
        if c.change == "removed":
            out.pop(c.column)
        elif c.change in ("added", "type_changed"):
            out[c.column] = str(c.new)
        elif c.change == "renamed":
            out[str(c.new)] = out.pop(str(c.old))
    return out


def describe(changes: list[SchemaChange]) -> str:
    return ", ".join(c.describe() for c in changes) or "unchanged"


def severity_of(node: Node) -> str:
    """The node's `schema_change:` (warn | error | ignore; default warn)."""
    value = node.config.get("schema_change")
    if value is None:
        return "warn"
    text = str(value).strip().lower()
    if text not in SEVERITIES:
        from headwater.errors import ConfigError, Location, did_you_mean

        raise ConfigError(
            f"`schema_change: {value}` of `{node.display_name}` is not one of {', '.join(SEVERITIES)}"
            + did_you_mean(text, SEVERITIES),
            location=Location(node.path, node.line),
            node=node.display_name,
            hint="`schema_change: warn` (default) reports changes, `error` fails the node (after it was "
            "published; its downstream is skipped), `ignore` only records them",
        )
    return text


# -- the state store -------------------------------------------------------------------------------
def previous_schema(
    state: StateStore, unique_id: str, invocation_id: str
) -> list[tuple[str, str]] | None:
    """The schema recorded by the node's last run on this target before this invocation, or None
    (`Metrics.previous_schemas`: only this target's history is compared)."""
    return state.metrics.previous_schemas([unique_id], invocation_id).get(unique_id)


def previous_schemas(
    state: StateStore, unique_ids: list[str], invocation_id: str
) -> dict[str, list[tuple[str, str]]]:
    """`previous_schema` of many nodes in a few queries (those with none are missing)."""
    return state.metrics.previous_schemas(unique_ids, invocation_id)


def record_schema(state: StateStore, invocation_id: str, unique_id: str, columns: list[tuple[str, str]],
                  recorded_at: float) -> tuple[bool, list[SchemaChange]]:  # fmt: skip
    """Store this run's schema and its changes since the last one: (had a previous schema, changes)."""
    return record_schemas(state, invocation_id, {unique_id: columns}, recorded_at)[unique_id]


def record_schemas(state: StateStore, invocation_id: str, schemas: dict[str, list[tuple[str, str]]],
                   recorded_at: float) -> dict[str, tuple[bool, list[SchemaChange]]]:  # fmt: skip
    """`record_schema` of many nodes: one read of the previous schemas, one write of each table."""
    before = state.metrics.previous_schemas(list(schemas), invocation_id)
    state.metrics.record_schemas(invocation_id, schemas, recorded_at)
    out: dict[str, tuple[bool, list[SchemaChange]]] = {}
    for uid, cols in schemas.items():
        out[uid] = (True, diff_schemas(before[uid], cols)) if uid in before else (False, [])
    state.metrics.record_changes(
        SchemaChangeRecord(uid, invocation_id, recorded_at, c.change, c.column, c.old, c.new)
        for uid, (_, cs) in out.items()
        for c in cs
    )
    return out
