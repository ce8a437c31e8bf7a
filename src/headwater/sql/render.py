"""The Jinja context of a node: dbt's, with headwater's sandbox.

What a template sees: `ref`, `source`, `config`, `var`, `env_var`, `this`, `is_incremental`,
`target`, `execute`, `run_query`, `statement`/`load_result`, `adapter`, `api`, `model`, `graph`,
`flags`, `builtins`, `invocation_id`, `run_started_at`, `modules` (datetime, re, itertools,
pytz), `fromjson`/`tojson`/`fromyaml`/`toyaml`, `set`, `zip`, `local_md5`, `print`, `log`,
`return`, `exceptions`, the macros of the project and its packages (`headwater.sql.macros`), and
dbt's built-in macros (`dbt.<name>`, `headwater.sql.builtins`).

Templates run in jinja2's `SandboxedEnvironment` (as dbt's do): no attribute starting with `_`, no
Python internals. `modules` offers the functions and types of its modules, never the modules
themselves, and no attribute may return a module: `modules.re.enum.sys` is an error, not a way
to `sys.modules['os']`. Objects handed to templates keep their plumbing in `_`-prefixed
attributes, so a template cannot reach the renderer or the parse cache.

Rendering happens once per node at load. `ref()`, `source()` and `this` return relations whose
text is a placeholder the compiler replaces once every node's config (schema, alias) is known.
A node whose template reads the warehouse (`execute`, `run_query`, `adapter.get_relation`, ...)
is marked `introspective`; the runner renders it again when it runs (`runtime=` here), with real
relation names and a live engine.

The objects templates see (`target`, `config`, `model`, `graph`, ...) live in
`headwater.sql.context`; the sandboxed environment and dbt's `return()` in `headwater.sql.jinja_env`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import sys
import types
import uuid
from collections import ChainMap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.ext
import jinja2.runtime

from headwater import secrets
from headwater.errors import (
    CompilationError,
    HeadwaterError,
    Location,
    did_you_mean,
)
from headwater.project.definition import Node, Relation, Target
from headwater.sql.adapter import Adapter, Warehouse
from headwater.sql.context import (
    HOOK_KEYS,
    ConfigCall,
    Exceptions,
    Flag,
    Flags,
    GraphView,
    Modules,
    NodeView,
    TargetInfo,
    VarCall,
    fromyaml,
    hook_list,
    json_or,
    node_dict,
    set_,
    split_vars,
    target_database,
    toyaml,
    zip_,
)
from headwater.sql.jinja_env import Return, Sandbox, Undefined, return_, syntax_error
from headwater.sql.macros import MacroFile, MacroNamespace, preprocess, search_order
from headwater.sql.parse import ParseCache
from headwater.sql.relations import Api, DbtRelation

if TYPE_CHECKING:
    from headwater.engines.base import Engine

PLACEHOLDER = "__HW_REL_{}__"
PLACEHOLDER_RE = re.compile(r"__HW_REL_(\d+)__")


@dataclass
class RefCall:
    kind: str  # "ref" | "source" | "this"
    args: tuple[str, ...]
    version: str | None = None
    """`v=` / `version=`: a versioned model's version, or (for a lake table that is not a
    versioned model) the table's version to read."""
    as_of: str | None = None
    """`as_of=`: read a lake table as it was at that date or time."""


@dataclass
class Rendered:
    sql: str
    config: dict[str, Any] = field(default_factory=dict)
    calls: list[RefCall] = field(default_factory=list)
    env_vars: dict[str, str | None] = field(default_factory=dict)
    introspective: list[str] = field(default_factory=list)
    """What made the template read the warehouse (`execute`, `run_query`, ...), if anything."""
    hooks: dict[str, list[str]] = field(default_factory=dict)


class Renderer:
    """Renders node SQL with the project's and its packages' macros and vars."""

    def __init__(
        self,
        project_name: str,
        target: Target,
        vars: dict[str, Any],
        macros: list[MacroFile] | dict[str, str],
        relation_names: dict[str, tuple[str, str]] | None = None,
        code_cache: ParseCache | None = None,
        *,
        packages: dict[str, dict[str, Any]] | None = None,
        dispatch: dict[str, list[str]] | None = None,
        cli_vars: dict[str, Any] | None = None,
        engine: Engine | None = None,
        resolve: Callable[[RefCall, Node], Relation | None] | None = None,
        graph_nodes: dict[str, Node] | None = None,
        full_refresh: bool = False,
        command: str = "run",
    ) -> None:
        self.project_name = project_name
        self.target = target
        self.adapter_type = target.engine
        self.relation_names = relation_names or {}
        self.code_cache = code_cache
        self.packages = dict(packages or {})
        """Installed package name -> its own project vars."""
        self.dispatch_config = dict(dispatch or {})
        self.cli_vars = dict(cli_vars or {})
        self._global_vars, self._scoped_vars = split_vars(vars, {project_name, *self.packages})
        self.vars = {**self._global_vars, **self.cli_vars}
        self.engine = engine
        self._resolve = resolve
        self._graph_nodes = graph_nodes or {}
        self.env = Sandbox(
            undefined=Undefined,
            extensions=[jinja2.ext.do, jinja2.ext.loopcontrols],
            keep_trailing_newline=True,
        )
        self._state: Rendered | None = None
        self._node: Node | None = None
        self._incremental = False
        self._macro_stack: list[str] = []
        self._results: dict[str, Any] = {}
        self.materializations: set[str] = set()
        self.warehouse = Warehouse(engine, self._introspects)
        self.scopes: dict[str, dict[str, Any]] = {
            project_name: {},
            **{p: {} for p in self.packages},
            "dbt": {},
        }
        self.macro_files: set[str] = set()
        """Paths of the macro files (template file names), to place errors raised inside them."""
        self.declared_packages: set[str] = set()
        """Packages the project declares (packages.yml), installed or not: for error hints."""
        self.full_refresh = full_refresh
        self.globals = self._globals(command)
        self.env.globals.update(self.globals)
        from headwater.sql.builtins import builtin_macros

        self.scopes["dbt"].update(builtin_macros(self))
        self.env.globals["dbt"] = MacroNamespace("dbt", self.scopes["dbt"], self._missing_macro)
        for name in self.packages:
            self.env.globals[name] = MacroNamespace(name, self.scopes[name], self._missing_macro)
        self.env.globals[project_name] = MacroNamespace(
            project_name, self.scopes[project_name], self._missing_macro
        )
        files = (
            macros
            if isinstance(macros, list)
            else [MacroFile(project_name, p, t) for p, t in macros.items()]
        )
        self.problems: list[HeadwaterError] = []
        self._load_macros(files)

    # -- context --------------------------------------------------------------------------------
    def _globals(self, command: str) -> dict[str, Any]:
        import json

        now = datetime.datetime.now(datetime.UTC)
        return {
            "ref": self._ref,
            "source": self._source,
            "config": ConfigCall(self),
            "var": VarCall(self),
            "env_var": self._env_var,
            "is_incremental": lambda: self._incremental,
            "should_full_refresh": lambda: self.full_refresh,
            "target": TargetInfo(self.target, self.project_name),
            "project_name": self.project_name,
            "run_started_at": now,
            "invocation_id": str(uuid.uuid4()),
            "execute": Flag(self.engine is not None, self._introspects),
            "flags": Flags(self.full_refresh, command),
            "modules": Modules(),
            "api": Api,
            "adapter": Adapter(
                self.adapter_type,
                self.warehouse,
                self._dispatch,
                target_database(self.target),
                self._unsupported,
            ),
            "run_query": self._run_query,
            "statement": self._statement,
            "load_result": self._load_result,
            "store_result": self._store_result,
            "store_raw_result": self._store_result,
            "log": self._log,
            "print": self._print,
            "return": return_,
            "exceptions": Exceptions(self),
            "zip": zip_,
            "zip_strict": lambda *a: list(zip(*a, strict=True)),
            "set": set_,
            "set_strict": set,
            "tojson": lambda value, default=None, sort_keys=False: json_or(
                lambda: json.dumps(value, sort_keys=sort_keys), default
            ),
            "fromjson": lambda text, default=None: json_or(lambda: json.loads(text), default),
            "toyaml": toyaml,
            "fromyaml": fromyaml,
            "local_md5": lambda text: hashlib.md5(str(text).encode()).hexdigest(),
            "diff_of_two_dicts": lambda a, b: {
                k: v for k, v in a.items() if k not in b or b[k] != v
            },
            "model": NodeView(self, None),
            "graph": GraphView(self),
            "builtins": types.SimpleNamespace(
                ref=self._ref, source=self._source, config=ConfigCall(self)
            ),
            "context": {},
            "database": target_database(self.target),
            "schema": self.target.schema,
        }

    def _introspects(self, what: str) -> None:
        if self._state is not None and what not in self._state.introspective:
            self._state.introspective.append(what)

    def _ref(self, *args: str, **kwargs: Any) -> DbtRelation:
        version = kwargs.pop("version", kwargs.pop("v", None))
        as_of = kwargs.pop("as_of", None)
        if kwargs or not args or len(args) > 2:
            raise self._error(
                f"ref() takes a model name (and optionally a package, v= and as_of=), got {args!r} {kwargs!r}"
            )
        call = RefCall(
            "ref",
            tuple(str(a) for a in args),
            None if version is None else str(version),
            None if as_of is None else str(as_of),
        )
        return self._call(call, str(args[-1]))

    def _source(self, source_name: str, table_name: str) -> DbtRelation:
        return self._call(
            RefCall("source", (str(source_name), str(table_name))), f"{source_name}.{table_name}"
        )

    def _call(self, call: RefCall, key: str) -> DbtRelation:
        assert self._state is not None
        database = target_database(self.target)
        if self._resolve is not None and self._node is not None:
            relation = self._resolve(call, self._node)
            if relation is not None:
                kind = "cte" if relation.schema == "" else None
                return DbtRelation(database, relation.schema, relation.identifier, kind, adapter_type=self.adapter_type,
                                   text=relation.identifier if kind == "cte" else None)  # fmt: skip
        self._state.calls.append(call)
        schema, ident = self.relation_names.get(key, (self.target.schema, call.args[-1]))
        text = PLACEHOLDER.format(len(self._state.calls) - 1)
        return DbtRelation(database, schema, ident, text=text, adapter_type=self.adapter_type)

    def _var(self, name: str, default: Any = Return) -> Any:
        scope = self._node.package if self._node is not None else self.project_name
        if name in self.cli_vars:
            return self.cli_vars[name]
        scoped = self._scoped_vars.get(scope, {})
        if name in scoped:
            return scoped[name]
        if name in self._global_vars:
            return self._global_vars[name]
        own = self.packages.get(scope) or {}
        if name in own:
            return own[name]
        if default is not Return:
            return default
        raise self._error(
            f"var `{name}` is not defined{did_you_mean(name, self.vars)}",
            hint=f"add `{name}` under `vars:` in the project file, pass --vars '{{{name}: ...}}', "
            f"or give a default: var('{name}', 'value')",
        )

    def _has_var(self, name: str) -> bool:
        try:
            self._var(name)
        except CompilationError:
            return False
        return True

    def _env_var(self, name: str, default: Any = Return) -> Any:
        value = os.environ.get(name)
        if name.startswith(secrets.SECRET_ENV_PREFIXES):
            secrets.register(value)
        if self._state is not None:
            self._state.env_vars[name] = value
        if value is not None:
            return value
        if default is not Return:
            return default
        raise self._error(
            f"environment variable `{name}` is not set",
            hint=f"export {name}=... or give a default: env_var('{name}', 'value')",
        )

    # -- warehouse ------------------------------------------------------------------------------
    def _run_query(self, sql: Any) -> Any:
        return self.warehouse.query(str(sql), "run_query")

    def _statement(self, name: str | None = None, fetch_result: bool = False, auto_begin: bool = True,
                   language: str = "sql", caller: Any = None) -> str:  # fmt: skip
        sql = str(caller()) if caller is not None else ""
        if language != "sql":
            raise self._unsupported(f"`statement(language='{language}')`")
        table = None
        if fetch_result:
            table = self.warehouse.query(sql, "statement")
        else:
            self.warehouse.execute(sql, "statement")
        if name is not None and self.warehouse.live:
            self._store_result(name, response="OK", agate_table=table)
        return ""

    def _store_result(self, name: str, response: Any = None, agate_table: Any = None) -> str:
        self._results[str(name)] = {
            "response": response,
            "data": [tuple(r) for r in agate_table.rows] if agate_table is not None else [],
            "table": agate_table,
        }
        return ""

    def _load_result(self, name: str) -> Any:
        return self._results.get(str(name))

    def _log(self, msg: Any, info: bool = False) -> str:
        if info and self.engine is not None:
            print(secrets.mask(str(msg)), file=sys.stderr)
        return ""

    def _print(self, *args: Any) -> str:
        if self.engine is not None or self._node is None:
            print(secrets.mask(" ".join(str(a) for a in args)), file=sys.stderr)
        return ""

    # -- errors ---------------------------------------------------------------------------------
    def _error(self, message: str, hint: str | None = None) -> CompilationError:
        node = self._node
        return CompilationError(
            message,
            location=Location(node.path) if node else None,
            node=node.name if node else None,
            hint=hint,
        )

    def _unsupported(self, what: str) -> CompilationError:
        text = what if "not supported" in what else f"{what} is not supported by headwater"
        return self._error(text, hint="see the dbt compatibility table in headwater's README")

    def _missing_macro(self, package: str, name: str) -> CompilationError:
        known = list(self.scopes.get(package, {}))
        if package not in self.scopes:
            return self._error(f"`{package}` is not an installed package")
        return self._error(
            f"package `{package}` has no macro `{name}`" + did_you_mean(name, known),
            hint=f"check the macro name, or the version of `{package}` installed in dbt_packages/ (`headwater deps`)",
        )

    # -- macros ---------------------------------------------------------------------------------
    def _scope_for(self, package: str) -> ChainMap[str, Any]:
        root, builtins = self.scopes[self.project_name], self.scopes["dbt"]
        if package == self.project_name:
            return ChainMap(root, builtins)
        if package == "dbt":
            return ChainMap(root, builtins)
        return ChainMap(self.scopes.setdefault(package, {}), root, builtins)

    def _load_macros(self, files: list[MacroFile]) -> None:
        for file in sorted(
            files, key=lambda f: (f.package != "dbt", f.package != self.project_name, f.path)
        ):
            self.macro_files.add(file.path)
            text, materializations = preprocess(file.text)
            self.materializations.update(materializations)
            try:
                template = self._template(text, file.path, self._scope_for(file.package))
                context = template.new_context(vars={})
                for _ in template.root_render_func(context):
                    pass  # defines the file's macros in `context.vars`, `_private` ones included
            except jinja2.TemplateSyntaxError as exc:
                self.problems.append(syntax_error(exc, file.path, file.text, None))
                continue
            except HeadwaterError as exc:
                self.problems.append(exc)
                continue
            except Exception as exc:
                self.problems.append(
                    CompilationError(
                        f"macro file failed to load: {exc}", location=Location(file.path)
                    )
                )
                continue
            scope = self.scopes.setdefault(file.package, {})
            for name, value in context.vars.items():
                if isinstance(value, jinja2.runtime.Macro):
                    scope[name] = self._wrap_macro(value, file.package)

    def _wrap_macro(self, macro: Any, package: str) -> Callable[..., Any]:
        stack = self._macro_stack

        def call(*args: Any, **kwargs: Any) -> Any:
            stack.append(package)
            try:
                return macro(*args, **kwargs)
            except Return as ret:
                return ret.value
            finally:
                stack.pop()

        call.__name__ = macro.name
        return call

    @contextlib.contextmanager
    def overridden(
        self, vars: dict[str, Any] | None = None, env_vars: dict[str, Any] | None = None,
        macros: dict[str, Any] | None = None,
    ) -> Iterator[None]:  # fmt: skip
        """A unit test's `overrides`: vars (above every other), env vars, and macros that return
        a fixed value (`is_incremental` is the incremental flag of `render`)."""
        saved_vars = self.cli_vars
        self.cli_vars = {**self.cli_vars, **(vars or {})}
        saved_env = {k: os.environ.get(k) for k in env_vars or {}}
        os.environ.update({k: str(v) for k, v in (env_vars or {}).items()})
        saved_macros: list[tuple[dict[str, Any], str, Any]] = []
        for name, value in (macros or {}).items():
            for scope in (self.scopes[self.project_name], self.scopes["dbt"], self.env.globals):
                saved_macros.append((scope, name, scope.get(name, Return)))
                scope[name] = lambda *a, _value=value, **k: _value
        try:
            yield
        finally:
            self.cli_vars = saved_vars
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            for scope, name, old in reversed(saved_macros):
                if old is Return:
                    scope.pop(name, None)
                else:
                    scope[name] = old

    def macro(self, name: str, package: str | None = None) -> Callable[..., Any] | None:
        """The macro ``name`` as the root project sees it (its own, then built-in), or in ``package``."""
        if package is not None:
            return self.scopes.get(package, {}).get(name)
        return self.scopes[self.project_name].get(name) or self.scopes["dbt"].get(name)

    def _dispatch(
        self, macro_name: str, macro_namespace: str | None = None, packages: list[str] | None = None
    ) -> Any:
        caller = self._macro_stack[-1] if self._macro_stack else None
        order = search_order(
            macro_namespace,
            self.dispatch_config,
            self.project_name,
            caller,
            packages,
            set(self.packages),
        )
        from headwater.sql.crossdb import adapter_prefixes

        prefixes = adapter_prefixes(self.adapter_type)
        tried = []
        for package in order:
            scope = self.scopes.get(package)
            for prefix in prefixes:
                name = f"{prefix}__{macro_name}"
                tried.append(f"{package}.{name}")
                if scope is not None and name in scope:
                    return scope[name]
        raise self._error(
            f"adapter.dispatch('{macro_name}'"
            + (f", '{macro_namespace}'" if macro_namespace else "")
            + f") found no macro; searched {', '.join(tried)}",
            hint="define one of these macros, install the package (`headwater deps`), or fix `dispatch:` "
            "in the project file",
        )

    def _template(
        self, source: str, name: str = "<template>", scope: Any = None
    ) -> jinja2.Template:
        """`env.from_string`, reusing the code object compiled for the same source last time.

        Compiling a template to Python is most of a cold load's Jinja time; a changed project
        usually changes one file, so the other templates come from the cache. ``name`` becomes
        the code's file name, so an error inside a macro points at the macro's file and line.
        """
        import marshal

        globals_ = self.env.make_globals(scope)
        cache = self.code_cache
        code: types.CodeType | None = None
        if cache is None:
            code = self.env.compile(source, name=name, filename=name)
            return self.env.template_class.from_code(self.env, code, globals_, None)
        key = hashlib.blake2b(
            f"{jinja2.__version__}\0hw2\0{name}\0{source}".encode(), digest_size=12
        ).hexdigest()
        data = cache.templates.get(key)
        if data is not None:
            try:
                code = marshal.loads(data)
            except (ValueError, EOFError, TypeError):
                code = None
        if code is None or data is None:  # (no cached data means no code)
            code = self.env.compile(source, name=name, filename=name)
            data = marshal.dumps(code)
        cache.used_templates[key] = data
        return self.env.template_class.from_code(self.env, code, globals_, None)

    def render_string(
        self, text: str, node: Node | None = None, name: str = "<string>", **context: Any
    ) -> str:
        """Render a snippet (a project hook, a config value) in ``node``'s context, or the
        project's; errors name ``name`` (`dbt_project.yml:on-run-end[0]`)."""
        state = Rendered(sql="")
        saved = self._state, self._node
        self._state, self._node = state, node
        try:
            template = self._template(
                text, name, self._scope_for(node.package if node else self.project_name)
            )
            if node is not None:
                context["this"] = self._this(node)
            return str(template.render(**context))
        except HeadwaterError as exc:
            if exc.location is None:
                exc.location = Location(name.split(":", 1)[0])
            raise
        except jinja2.TemplateError as exc:
            raise CompilationError(
                f"{name}: {exc}", location=Location(name.split(":", 1)[0])
            ) from None
        finally:
            self._state, self._node = saved

    def _this(self, node: Node) -> DbtRelation:
        if self._resolve is not None:
            relation = self._resolve(RefCall("this", (node.unique_id,)), node)
            if relation is not None:
                return DbtRelation(target_database(self.target), relation.schema, relation.identifier,
                                   adapter_type=self.adapter_type)  # fmt: skip
        key = node.name if node.resource_type != "source" else f"{node.source_name}.{node.name}"
        return self._call(RefCall("this", (node.unique_id,)), key)

    # -- rendering ------------------------------------------------------------------------------
    def render(
        self, node: Node, this_key: str | None = None, incremental: bool = False
    ) -> Rendered:
        """Render ``node.raw_sql`` and its hooks; raises `CompilationError` naming the node and the
        file and line where the template failed (a macro's, when it failed in a macro).

        ``incremental`` is what `is_incremental()` returns: incremental models are rendered twice,
        and the runner picks the variant when it knows whether the table exists.
        """
        state = Rendered(sql="")
        self._state, self._node, self._incremental = state, node, incremental
        self._macro_stack.clear()
        self._results = {}  # `load_result` sees this node's statements only
        try:
            template = self._template(node.raw_sql or "", node.path, self._scope_for(node.package))
            this = (
                self._this(node)
                if this_key is None
                else self._call(RefCall("this", (node.unique_id,)), this_key)
            )
            state.sql = template.render(this=this, model=NodeView(self, node))
            if not incremental:
                state.hooks = self._render_hooks(node, state, this)
        except jinja2.TemplateSyntaxError as exc:
            raise syntax_error(
                exc, exc.filename or node.path, node.raw_sql or "", node.name
            ) from None
        except HeadwaterError as exc:
            raise self._located(exc, node) from None
        except jinja2.UndefinedError as exc:
            path, line = self._where(exc, node)
            raise CompilationError(
                f"{exc.message}",
                location=Location(path, line),
                node=node.name,
                hint=self._undefined_hint(exc.message or ""),
            ) from None
        except Exception as exc:
            raise self._failure(exc, node, "rendering failed") from None
        finally:
            self._state, self._node, self._incremental = None, None, False
        return state

    def call_macro(self, node: Node, macro: Callable[..., Any], *args: Any) -> Any:
        """Call ``macro`` (e.g. the project's `generate_schema_name`) with ``node`` as the node
        being rendered; its errors name the macro's file and line."""
        state = Rendered(sql="")
        self._state, self._node = state, node
        try:
            return macro(*args, NodeView(self, node))
        except HeadwaterError as exc:
            raise self._located(exc, node) from None
        except Exception as exc:
            raise self._failure(
                exc, node, f"{getattr(macro, '__name__', 'macro')} failed"
            ) from None
        finally:
            self._state, self._node = None, None

    def render_test(
        self,
        node: Node,
        target: Node,
        macro: Callable[..., Any],
        kwargs: dict[str, Any],
        column: str | None,
    ) -> Rendered:
        """Render a generic test from its `{% test %}` macro: ``model`` is the tested relation
        (filtered by the test's `where`), ``column_name`` its column; string arguments holding
        Jinja or a `ref()`/`source()` call are rendered first, as dbt does."""
        state = Rendered(sql="")
        self._state, self._node = state, node
        self._macro_stack.clear()
        try:
            key = (
                target.name
                if target.resource_type != "source"
                else f"{target.source_name}.{target.name}"
            )
            kind = "source" if target.resource_type == "source" else "ref"
            args = (target.source_name or "", target.name) if kind == "source" else (target.name,)
            model = self._call(RefCall(kind, tuple(args), target.version), key)
            values = {k: self._test_argument(v, node) for k, v in kwargs.items()}
            values["model"] = self._dispatch("get_where_subquery", "dbt")(model)
            if column is not None and "column_name" not in values:
                values["column_name"] = column
            state.sql = str(macro(**values))
        except jinja2.TemplateSyntaxError as exc:
            raise syntax_error(exc, exc.filename or node.path, "", node.name) from None
        except HeadwaterError as exc:
            raise self._located(exc, node) from None
        except Exception as exc:
            name = node.test.name if node.test else node.name
            raise self._failure(exc, node, f"test `{name}` failed to render", node.line) from None
        finally:
            self._state, self._node = None, None
        return state

    def _test_argument(self, value: Any, node: Node) -> Any:
        if isinstance(value, dict):
            return {k: self._test_argument(v, node) for k, v in value.items()}
        if isinstance(value, list):
            return [self._test_argument(v, node) for v in value]
        if not isinstance(value, str):
            return value
        if re.fullmatch(r"\s*(ref|source)\s*\(.*\)\s*", value, re.S):
            return self.env.compile_expression(value.strip(), undefined_to_none=False)()
        if "{{" in value or "{%" in value:
            return str(
                self._template(
                    value, f"{node.path}:argument", self._scope_for(node.package)
                ).render()
            )
        return value

    def _render_hooks(self, node: Node, state: Rendered, this: DbtRelation) -> dict[str, list[str]]:
        config = dict(node.config)
        out: dict[str, list[str]] = {}
        for key in HOOK_KEYS:
            items = list(hook_list(config.get(key))) + list(hook_list(state.config.get(key)))
            rendered = []
            for i, text in enumerate(items):
                template = self._template(
                    text, f"{node.path}:{key}[{i}]", self._scope_for(node.package)
                )
                sql = str(template.render(this=this, model=NodeView(self, node))).strip()
                if sql:
                    rendered.append(sql)
            if rendered:
                out[key] = rendered
        return out

    def _located(self, exc: HeadwaterError, node: Node) -> HeadwaterError:
        """Put the template file and line where ``exc`` was raised on it (a macro's, if deeper)."""
        path, line = self._where(exc, node)
        if exc.location is None or exc.location.line is None or path != node.path:
            exc.location = Location(path, line)
            if path != node.path and f"(in `{node.path}`" not in exc.message:
                exc.message = f"{exc.message} (while rendering `{node.path}`)"
        exc.node = exc.node or node.name
        return exc

    def _failure(
        self, exc: BaseException, node: Node, what: str, fallback_line: int | None = None
    ) -> CompilationError:
        """An unexpected exception while rendering ``node``, placed at its template file and line."""
        path, line = self._where(exc, node)
        return CompilationError(
            f"{what}: {type(exc).__name__}: {exc}",
            location=Location(path, line or fallback_line),
            node=node.name,
        )

    def _where(self, exc: BaseException, node: Node) -> tuple[str, int | None]:
        """The deepest template frame of ``exc``'s traceback: (file, line)."""
        tb = exc.__traceback__
        found: tuple[str, int | None] = (node.path, None)
        hook = node.path + ":"
        while tb is not None:
            filename, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
            template = tb.tb_frame.f_globals.get("__jinja_template__")
            if (
                template is not None
            ):  # a frame Jinja did not rewrite: map its Python line to the template's
                line = template.get_corresponding_lineno(line)
            if filename == node.path or filename in self.macro_files or filename.startswith(hook):
                found = (filename.split(":", 1)[0] if filename.startswith(hook) else filename, line)
            tb = tb.tb_next
        return found

    def _undefined_hint(self, message: str) -> str:
        match = re.search(r"'([A-Za-z_][A-Za-z0-9_]*)' is undefined", message)
        name = match.group(1) if match else ""
        if name and name in self._known_package_names():
            return f"`{name}` is a package that is not installed: run `headwater deps`"
        return "check the spelling; macros live in macros/*.sql (or an installed package: `headwater deps`), vars under `vars:`"

    def _known_package_names(self) -> set[str]:
        return self.declared_packages - set(self.packages)


__all__ = [
    "HOOK_KEYS",
    "MacroFile",
    "RefCall",
    "Rendered",
    "Renderer",
    "node_dict",
    "target_database",
]
