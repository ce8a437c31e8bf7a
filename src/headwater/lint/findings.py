"""What a lint run returns: one `Finding` per rule violation and the `LintReport` of a selection
(typed, JSON-ready; `headwater.cli.render.lint` prints them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["warn", "error"]
SEVERITIES = ("warn", "error", "off")
"""What a rule may be set to in `lint: rules:` (`off` silences it)."""


@dataclass(frozen=True)
class Finding:
    """One violation of a rule in one model."""

    rule: str
    """The rule id, e.g. `HW101`."""
    name: str
    """The rule's name, e.g. `select_star_in_marts`."""
    severity: Severity
    node: str
    """The model's unique_id."""
    path: str
    """The model's file, relative to the project root."""
    line: int
    located: bool
    """True when ``line`` is where the offending text is in the file; False when it could not be
    found there (Jinja rewrote it) and ``line`` is the model's first line."""
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LintReport:
    """The findings of `Context.lint`, sorted by file and line."""

    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    """Models whose SQL was checked."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Models not checked, with why (not compiled, Python, SQL sqlglot cannot parse)."""

    @property
    def counts(self) -> dict[str, int]:
        """Findings per severity: ``{"error": n, "warn": m}``."""
        out = {"error": 0, "warn": 0}
        for f in self.findings:
            out[f.severity] += 1
        return out

    @property
    def exit_code(self) -> int:
        """1 if any finding is error-level, else 0."""
        return 1 if self.counts["error"] else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts,
            "checked": self.checked,
            "skipped": [{"node": n, "reason": r} for n, r in self.skipped],
            "exit_code": self.exit_code,
        }
