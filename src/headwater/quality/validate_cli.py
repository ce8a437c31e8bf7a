"""`headwater validate DATA --suite SUITE`: expectations on files or a warehouse table, no
project needed for files. Prints one line per expectation; `--output` keeps the full result in
Great Expectations' JSON shape. Exit 1 when a critical expectation fails or cannot run."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path
from typing import Any

from headwater.errors import UsageError


def run_validate(args: argparse.Namespace) -> int:
    from headwater.quality.expectations import load_suite

    suite_path = Path(args.suite)
    if not suite_path.is_file():
        raise UsageError(
            f"suite file `{args.suite}` does not exist",
            hint="give a YAML suite or a GX suite JSON file",
        )
    suite = load_suite(suite_path)
    if _is_files(args.data):
        from headwater.quality.expectations import validate

        result = validate(args.data, suite, result_format=args.result_format)
    else:
        result = _validate_table(args, suite)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, out)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print_summary(result, args.data, args.output)
    return 1 if _blocking(result) else 0


def _is_files(data: str) -> bool:
    if Path(data).exists() or glob.has_magic(data) or "://" in data:
        return True
    if Path(data).suffix.lower() in (
        ".parquet",
        ".csv",
        ".tsv",
        ".json",
        ".ndjson",
        ".jsonl",
        ".gz",
        ".zst",
    ):
        raise UsageError(
            f"data file `{data}` does not exist",
            hint="check the path (relative to the current folder)",
        )
    return False


def _validate_table(args: argparse.Namespace, suite: Any) -> dict[str, Any]:
    """DATA names a relation of the project's warehouse: a model, seed, `source.table` or
    `schema.table`. The warehouse is opened read-only: validating never changes it."""
    from headwater.cli import _vars
    from headwater.context import Context
    from headwater.quality.expectations import validate_relation

    ctx = Context(
        getattr(args, "project_dir", None) or os.getcwd(),
        target=getattr(args, "target", None),
        vars=_vars(args),
    )
    with ctx:
        relation = _relation_sql(ctx, args.data)
        engine = _read_only_engine(ctx)
        try:
            outcome = validate_relation(
                engine.query,
                relation,
                suite.expectations,
                suite_name=suite.name,
                result_format=args.result_format,
            )
        finally:
            engine.close()
        return outcome.to_json_dict()


def _read_only_engine(ctx: Any) -> Any:
    from headwater.engines import create_engine

    location = getattr(create_engine(ctx.manifest.target, str(ctx.root)), "path", None)
    if location and location != ":memory:" and not Path(location).exists():
        raise UsageError(
            f"the warehouse `{location}` does not exist yet",
            hint="build the project first (`headwater build`), or give a data file",
        )
    return ctx.open_engine(read_only=True)


def _relation_sql(ctx: Any, name: str) -> str:
    from headwater.engines.base import quote_identifier

    for node in ctx.manifest.nodes.values():
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


def _blocking(result: dict[str, Any]) -> bool:
    return any(
        not r.get("success")
        and (r.get("expectation_config") or {}).get("severity", "critical") == "critical"
        for r in result.get("results", [])
    )


def _print_summary(result: dict[str, Any], data: str, output: str | None) -> None:
    from headwater.report import print_rows

    rows = []
    for r in result.get("results", []):
        cfg = r.get("expectation_config") or {}
        kwargs = cfg.get("kwargs") or {}
        res = r.get("result") or {}
        if (r.get("exception_info") or {}).get("raised_exception"):
            status, detail = "error", str(r["exception_info"].get("exception_message"))[:80]
        else:
            status = (
                "pass"
                if r.get("success")
                else ("fail" if cfg.get("severity", "critical") == "critical" else "warn")
            )
            detail = _detail(res)
        column = kwargs.get("column") or ", ".join(
            str(c)
            for c in kwargs.get("column_list") or [kwargs.get("column_A"), kwargs.get("column_B")]
            if c
        )
        rows.append((status, cfg.get("type"), column, detail))
    print_rows(["status", "expectation", "column", "result"], rows, "table")
    stats = result.get("statistics") or {}
    line = (
        f"{data}: {stats.get('successful_expectations', 0)} of {stats.get('evaluated_expectations', 0)} "
        f"expectations met ({stats.get('success_percent') or 0:.0f}%)"
    )
    if output:
        line += f"; full result in {output}"
    print(line, file=sys.stdout)


def _detail(res: dict[str, Any]) -> str:
    if "element_count" not in res and ("unexpected_count" in res or "missing_count" in res):
        return _distinct_detail(res)
    if "unexpected_count" in res:
        text = f"{res['unexpected_count']:,} unexpected of {res.get('element_count', 0):,}"
        sample = res.get("partial_unexpected_list") or []
        if res["unexpected_count"] and sample:
            text += ", e.g. " + ", ".join(repr(v) for v in sample[:3])
        return text
    if "observed_value" in res:
        return f"observed {res['observed_value']!r}"[:80]
    return ""


def _distinct_detail(res: dict[str, Any]) -> str:
    """Distinct-value set expectations count distinct values, not rows."""
    parts = []
    if res.get("unexpected_count"):
        sample = ", ".join(repr(v) for v in (res.get("partial_unexpected_list") or [])[:3])
        parts.append(
            f"{res['unexpected_count']:,} unexpected distinct values"
            + (f", e.g. {sample}" if sample else "")
        )
    if res.get("missing_count"):
        sample = ", ".join(repr(v) for v in (res.get("partial_missing_list") or [])[:3])
        parts.append(f"{res['missing_count']:,} missing" + (f": {sample}" if sample else ""))
    return "; ".join(parts)[:120]
