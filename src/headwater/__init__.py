"""headwater: take data from its sources to published, tested, documented tables.

The public entry point is `headwater.Context`; the CLI (`headwater ...`) is a thin layer over it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Context":
        from headwater.context import Context

        return Context
    raise AttributeError(name)


__all__ = ["Context", "__version__"]
