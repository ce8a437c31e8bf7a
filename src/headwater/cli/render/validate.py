"""`headwater validate`: a `ValidationResult` as one table row per expectation and a count line,
or GX's JSON."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from headwater.cli.render.report import print_rows

if TYPE_CHECKING:
    from headwater.quality.validate import ValidationResult


def print_validation(result: ValidationResult, as_json: bool, output: str | None = None) -> None:
    """The result (``output``: where the full result was written, named in the count line)."""
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return
    rows = []
    for r in result.results:
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
    stats = result.statistics
    line = (
        f"{result.data}: {stats.get('successful_expectations', 0)} of {stats.get('evaluated_expectations', 0)} "
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
