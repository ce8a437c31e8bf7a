"""Validating data against an expectation suite, outside a build: what `Context.validate` does and
`headwater validate` prints.

The data is files (a Parquet/CSV/JSON file, a folder or glob of them, a URL), an in-memory
frame or Arrow table (validated on local DuckDB, with GX's pandas semantics), or a relation of
the project's warehouse (opened read-only: validating never changes it; GX's SQL semantics).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from headwater.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from headwater.engines.base import Engine
    from headwater.manifest import Manifest
    from headwater.project.definition import Node
    from headwater.quality.expectations import Suite

FILE_SUFFIXES = (".parquet", ".csv", ".tsv", ".json", ".ndjson", ".jsonl", ".gz", ".zst")
"""A name ending so is a file, never a relation: a missing one is an error, not a table name."""


@dataclass
class ValidationResult:
    """The outcome of a suite on some data; ``result`` is GX's JSON shape
    (``ExpectationSuiteValidationResult.to_json_dict()``)."""

    data: str
    """What was validated: the path, glob or relation name as given (a frame's type name)."""
    suite: str
    """The suite's name."""
    result: dict[str, Any]

    @property
    def success(self) -> bool:
        """GX's meaning: every expectation succeeded (warnings included)."""
        return bool(self.result.get("success"))

    @property
    def blocking(self) -> bool:
        """A critical expectation failed or could not run."""
        return any(
            not r.get("success")
            and (r.get("expectation_config") or {}).get("severity", "critical") == "critical"
            for r in self.results
        )

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0

    @property
    def results(self) -> list[dict[str, Any]]:
        """One GX result per expectation."""
        return list(self.result.get("results", []))

    @property
    def statistics(self) -> dict[str, Any]:
        return dict(self.result.get("statistics") or {})

    def to_dict(self) -> dict[str, Any]:
        return self.result


class WarehouseContext(Protocol):
    """What validating a warehouse relation needs of a `headwater.context.Context`."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def root(self) -> Path: ...

    def open_engine(self, read_only: bool = False) -> Engine: ...


def load_suite_file(path: str | os.PathLike[str]) -> Suite:
    """The suite of a YAML or GX JSON file; `UsageError` when there is no such file."""
    from headwater.quality.expectations import load_suite

    if not Path(path).is_file():
        raise UsageError(
            f"suite file `{path}` does not exist",
            hint="give a YAML suite or a GX suite JSON file",
        )
    return load_suite(path)


def is_files(data: str) -> bool:
    """``data`` names files (an existing path, a glob, a URL), not a relation; a missing path
    with a data file's suffix is a `UsageError`."""
    if Path(data).exists() or glob.has_magic(data) or "://" in data:
        return True
    if Path(data).suffix.lower() in FILE_SUFFIXES:
        raise UsageError(
            f"data file `{data}` does not exist",
            hint="check the path (relative to the current folder)",
        )
    return False


def validate_files(data: object, suite: Suite, result_format: str | None = None) -> dict[str, Any]:
    """Files, a frame or an Arrow table on local DuckDB: GX's result dict."""
    from headwater.quality.expectations import validate

    return validate(data, suite, result_format=result_format)


def validate_table(
    ctx: WarehouseContext, name: str, suite: Suite, result_format: str | None = None
) -> dict[str, Any]:
    """The relation ``name`` of the project's warehouse (a model, seed, `source.table` or
    `schema.table`), opened read-only: GX's result dict."""
    from headwater.quality.expectations import validate_relation

    relation = relation_sql(ctx.manifest.nodes.values(), name)
    engine = read_only_engine(ctx)
    try:
        outcome = validate_relation(
            engine.query,
            relation,
            suite.expectations,
            suite_name=suite.name,
            result_format=result_format,
        )
    finally:
        engine.close()
    result: dict[str, Any] = outcome.to_json_dict()
    return result


def read_only_engine(ctx: WarehouseContext) -> Engine:
    """The project's warehouse opened read-only; `UsageError` when it does not exist yet."""
    from headwater.engines import create_engine

    location = getattr(create_engine(ctx.manifest.target, str(ctx.root)), "path", None)
    if location and location != ":memory:" and not Path(location).exists():
        raise UsageError(
            f"the warehouse `{location}` does not exist yet",
            hint="build the project first (`headwater build`), or give a data file",
        )
    return ctx.open_engine(read_only=True)


def relation_sql(nodes: Iterable[Node], name: str) -> str:
    """The quoted relation of the node named ``name`` (name, `source.table` or relation), else
    ``name`` read as `[[database.]schema.]table`."""
    from headwater.engines.base import quote_identifier

    for node in nodes:
        if node.relation is not None and name in (
            node.name,
            node.display_name,
            node.relation.render(quote=False),
        ):
            return node.relation.render()
    parts = name.split(".")
    if len(parts) in (1, 2, 3) and all(parts):
        return ".".join(quote_identifier(p) for p in parts)
    raise UsageError(
        f"`{name}` is neither a file nor a relation name",
        hint="give a path, a glob or schema.table",
    )
