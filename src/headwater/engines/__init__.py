"""Engines by name, imported lazily. An unknown name gets "did you mean", a known but
uninstalled one gets the pip command that installs it."""

from __future__ import annotations

import importlib

from headwater.engines.base import Engine
from headwater.errors import EngineNotFoundError, did_you_mean
from headwater.project.definition import Target

ENGINES: dict[str, tuple[str, str, str]] = {
    # name: (module, class, pip extra / package)
    "duckdb": ("headwater.engines.duckdb", "DuckDBEngine", "duckdb"),
    "postgres": ("headwater.engines.postgres", "PostgresEngine", "postgres"),
}
PLANNED = {"spark": "spark", "snowflake": "snowflake", "bigquery": "bigquery"}


def engine_class(name: str) -> type[Engine]:
    if name not in ENGINES:
        if name in PLANNED:
            raise EngineNotFoundError(
                f"engine `{name}` is not available in this version of headwater",
                hint="use `engine: duckdb` for now",
            )
        raise EngineNotFoundError(
            f"unknown engine `{name}`" + did_you_mean(name, list(ENGINES) + list(PLANNED)),
            hint="engines: " + ", ".join(ENGINES),
        )
    module, cls, extra = ENGINES[name]
    try:
        found: type[Engine] = getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise EngineNotFoundError(
            f"engine `{name}` needs a package that is not installed ({exc.name})",
            hint=f"pip install 'headwater[{extra}]'",
        ) from None
    return found


def create_engine(target: Target, project_root: str) -> Engine:
    return engine_class(target.engine)(target, project_root)


def engine_dialect(name: str) -> str:
    return engine_class(name).DIALECT
