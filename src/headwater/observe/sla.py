"""(being written)"""

from __future__ import annotations

from typing import Any


def make(ctx: Any, command: str, invocation_id: str, bus: Any) -> None:
    return None
