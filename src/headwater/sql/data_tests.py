"""Rendering tests: the `{% test %}` macro a generic test names (`find_test_macro`), and a unit
test's model rendered with its `overrides` and read from its `given` fixtures
(`render_unit_model`, `with_fixtures`). Used at compile time and again at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from headwater.project.definition import Node
from headwater.sql.render import PLACEHOLDER_RE, RefCall, Rendered, Renderer


def render_unit_model(renderer: Renderer, model: Node, unit: Any) -> Rendered:
    """``model`` rendered with a unit test's `overrides` (vars, env vars, macros; `is_incremental`
    chooses the incremental variant), with placeholders for its refs and sources."""
    overrides = unit.overrides
    macros = dict(overrides.get("macros") or {})
    incremental = bool(macros.pop("is_incremental", False))
    with renderer.overridden(overrides.get("vars"), overrides.get("env_vars"), macros):
        return renderer.render(model, incremental=incremental)


def with_fixtures(
    sql: str, calls: list[RefCall], unit: Any, relation_of: Callable[[int], str]
) -> str:
    """Replace the placeholders of a rendered model: a call a `given` input names reads its
    fixture CTE, any other call ``relation_of(index)``."""

    def sub(match: re.Match[str]) -> str:
        i = int(match.group(1))
        call = calls[i]
        for fixture in unit.given:
            if fixture.matches(call.kind, call.args, call.version):
                return str(fixture.cte)
        return relation_of(i)

    return PLACEHOLDER_RE.sub(sub, sql)


def find_test_macro(renderer: Renderer, name: str, root: str) -> Callable[..., Any] | None:
    """The `{% test %}` macro a generic test names, or None for headwater's built-in checks.

    `pkg.name` looks in that package; a bare name in the root project, then the built-in checks,
    then (when exactly one package defines it) the packages. A project's own `test_<name>`
    overrides a built-in check, as in dbt.
    """
    from headwater.quality.checks import REGISTRY

    package, _, short = name.rpartition(".")
    macro_name = f"test_{short}"
    if package:
        own = renderer.macro(macro_name, package)
        if (
            short in REGISTRY
            and package in ("dbt_utils", "dbt", root)
            and renderer.macro(macro_name, root) is None
        ):
            return None  # headwater's built-in is the same check, scanned with the others
        return own
    own = renderer.macro(macro_name, root)
    if own is not None or short in REGISTRY:
        return own
    found = [
        scope[macro_name]
        for pkg, scope in renderer.scopes.items()
        if macro_name in scope and pkg != "dbt"
    ]
    return found[0] if len(found) == 1 else None
