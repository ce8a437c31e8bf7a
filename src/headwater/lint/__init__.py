"""Query lint: static checks of models' compiled SQL with sqlglot (`headwater lint`,
`build --lint`, `Context.lint`).

Rules are classes in `headwater.lint.rules` (`RULES`); `lint_nodes` runs them over models and
applies the configuration (`headwater.lint.config`) and inline silencing: a SQL comment
``-- noqa`` on the offending line silences every rule there, ``-- noqa: HW101, HW104`` the rules
named (ruff's and sqlfluff's convention). A finding that cannot be located in the file (Jinja
rewrote the text) is on the model's first line, so ``-- noqa`` there silences it.

It is its own package, not part of `headwater.quality`: quality checks run against data in the
warehouse, after a build; lint reads SQL text only, before anything runs, and needs no warehouse.
"""

from __future__ import annotations

from headwater.lint.findings import Finding, LintReport
from headwater.lint.run import lint_nodes

__all__ = ["Finding", "LintReport", "lint_nodes"]
