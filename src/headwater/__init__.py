"""headwater: take data from its sources to published, tested, documented tables.

The public entry points are `headwater.Context` (a project) and `headwater.validate(data, suite)`
(expectations on files or dataframes, no project needed); the CLI (`headwater ...`) is a thin layer over it.
"""

from __future__ import annotations

from typing import Any

from headwater.version import __version__


def __getattr__(name: str) -> Any:
    if name == "Context":
        from headwater.context import Context

        return Context
    if name == "validate":
        from headwater.quality.expectations import validate

        return validate
    raise AttributeError(name)


__all__ = ["Context", "__version__", "validate"]
