"""`headwater lint`: one line per finding (``path:line: HW101 [warn] message (hint)``) and a
count line, or the `LintReport` as JSON."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from headwater.lint import Finding, LintReport


def finding_line(f: Finding) -> str:
    return f"{f.path}:{f.line}: {f.rule} [{f.severity}] {f.message} ({f.hint})"


def print_lint(report: LintReport, as_json: bool, file: TextIO | None = None) -> None:
    """The report on ``file`` (stdout by default)."""
    out = file or sys.stdout
    if as_json:
        print(json.dumps(report.to_dict(), indent=2), file=out)
        return
    for f in report.findings:
        print(finding_line(f), file=out)
    for node, reason in report.skipped:
        print(f"skipped {node}: {reason}", file=out)
    counts = report.counts
    print(
        f"lint: {report.checked} models checked, {counts['error']} errors, "
        f"{counts['warn']} warnings",
        file=out,
    )
