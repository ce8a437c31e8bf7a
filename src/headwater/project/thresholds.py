"""`warn_if` / `error_if` of a test: `">10"`, `"!=0"`, `">1%"` read into a test of the failures.

The reader validates them at load (file:line in the error); the check runner applies them. This
module imports nothing but `headwater.errors`, so running checks does not import the YAML stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from headwater.errors import ConfigError

_THRESHOLD_RE = re.compile(r"^\s*(==|=|!=|<>|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")


def parse_threshold(text: Any) -> Callable[[int, int | None], bool]:
    """`">10"`, `"!=0"`, `">1%"` -> a test of (failures, rows); `ConfigError` when unreadable."""
    match = _THRESHOLD_RE.match(str(text))
    if not match:
        raise ConfigError(
            f"cannot read threshold `{text}`",
            hint="write e.g. `>10`, `!=0` or a percentage of the rows, `>1%`",
        )
    op, num, percent = match.group(1), float(match.group(2)), bool(match.group(3))
    ops: dict[str, Callable[[float, float], bool]] = {
        "==": lambda a, b: a == b, "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
        "<>": lambda a, b: a != b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    }  # fmt: skip
    fn = ops[op]
    if not percent:
        return lambda n, rows: fn(n, num)
    return lambda n, rows: fn(100.0 * n / rows if rows else 0.0, num)
