"""The sandboxed Jinja environment node templates run in.

`Sandbox` is jinja2's `SandboxedEnvironment` with no module objects reachable, `Undefined` is
dbt's lenient undefined, and `ReturningMacro` (built by `CodeGenerator`) gives macros dbt's
`return(value)` (`return_`, raising `Return`). `syntax_error` turns a Jinja syntax error into a
`CompilationError` that points at the file and line.
"""

from __future__ import annotations

import types
from typing import Any

import jinja2  # noqa: TID253 - only imported where templates are rendered, as headwater.sql.render
import jinja2.compiler  # noqa: TID253
import jinja2.runtime  # noqa: TID253
import jinja2.sandbox  # noqa: TID253

from headwater.errors import CompilationError, Location, code_snippet


class Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def return_(value: Any) -> None:
    raise Return(value)


class ReturningMacro(jinja2.runtime.Macro):
    """A macro whose `return(value)` ends that macro with ``value`` (dbt's semantics), also when
    a macro of the same file calls it directly, without headwater's wrapper in between."""

    def _invoke(self, arguments: list[Any], autoescape: bool) -> Any:
        try:
            return super()._invoke(arguments, autoescape)
        except Return as ret:
            return ret.value


class CodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja's code generator, building macros with the environment's `macro_class`."""

    _in_macro_def = False

    def macro_def(self, macro_ref: Any, frame: Any) -> None:
        self._in_macro_def = True
        try:
            super().macro_def(macro_ref, frame)
        finally:
            self._in_macro_def = False

    def write(self, x: str) -> None:
        if self._in_macro_def:  # the `Macro(environment, ...)` call macro_def writes
            x = x.replace("Macro(environment,", "environment.macro_class(environment,", 1)
        super().write(x)


class Undefined(jinja2.Undefined):
    """dbt's undefined: renders empty, is false, and its attributes are undefined too; calling it
    (an undefined macro) is an error. A macro parameter that was not passed is one of these."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


class Sandbox(jinja2.sandbox.SandboxedEnvironment):
    """jinja2's sandbox, and no module objects: a module's globals (`re.enum.sys`) lead out."""

    code_generator_class = CodeGenerator
    macro_class = ReturningMacro

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # an error at once, even where undefined values are lenient: never a silent blank
        raise jinja2.exceptions.SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(value, types.ModuleType):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))


def syntax_error(
    exc: jinja2.TemplateSyntaxError, path: str, text: str, node: str | None
) -> CompilationError:
    return CompilationError(
        f"Jinja syntax error: {exc.message}",
        location=Location(path, exc.lineno),
        node=node,
        snippet=code_snippet(text, exc.lineno) if exc.lineno else None,
        hint="check that every {{ }}, {% %} and {% macro %}/{% endmacro %} is closed",
    )
