"""Source tables in sources.yml: what `connector:`/`connection:`/`extract:` and `files:` hold.

A connector's keys are declared on its class (`headwater.extract.keys`), so checking them here, at
load, with file:line, imports the connector registry: the one place the project layer reaches up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, Location, UnknownKeyError, did_you_mean
from headwater.project.definition import FileSpec
from headwater.project.validate import check_keys, expect_type, loc_of
from headwater.project.yaml import YMap

FILE_KEYS = {"path", "format", "options", "allow_empty", "max_row_drop"}
FILE_FORMATS = {"parquet", "csv", "tsv", "json", "ndjson", "jsonl"}


def connector_config(src: YMap, table: YMap, raw_dir: Path) -> dict[str, Any]:
    """`connector:` and `connection:` of the source with the table's `extract:` -> the
    connector's config, its keys checked against the connector's declarations (file:line)."""
    kind = (
        table.get("extract", {}).get("connector")
        if isinstance(table.get("extract"), dict)
        else None
    )
    kind = kind or src.get("connector")
    if not kind:
        if table.get("extract") is not None:
            raise ConfigError(
                f"table `{table.get('name')}` has `extract:` but its source `{src.get('name')}` names no `connector:`",
                location=loc_of(table, "extract"),
                hint="add `connector: files | s3 | postgres | mysql | http | dlt` to the source",
            )
        return {}
    connection = src.get("connection") or {}
    extract = table.get("extract") or {}
    expect_type(connection, dict, "`connection`", src, "connection")
    expect_type(extract, dict, "`extract`", table, "extract")
    _check_connector_keys(str(kind), loc_of(table["extract"], "connector") if "connector" in extract
                          else loc_of(src, "connector"), connection, extract)  # fmt: skip
    config = {**dict(connection), **dict(extract)}
    config.pop("connector", None)
    if str(kind) in ("files", "s3"):
        config.setdefault("base_dir", str(raw_dir))
    return {"connector": str(kind), "extract": config}


def file_spec(table: YMap) -> FileSpec | None:
    """The simple `files:` form of a source table (loaded again in full on every run)."""
    spec = table.get("files")
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = YMap(path=spec)
    expect_type(spec, dict, "`files`", table, "files")
    check_keys(spec, FILE_KEYS, "`files`")
    path = spec.get("path")
    if not path:
        raise ConfigError("`files:` needs `path:` (a glob)", location=loc_of(table, "files"))
    fmt = str(spec.get("format") or _guess_format(str(path))).lower()
    if fmt not in FILE_FORMATS:
        raise ConfigError(
            f"unknown file format `{fmt}`" + did_you_mean(fmt, FILE_FORMATS),
            location=loc_of(spec, "format"),
            hint="use one of: " + ", ".join(sorted(FILE_FORMATS)),
        )
    _check_guard_keys(spec)
    drop = spec.get("max_row_drop")
    return FileSpec(path=str(path), format=fmt, options=dict(spec.get("options") or {}),
                    allow_empty=bool(spec.get("allow_empty", False)), max_row_drop=float(drop) if drop is not None else None)  # fmt: skip


def _check_connector_keys(
    kind: str, where: Location | None, connection: dict[str, Any], extract: dict[str, Any]
) -> None:
    """Every key of `connection:` and `extract:` is one the connector declares (file:line, "did
    you mean …?"); the declarations live on the connector classes (`headwater.extract.keys`)."""
    from headwater.extract.base import config_problems

    try:
        problems = config_problems(kind, [connection, extract])
    except ConfigError as exc:  # an unknown connector
        raise ConfigError(exc.message, location=where, hint=exc.hint) from None
    if problems:
        first = problems[0]
        error = UnknownKeyError if first.unknown else ConfigError
        raise error(first.message, location=loc_of(first.mapping, first.key), hint=first.hint)


def _check_guard_keys(spec: YMap) -> None:
    """`allow_empty` and `max_row_drop` of `files:` (the guard against a reload that empties or
    shrinks the table) have values that work."""
    from headwater.extract.keys import guard_value_problems

    for problem in guard_value_problems(spec):
        raise ConfigError(problem.message, location=loc_of(spec, problem.key), hint=problem.hint)


def _guess_format(path: str) -> str:
    for suffix in (".gz", ".zst", ".zstd"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return path.rsplit(".", 1)[-1] if "." in path else "parquet"
