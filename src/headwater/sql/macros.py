"""Macros by package, and dbt's rules for finding them.

Three kinds of macro owners:

- the root project (`macros/`),
- installed packages (`dbt_packages/<name>/macros/`), each a namespace: `dbt_utils.star(...)`,
- headwater's built-ins, dbt's internal package: the cross-database macros
  (`headwater.sql.crossdb`), `generate_schema_name` and friends, `run_query`, ... (`dbt.<name>`).

An unqualified name inside a template resolves like dbt's macro namespace: the macros of the
package that owns the template, then the root project's, then the built-ins. `adapter.dispatch(
name, namespace)` tries `<prefix>__<name>` for each adapter prefix (`duckdb`, `default`) in each
package of the search order: the project's `dispatch:` entry for that namespace, else the
namespace itself; for the `dbt` namespace the root project comes first, so a project can
override any built-in by defining `duckdb__dateadd` or `default__dateadd`.

Macro files may hold `{% test name(...) %}` blocks (generic tests, read as the macro
`test_name`). Custom `{% materialization %}` blocks are recorded, not run: a model that uses one
gets an error naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TEST_OPEN = re.compile(r"\{%(-?)(\s*)test(\s+)([A-Za-z_][A-Za-z0-9_]*)(\s*)\(")
_TEST_CLOSE = re.compile(r"\{%(-?)(\s*)endtest(\s*)(-?)%\}")
_MATERIALIZATION = re.compile(
    r"\{%-?\s*materialization\s+([A-Za-z_][A-Za-z0-9_]*).*?%\}(.*?)\{%-?\s*endmaterialization\s*-?%\}",
    re.S,
)


@dataclass
class MacroFile:
    """One file of macros: the package that owns it, its project-relative path and text."""

    package: str
    path: str
    text: str


def preprocess(text: str) -> tuple[str, list[str]]:
    """Return ``text`` with `{% test x(...) %}` blocks as `{% macro test_x(...) %}` and custom
    materialization blocks blanked (lines kept, so error lines still match), and the names of
    those materializations."""
    out = _TEST_OPEN.sub(
        lambda m: (
            "{%"
            + m.group(1)
            + m.group(2)
            + "macro"
            + m.group(3)
            + "test_"
            + m.group(4)
            + m.group(5)
            + "("
        ),
        text,
    )
    out = _TEST_CLOSE.sub(
        lambda m: "{%" + m.group(1) + m.group(2) + "endmacro" + m.group(3) + m.group(4) + "%}", out
    )
    names: list[str] = []

    def blank(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return "\n" * match.group(0).count("\n")

    out = _MATERIALIZATION.sub(blank, out)
    return out, names


class MacroNamespace:
    """A package's macros as a template sees them: `dbt_utils.star(...)`."""

    def __init__(self, name: str, macros: dict[str, Any], missing: Any) -> None:
        self._name = name
        self._macros = macros
        self._missing = missing

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            # the sandbox never reads `_` attributes; it falls back to `namespace[name]` below, so
            # a package's private helpers (`dbt_utils._is_relation`) are reachable, and nothing else
            raise AttributeError(name)
        try:
            return self._macros[name]
        except KeyError:
            raise self._missing(self._name, name) from None

    def __getitem__(self, name: str) -> Any:
        try:
            return self._macros[name]
        except KeyError:
            raise self._missing(self._name, name) from None

    def __contains__(self, name: str) -> bool:
        return name in self._macros

    def get(self, name: str, default: Any = None) -> Any:
        return self._macros.get(name, default)

    def __repr__(self) -> str:
        return f"<macros of {self._name}>"


def search_order(
    namespace: str | None,
    dispatch_config: dict[str, list[str]],
    root: str,
    caller: str | None,
    packages: list[str] | None = None,
    installed: set[str] | None = None,
) -> list[str]:
    """Packages to search for a dispatched macro, in order (dbt's rules): the `dispatch:` entry
    for the namespace; else, for an installed package or `dbt`, the root project first (so a
    project overrides `dbt_utils` macros by defining `default__<name>`); else the namespace."""
    if packages:
        return [str(p) for p in packages]
    if namespace is None:
        order = [root]
        if caller and caller not in order:
            order.append(caller)
        return [*order, "dbt"]
    if namespace in dispatch_config:
        return list(dispatch_config[namespace])
    if namespace == "dbt" or namespace in (installed or set()):
        return [root, namespace]
    return [namespace]


__all__ = ["MacroFile", "MacroNamespace", "preprocess", "search_order"]
