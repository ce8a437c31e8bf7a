"""Run the rules over models: parse each model's compiled SQL, check it, drop what the
configuration and ``-- noqa`` comments silence, sort the findings."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.errors import Location
from headwater.lint.config import disabled_rules, read_lint_config
from headwater.lint.context import LintContext
from headwater.lint.findings import Finding, LintReport

if TYPE_CHECKING:
    from headwater.project.definition import Node

NOQA = re.compile(r"--\s*noqa\b(?:\s*:\s*(?P<ids>[\w\s,]+))?", re.IGNORECASE)


def lint_nodes(
    nodes: list[Node],
    all_nodes: dict[str, Node],
    dialect: str,
    section: Any = None,
    root: str | None = None,
    row_count: Callable[[Node], int | None] | None = None,
) -> LintReport:
    """Check ``nodes`` (models; others are ignored) with the `lint:` ``section`` of the project
    file; ``all_nodes`` gives their inputs' configs; ``row_count`` an input's rows when they are
    known without opening the warehouse."""
    from pathlib import Path

    import sqlglot
    from sqlglot.errors import SqlglotError

    from headwater.lint.rules import RULES

    config = read_lint_config(section)
    report = LintReport()
    for node in nodes:
        if node.resource_type != "model":
            continue
        if node.language != "sql" or node.compiled_sql is None or node.problem:
            report.skipped.append((node.unique_id, "not compiled SQL"))
            continue
        try:
            tree = sqlglot.parse_one(node.compiled_sql, read=dialect)
        except SqlglotError as exc:
            report.skipped.append((node.unique_id, f"sqlglot cannot parse it: {exc}"[:200]))
            continue
        raw = node.raw_sql
        if raw is None and root is not None and (Path(root) / node.path).is_file():
            raw = (Path(root) / node.path).read_text(encoding="utf-8")
        ctx = LintContext(
            node, all_nodes, dialect, config, node.compiled_sql, (raw or "").splitlines(),
            row_count,
        )  # fmt: skip
        off = disabled_rules(node, Location(node.path, node.line))
        off |= {rid for rid, sev in config.severities.items() if sev == "off"}
        report.checked += 1
        for rule in RULES:
            if rule.id in off:
                continue
            report.findings.extend(
                f for f in rule.check(node, tree, ctx) if not silenced(f, ctx.raw_lines)
            )
    report.findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return report


def silenced(finding: Finding, lines: list[str]) -> bool:
    """Does the finding's line carry ``-- noqa`` (all rules) or ``-- noqa: <its id>``?"""
    if not 0 < finding.line <= len(lines):
        return False
    match = NOQA.search(lines[finding.line - 1])
    if match is None:
        return False
    ids = match.group("ids")
    if not ids:
        return True
    return finding.rule.upper() in {i.strip().upper() for i in re.split(r"[\s,]+", ids) if i}
