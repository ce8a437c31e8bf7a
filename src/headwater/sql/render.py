"""The Jinja context of a model: ref, source, config, var, env_var, this, is_incremental, macros.

Templates run in jinja2's `SandboxedEnvironment` (as dbt's do): no attribute starting with `_`, no
Python internals. `modules` offers the functions and types of `datetime`, `re` and `itertools`,
never the modules themselves, and no attribute may return a module: `modules.re.enum.sys` is an
error, not a way to `sys.modules['os']`. Objects handed to templates keep their plumbing in
`_`-prefixed attributes, so a template cannot reach the renderer or the parse cache.

Rendering happens once per node. `ref()`, `source()` and `this` return placeholders that the
compiler replaces with relation names once every node's config (schema, alias, materialization)
is known, so configs set with `{{ config() }}` anywhere in any model are honoured.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import types
from dataclasses import dataclass, field
from typing import Any

import jinja2
import jinja2.ext
import jinja2.sandbox

from headwater import secrets
from headwater.errors import CompilationError, ConfigError, Location, code_snippet, did_you_mean
from headwater.project.definition import Node, Target
from headwater.sql.parse import ParseCache

PLACEHOLDER = "__HW_REL_{}__"
PLACEHOLDER_RE = re.compile(r"__HW_REL_(\d+)__")


@dataclass
class RefCall:
    kind: str  # "ref" | "source" | "this"
    args: tuple[str, ...]


class RelationProxy(str):
    """What `ref()` returns: renders as a placeholder; `.identifier`/`.schema` give best-known names."""

    identifier: str
    schema: str
    name: str
    database: str | None = None

    def __new__(cls, text: str, schema: str, identifier: str) -> RelationProxy:
        obj = super().__new__(cls, text)
        obj.schema = schema
        obj.identifier = identifier
        obj.name = identifier
        return obj

    def render(self) -> str:
        return str(self)


@dataclass
class Rendered:
    sql: str
    config: dict[str, Any] = field(default_factory=dict)
    calls: list[RefCall] = field(default_factory=list)
    env_vars: dict[str, str | None] = field(default_factory=dict)


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _TargetInfo:
    def __init__(self, target: Target, profile: str) -> None:
        self.name = target.name
        self.schema = target.schema
        self.type = target.engine
        self.threads = target.threads
        self.path = target.path
        self.database = "main" if target.engine == "duckdb" else None
        self.profile_name = profile

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class Renderer:
    """Renders node SQL with the project's macros and vars."""

    def __init__(
        self,
        project_name: str,
        target: Target,
        vars: dict[str, Any],
        macros: dict[str, str],
        relation_names: dict[str, tuple[str, str]] | None = None,
        code_cache: ParseCache | None = None,
    ) -> None:
        self.project_name = project_name
        self.target = target
        self.vars = vars
        self.relation_names = relation_names or {}
        self.code_cache = code_cache
        self.env = _Sandbox(
            undefined=jinja2.StrictUndefined,
            extensions=[jinja2.ext.do, jinja2.ext.loopcontrols],
            keep_trailing_newline=True,
        )
        self._state: Rendered | None = None
        self._node: Node | None = None
        self._incremental = False
        self.globals = self._globals()
        self.env.globals.update(self.globals)
        self._load_macros(macros)

    # -- context functions -------------------------------------------------------------------
    def _globals(self) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC)
        return {
            "ref": self._ref,
            "source": self._source,
            "config": _ConfigCall(self),
            "var": self._var,
            "env_var": self._env_var,
            "is_incremental": lambda: self._incremental,
            "target": _TargetInfo(self.target, self.project_name),
            "project_name": self.project_name,
            "run_started_at": now,
            "modules": _Modules(),
            "log": lambda msg, info=False: "",
            "return": _return,
            "exceptions": _Exceptions(self),
            "zip": zip,
            "tojson": __import__("json").dumps,
            "fromjson": __import__("json").loads,
        }

    def _ref(self, *args: str, **kwargs: Any) -> RelationProxy:
        if not args or len(args) > 2:
            raise self._error(f"ref() takes a model name (and optionally a package), got {args!r}")
        return self._call(RefCall("ref", tuple(str(a) for a in args)), str(args[-1]))

    def _source(self, source_name: str, table_name: str) -> RelationProxy:
        return self._call(RefCall("source", (str(source_name), str(table_name))), f"{source_name}.{table_name}")

    def _call(self, call: RefCall, key: str) -> RelationProxy:
        assert self._state is not None
        self._state.calls.append(call)
        schema, ident = self.relation_names.get(key, (self.target.schema, call.args[-1]))
        return RelationProxy(PLACEHOLDER.format(len(self._state.calls) - 1), schema, ident)

    def _var(self, name: str, default: Any = _Return) -> Any:
        if name in self.vars:
            return self.vars[name]
        if default is not _Return:
            return default
        raise self._error(
            f"var `{name}` is not defined{did_you_mean(name, self.vars)}",
            hint=f"add `{name}` under `vars:` in headwater.yml, pass --vars '{{{name}: ...}}', "
            f"or give a default: var('{name}', 'value')",
        )

    def _env_var(self, name: str, default: Any = _Return) -> Any:
        value = os.environ.get(name)
        if name.startswith(secrets.SECRET_ENV_PREFIXES):
            secrets.register(value)
        assert self._state is not None
        self._state.env_vars[name] = value
        if value is not None:
            return value
        if default is not _Return:
            return default
        raise self._error(
            f"environment variable `{name}` is not set",
            hint=f"export {name}=... or give a default: env_var('{name}', 'value')",
        )

    def _error(self, message: str, hint: str | None = None) -> CompilationError:
        node = self._node
        return CompilationError(
            message,
            location=Location(node.path) if node else None,
            node=node.name if node else None,
            hint=hint,
        )

    # -- macros ---------------------------------------------------------------------------
    def _load_macros(self, macros: dict[str, str]) -> None:
        for path, text in sorted(macros.items()):
            try:
                template = self._template(text)
                module = template.make_module(vars={})
            except jinja2.TemplateSyntaxError as exc:
                raise _syntax_error(exc, path, text, None) from None
            except jinja2.TemplateError as exc:
                raise CompilationError(f"macro file failed to load: {exc}", location=Location(path)) from None
            for name in dir(module):
                value = getattr(module, name)
                if isinstance(value, jinja2.runtime.Macro):
                    self.env.globals[name] = _wrap_macro(value)

    def _template(self, source: str) -> jinja2.Template:
        """`env.from_string`, reusing the code object compiled for the same source last time.

        Compiling a template to Python is most of a cold load's Jinja time; a changed project
        usually changes one file, so the other templates come from the cache.
        """
        cache = self.code_cache
        if cache is None:
            return self.env.from_string(source)
        import marshal

        key = hashlib.blake2b(f"{jinja2.__version__}\0{source}".encode(), digest_size=12).hexdigest()
        data = cache.templates.get(key)
        code = None
        if data is not None:
            try:
                code = marshal.loads(data)
            except (ValueError, EOFError, TypeError):
                code = None
        if code is None:
            code = self.env.compile(source)
            data = marshal.dumps(code)
        cache.used_templates[key] = data
        return self.env.template_class.from_code(self.env, code, self.env.make_globals(None), None)

    # -- rendering --------------------------------------------------------------------------
    def render(self, node: Node, this_key: str | None = None, incremental: bool = False) -> Rendered:
        """Render ``node.raw_sql``; raises `CompilationError` naming the node and line.

        ``incremental`` is what `is_incremental()` returns: incremental models are rendered twice,
        and the runner picks the variant when it knows whether the table exists.
        """
        state = Rendered(sql="")
        self._state, self._node, self._incremental = state, node, incremental
        try:
            template = self._template(node.raw_sql or "")
            this = self._call(RefCall("this", (node.unique_id,)), this_key or node.name)
            state.sql = template.render(this=this)
        except jinja2.TemplateSyntaxError as exc:
            raise _syntax_error(exc, node.path, node.raw_sql or "", node.name) from None
        except (CompilationError, ConfigError):
            raise
        except jinja2.UndefinedError as exc:
            raise CompilationError(
                f"{exc.message}",
                location=Location(node.path, _template_line(exc)),
                node=node.name,
                hint="check the spelling; macros live in macros/*.sql, vars under `vars:`",
            ) from None
        except Exception as exc:
            raise CompilationError(
                f"rendering failed: {type(exc).__name__}: {exc}",
                location=Location(node.path, _template_line(exc)),
                node=node.name,
            ) from None
        finally:
            self._state, self._node, self._incremental = None, None, False
        return state


class _Sandbox(jinja2.sandbox.SandboxedEnvironment):
    """jinja2's sandbox, and no module objects: a module's globals (`re.enum.sys`) lead out."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(value, types.ModuleType):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))


class _ConfigCall:
    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        state = self._renderer._state
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
        if state is not None:
            state.config.update(kwargs)
        return ""

    def get(self, key: str, default: Any = None) -> Any:
        node, state = self._renderer._node, self._renderer._state
        if state is not None and key in state.config:
            return state.config[key]
        return node.config.get(key, default) if node else default


def _public(module: types.ModuleType) -> types.SimpleNamespace:
    """The public functions, types and constants of ``module``, without the module itself."""
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    return types.SimpleNamespace(
        **{n: getattr(module, n) for n in names if not isinstance(getattr(module, n, None), types.ModuleType)}
    )


class _Modules:
    """dbt's `modules`: `modules.datetime.date(2026, 1, 1)`, `modules.re.sub(...)`,
    `modules.itertools.chain(...)` — namespaces of each module's public names."""

    def __init__(self) -> None:
        import itertools

        self.datetime = _public(datetime)
        self.re = _public(re)
        self.itertools = _public(itertools)


class _Exceptions:
    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def raise_compiler_error(self, message: str) -> None:
        raise self._renderer._error(str(message))

    def warn(self, message: str) -> str:
        return ""


def _return(value: Any) -> None:
    raise _Return(value)


def _wrap_macro(macro: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return macro(*args, **kwargs)
        except _Return as ret:
            return ret.value

    call.__name__ = macro.name
    return call


def _template_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _syntax_error(exc: jinja2.TemplateSyntaxError, path: str, text: str, node: str | None) -> CompilationError:
    return CompilationError(
        f"Jinja syntax error: {exc.message}",
        location=Location(path, exc.lineno),
        node=node,
        snippet=code_snippet(text, exc.lineno) if exc.lineno else None,
        hint="check that every {{ }}, {% %} and {% macro %}/{% endmacro %} is closed",
    )
