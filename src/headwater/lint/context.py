"""What a rule sees besides the tree: `LintContext` (the model, its inputs, the lint config) and
how a finding's line is found in the model's file.

Line mapping: the compiled SQL is what sqlglot parses, but a finding names the model's *file*,
and Jinja changes line counts. A finding's line is, in order: the file line whose text equals the
compiled line of the offending expression (nearest to the compiled line number); else the first
(or last) file line whose code matches the rule's ``needle`` pattern (case-insensitive); else the model's first line, with
`Finding.located` false.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import TYPE_CHECKING, Any

from headwater.lint.findings import Finding, Severity

if TYPE_CHECKING:
    from sqlglot import exp

    from headwater.lint.rules import Rule
    from headwater.project.definition import Node

DEFAULT_MARTS_PATHS = ("marts/*", "*/marts/*")
"""Where `select_star_in_marts` looks by default: any model under a `marts` folder."""


@dataclass
class LintConfig:
    """`lint:` of headwater.yml, validated (`headwater.lint.config.read_lint_config`)."""

    severities: dict[str, str] = field(default_factory=dict)
    """Rule id -> `warn`, `error` or `off` (rules not named keep their default)."""
    marts_paths: tuple[str, ...] = DEFAULT_MARTS_PATHS
    """Glob patterns over model paths (relative to the project root) that count as marts."""
    large_rows: int = 1_000_000
    """HW106: an input with fewer rows than this (when its size is known without opening the
    warehouse: a lake table's metadata) is small enough to read whole."""


@dataclass
class LintContext:
    """One model being checked."""

    node: Node
    nodes: dict[str, Node]
    dialect: str
    config: LintConfig
    compiled: str = ""
    raw_lines: list[str] = field(default_factory=list)
    row_count: Callable[[Node], int | None] | None = None
    """The rows of an input when known without opening the warehouse (lake tables), else None."""

    def is_mart(self) -> bool:
        path = self.node.path.replace("\\", "/")
        return any(fnmatch(path, pattern) for pattern in self.config.marts_paths)

    def partitioned_inputs(self) -> dict[str, tuple[Node, list[str]]]:
        """The model's direct inputs with `partition_by`: relation identifier (lower case) ->
        (input, its partition columns in lower case)."""
        out: dict[str, tuple[Node, list[str]]] = {}
        for uid in self.node.depends_on:
            parent = self.nodes.get(uid)
            if parent is None or parent.relation is None:
                continue
            columns = partition_columns(parent.config.get("partition_by"))
            if not columns:
                continue
            rows = self.row_count(parent) if self.row_count is not None else None
            if rows is not None and rows < self.config.large_rows:
                continue  # small enough to read whole
            out[parent.relation.identifier.lower()] = (parent, columns)
        return out

    def finding(
        self,
        rule: Rule,
        expr: exp.Expression | None,
        message: str,
        needle: str | None = None,
        last: bool = False,
    ) -> Finding:
        """A finding of ``rule`` at ``expr`` (its line found as the module says; ``needle`` is a
        regular expression, its ``last`` match in the file is taken when asked)."""
        line, located = self.locate(expr, needle, last)
        return Finding(
            rule=rule.id,
            name=rule.name,
            severity=self.severity(rule),
            node=self.node.unique_id,
            path=self.node.path,
            line=line,
            located=located,
            message=message,
            hint=rule.hint,
        )

    def severity(self, rule: Rule) -> Severity:
        value = self.config.severities.get(rule.id, rule.severity)
        return "error" if value == "error" else "warn"

    def locate(
        self, expr: exp.Expression | None, needle: str | None, last: bool = False
    ) -> tuple[int, bool]:
        first = self.node.line or 1
        compiled_line = _compiled_line(expr) if expr is not None else None
        if compiled_line is not None:
            lines = self.compiled.splitlines()
            if 0 < compiled_line <= len(lines):
                text = lines[compiled_line - 1].strip()
                same = [i for i, raw in enumerate(self.raw_lines) if text and raw.strip() == text]
                if same:
                    best = min(same, key=lambda i: abs(i + 1 - compiled_line))
                    return best + 1, True
        if needle:
            pattern = re.compile(needle, re.IGNORECASE)
            hits = [i for i, raw in enumerate(self.raw_lines) if pattern.search(_code(raw))]
            if hits:
                return (hits[-1] if last else hits[0]) + 1, True
        return first, False


def _code(line: str) -> str:
    """A line without its `--` comment (a rough cut: good enough to find a needle)."""
    return line.split("--", 1)[0]


def _compiled_line(expr: exp.Expression) -> int | None:
    """The compiled-SQL line of the first token of ``expr`` that sqlglot kept a position for."""
    for sub in expr.walk():
        line = sub.meta.get("line") if sub.meta else None
        if isinstance(line, int):
            return line
    return None


def partition_columns(spec: Any) -> list[str]:
    """`partition_by` (`col`, `"a, b"`, a list, or `{field: col, ...}`) as lower-case names."""
    if not spec:
        return []
    if isinstance(spec, dict):
        return partition_columns(spec.get("field"))
    if isinstance(spec, list | tuple):
        return [c for s in spec for c in partition_columns(s)]
    return [p.strip().strip('"').lower() for p in str(spec).split(",") if p.strip()]
