"""The guard on replacing a table: an empty source must not silently empty a full table.

A load that replaces a table (`write_disposition: replace`, and the simple `files:` form, which
reloads everything on every run) is refused when the new table would be empty while the old one
has rows — a header-only CSV, an API that answered nothing — unless the table says
``allow_empty: true``. ``max_row_drop: 0.5`` also refuses a replace that loses more than half the
rows (off by default: sources legitimately shrink). A refusal fails the node (exit 1) and keeps
the old table; its message names the table, both row counts and the key to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headwater.errors import ExecutionError


@dataclass(frozen=True)
class ReplaceGuard:
    allow_empty: bool = False
    max_row_drop: float | None = None
    where: str = "extract:"
    """Where the keys go, for the hint (`extract:` of a connector table, or `files:`)."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], where: str = "extract:") -> ReplaceGuard:
        drop = config.get("max_row_drop")
        return cls(
            bool(config.get("allow_empty", False)), float(drop) if drop is not None else None, where
        )

    def refusal(self, table: str, old: int, new: int) -> ExecutionError | None:
        """The error refusing to replace ``table`` (``old`` rows) by ``new`` rows, or None."""
        if old <= 0:
            return None
        if new == 0 and not self.allow_empty:
            return ExecutionError(
                f"refusing to replace {table} ({old:,} rows) with an empty table (0 rows): "
                "the source has no rows; the previous table stays",
                node=table,
                hint=f"if the source is meant to be empty, set `allow_empty: true` under the table's `{self.where}`",
            )
        if self.max_row_drop is not None and 0 < new < old * (
            1 - self.max_row_drop
        ):  # 0 rows: allow_empty said yes
            return ExecutionError(
                f"refusing to replace {table} ({old:,} rows) with {new:,} rows: a drop of {1 - new / old:.0%}, "
                f"more than max_row_drop ({self.max_row_drop:g}); the previous table stays",
                node=table,
                hint=f"if the drop is expected, raise or remove `max_row_drop` under the table's `{self.where}`",
            )
        return None
