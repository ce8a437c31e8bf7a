"""Static reading of dbt Python models (`models/**/*.py`), the way dbt's parser reads them.

The file is parsed with `ast`; it is never imported or run at load time. What a run needs to know
beforehand is found in the calls on the `dbt` argument of `def model(dbt, session)`:

* `dbt.ref('m')`, `dbt.ref('pkg', 'm')`, `dbt.ref('m', v=2)` (or `version=`) — dependencies;
* `dbt.source('s', 't')` — dependencies on sources;
* `dbt.config(materialized='incremental', unique_key='id')` — the model's in-file config;
* `dbt.config.get('key', default)` / `dbt.config.meta_get('key')` — config the model reads.

As in dbt, every argument of these calls must be a Python literal (a string, number, list, dict,
...): a name or an expression is an error that points at the argument.

Wiring a Python model into a project (what the loader and compiler do with the result)::

    info = read_python_model(text, "models/orders.py")
    node.raw_sql = text                       # the runner compiles and runs this text
    node.config.update(info.config)           # dbt.config(...) wins over the yml config
    # dbt: a Python model is `table` unless its own .yml entry or dbt.config() says otherwise;
    # a folder-level `+materialized` of the project file does not apply to it
    ...  # refs/depends_on from info.refs and info.sources, then, once relations are known:
    node.config[PYTHON_REFS_KEY] = relation_map(info, ref=..., source=...)

Example:
    >>> info = read_python_model(
    ...     "def model(dbt, session):\\n"
    ...     "    dbt.config(materialized='table')\\n"
    ...     "    return dbt.ref('orders')\\n",
    ...     "models/m.py",
    ... )
    >>> [(r.name, r.line) for r in info.refs], info.config
    ([('orders', 3)], {'materialized': 'table'})
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headwater.errors import CompilationError, ConfigError, Location, code_snippet

PYTHON_REFS_KEY = "_python_refs"
"""`node.config` key of the dict mapping each `dbt.ref`/`dbt.source` lookup key (`RefCall.lookup`,
`SourceCall.lookup`) to the SQL of the relation it reads (see `relation_map`)."""

PYTHON_MATERIALIZATIONS = ("table", "incremental")
"""What a Python model can be materialized as (dbt-duckdb also has `external`, not yet here)."""

_SIGNATURE_HINT = "define the model as `def model(dbt, session):` ending with `return <dataframe>`"
_LITERAL_HINT = (
    "headwater reads these calls without running the file, as dbt does: pass literals, "
    "e.g. dbt.ref('orders'); compute other values inside model() instead"
)


@dataclass(frozen=True)
class RefCall:
    """One `dbt.ref(...)` call."""

    name: str
    package: str | None = None
    version: str | None = None
    """`v=` / `version=` as text (`2` and `'2'` are the same version)."""
    line: int = 0

    @property
    def key(self) -> str:
        """dbt's key for the call: `m`, `pkg.m`, `m.v2`."""
        key = f"{self.package}.{self.name}" if self.package else self.name
        return f"{key}.v{self.version}" if self.version else key

    @property
    def lookup(self) -> str:
        """Key of the call in `node.config[PYTHON_REFS_KEY]`: `ref:<key>`."""
        return ref_lookup(self.key)


@dataclass(frozen=True)
class SourceCall:
    """One `dbt.source(source, table)` call."""

    source: str
    table: str
    line: int = 0

    @property
    def key(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def lookup(self) -> str:
        """Key of the call in `node.config[PYTHON_REFS_KEY]`: `source:<source>.<table>`."""
        return source_lookup(self.key)


@dataclass(frozen=True)
class ConfigRead:
    """One `dbt.config.get(key, default)` (or `dbt.config.meta_get`) call."""

    key: str
    default: Any = None
    line: int = 0
    meta: bool = False
    """True for `dbt.config.meta_get` (reads the `meta` config)."""


@dataclass
class PythonModelFile:
    """What `read_python_model` found in one model file."""

    path: str
    model_line: int
    """Line of `def model(dbt, session)`."""
    refs: list[RefCall] = field(default_factory=list)
    sources: list[SourceCall] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """The `dbt.config(...)` keyword arguments, merged in call order (a later call wins)."""
    config_lines: dict[str, int] = field(default_factory=dict)
    """Line of the `dbt.config(...)` call that set each key."""
    config_reads: list[ConfigRead] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    """Top-level packages the file imports (dbt's `packages`), e.g. `pandas`."""

    @property
    def config_keys_used(self) -> list[str]:
        """Keys read with `dbt.config.get`, first-read order, without repeats."""
        return list(dict.fromkeys(r.key for r in self.config_reads if not r.meta))

    @property
    def meta_keys_used(self) -> list[str]:
        return list(dict.fromkeys(r.key for r in self.config_reads if r.meta))


def ref_lookup(key: str) -> str:
    return f"ref:{key}"


def source_lookup(key: str) -> str:
    return f"source:{key}"


def is_python_model(path: str) -> bool:
    """True if a model file is a Python model (by its extension, as dbt decides)."""
    return path.lower().endswith(".py")


def relation_map(
    info: PythonModelFile, ref: Callable[[RefCall], str], source: Callable[[SourceCall], str]
) -> dict[str, str]:
    """The dict to store as ``node.config[PYTHON_REFS_KEY]``: each call's lookup key mapped to what
    ``ref``/``source`` return for it — SQL that can follow ``FROM`` (a rendered relation such as
    ``"main"."orders"``, or a parenthesized SELECT for an ephemeral model)."""
    out = {r.lookup: ref(r) for r in info.refs}
    out.update({s.lookup: source(s) for s in info.sources})
    return out


def read_python_model(text: str, path: str) -> PythonModelFile:
    """Read a Python model's source ``text`` (``path`` relative to the project, for messages).

    Raises:
        CompilationError: a syntax error, no (or more than one) ``def model(dbt, session)``, a
            call on ``dbt`` with a non-literal or misplaced argument.
        ConfigError: ``dbt.config(materialized=...)`` that a Python model cannot be.
    """
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise syntax_error(exc, text, path) from None
    model = _model_def(tree, text, path)
    info = PythonModelFile(path=path, model_line=model.lineno)
    reader = _CallReader(info, text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            reader.visit_call(node)
        elif isinstance(node, ast.Import):
            info.packages.extend(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            info.packages.append(node.module.split(".")[0])
    info.packages = list(dict.fromkeys(info.packages))
    _sort_by_line(info)
    return info


def syntax_error(exc: SyntaxError, text: str, path: str) -> CompilationError:
    """A `SyntaxError` of a model file as a `CompilationError` at its file:line:column."""
    line = exc.lineno or None
    column = exc.offset or None
    return CompilationError(
        f"Python syntax error: {exc.msg}",
        location=Location(path, line, column),
        snippet=code_snippet(text, line, column) if line else None,
        hint=f"fix the Python syntax (check it with `python -m py_compile {path}`)",
    )


def _sort_by_line(info: PythonModelFile) -> None:
    # ast.walk is breadth-first; report calls in the order they appear in the file
    info.refs.sort(key=lambda r: r.line)
    info.sources.sort(key=lambda s: s.line)
    info.config_reads.sort(key=lambda r: r.line)


def _error(text: str, path: str, node: ast.AST | None, message: str, hint: str,
           cls: type[CompilationError] | type[ConfigError] = CompilationError) -> ConfigError:  # fmt: skip
    line = getattr(node, "lineno", None) or 1
    column = getattr(node, "col_offset", None)
    column = column + 1 if column is not None else None
    return cls(
        message,
        location=Location(path, line, column),
        snippet=code_snippet(text, line, column),
        hint=hint,
    )


# -- def model(dbt, session) -----------------------------------------------------------------
def _model_def(tree: ast.Module, text: str, path: str) -> ast.FunctionDef:
    defs = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "model"
    ]
    if not defs:
        raise _error(
            text,
            path,
            None,
            f"`{path}` has no `def model(dbt, session)` at the top level",
            _SIGNATURE_HINT,
        )
    if len(defs) > 1:
        raise _error(text, path, defs[1], f"`{path}` defines `model` {len(defs)} times; a Python model defines it once",
                     "keep one `def model(dbt, session)`; rename the others")  # fmt: skip
    model = defs[0]
    if isinstance(model, ast.AsyncFunctionDef):
        raise _error(
            text,
            path,
            model,
            "`model` is `async def`; it must be a plain function",
            _SIGNATURE_HINT,
        )
    _check_signature(model, text, path)
    _check_return(model, text, path)
    return model


def _check_signature(model: ast.FunctionDef, text: str, path: str) -> None:
    args = model.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    extra = args.vararg or args.kwarg or args.kwonlyargs
    if len(names) == 2 and names[0] == "dbt" and not extra:
        return
    got = ast.unparse(args)
    raise _error(text, path, model, f"`def model({got})` has the wrong parameters; expected `def model(dbt, session)`",
                 "the first parameter must be named `dbt`, the second is the DuckDB session (any name)")  # fmt: skip


def _check_return(model: ast.FunctionDef, text: str, path: str) -> None:
    last = model.body[-1]
    if (
        isinstance(last, ast.Return)
        and last.value is not None
        and not isinstance(last.value, ast.Tuple)
    ):
        return
    raise _error(text, path, last, "`model()` must end with `return <one dataframe>`",
                 "return one DataFrame (pandas, polars), Arrow table or DuckDB relation as the last statement")  # fmt: skip


# -- calls on dbt --------------------------------------------------------------------------------
def _dotted(node: ast.expr) -> str | None:
    """`dbt.config.get` for that attribute chain on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _CallReader:
    """Collects the `dbt.*` calls of one file into a `PythonModelFile`."""

    def __init__(self, info: PythonModelFile, text: str) -> None:
        self.info = info
        self.text = text
        self.handlers: dict[str, Callable[[ast.Call, list[Any], dict[str, Any]], None]] = {
            "dbt.ref": self._ref,
            "dbt.source": self._source,
            "dbt.config": self._config,
            "dbt.config.get": self._get,
            "dbt.config.meta_get": self._meta_get,
        }

    def visit_call(self, call: ast.Call) -> None:
        name = _dotted(call.func)
        handler = self.handlers.get(name or "")
        if handler is None:
            return
        args = [self._literal(call, name or "", a) for a in call.args]
        kwargs: dict[str, Any] = {}
        for kw in call.keywords:
            if kw.arg is None:
                raise self._fail(
                    kw.value, f"`{name}(**{ast.unparse(kw.value)})` unpacks a dict", _LITERAL_HINT
                )
            kwargs[kw.arg] = self._literal(call, name or "", kw.value)
        handler(call, args, kwargs)

    def _fail(self, node: ast.AST, message: str, hint: str) -> ConfigError:
        return _error(self.text, self.info.path, node, message, hint)

    def _literal(self, call: ast.Call, name: str, arg: ast.expr) -> Any:
        if isinstance(arg, ast.Starred):
            raise self._fail(
                arg, f"`{name}()` gets `{ast.unparse(arg)}`, an unpacked argument", _LITERAL_HINT
            )
        try:
            return ast.literal_eval(arg)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise self._fail(
                arg, f"`{name}()` gets `{ast.unparse(arg)}`, which is not a literal", _LITERAL_HINT
            ) from None

    def _strings(
        self, call: ast.Call, name: str, args: list[Any], counts: tuple[int, ...], usage: str
    ) -> None:
        if len(args) not in counts or not all(isinstance(a, str) and a for a in args):
            got = ", ".join(ast.unparse(a) for a in call.args)
            raise self._fail(call, f"`{name}({got})`: expected {usage}", f"e.g. {usage}")

    def _ref(self, call: ast.Call, args: list[Any], kwargs: dict[str, Any]) -> None:
        self._strings(
            call, "dbt.ref", args, (1, 2), "dbt.ref('model') or dbt.ref('package', 'model')"
        )
        unknown = set(kwargs) - {"v", "version"}
        if unknown or len(kwargs) > 1:
            raise self._fail(call, f"`dbt.ref()` takes `v=` or `version=`, got {', '.join(sorted(kwargs))}",
                             "e.g. dbt.ref('model', v=2)")  # fmt: skip
        version = kwargs.get("v", kwargs.get("version"))
        package, name = (args[0], args[1]) if len(args) == 2 else (None, args[0])
        ref = RefCall(name, package, None if version is None else str(version), call.lineno)
        self.info.refs.append(ref)

    def _source(self, call: ast.Call, args: list[Any], kwargs: dict[str, Any]) -> None:
        self._strings(call, "dbt.source", args, (2,), "dbt.source('source_name', 'table_name')")
        if kwargs:
            raise self._fail(
                call,
                "`dbt.source()` takes no keyword arguments",
                "e.g. dbt.source('source_name', 'table_name')",
            )
        self.info.sources.append(SourceCall(args[0], args[1], call.lineno))

    def _config(self, call: ast.Call, args: list[Any], kwargs: dict[str, Any]) -> None:
        if args:
            raise self._fail(
                call,
                "`dbt.config()` takes keyword arguments only",
                "e.g. dbt.config(materialized='table')",
            )
        materialized = kwargs.get("materialized")
        if materialized is not None and materialized not in PYTHON_MATERIALIZATIONS:
            raise _error(self.text, self.info.path, call,
                         f"a Python model cannot be materialized as `{materialized}`",
                         "use materialized='table' or 'incremental' (views and ephemeral models are SQL only)",
                         ConfigError)  # fmt: skip
        self.info.config.update(kwargs)
        self.info.config_lines.update(dict.fromkeys(kwargs, call.lineno))

    def _get(
        self, call: ast.Call, args: list[Any], kwargs: dict[str, Any], meta: bool = False
    ) -> None:
        name = "dbt.config.meta_get" if meta else "dbt.config.get"
        if (
            set(kwargs) - {"default"}
            or not 1 <= len(args) + len(kwargs) <= 2
            or not args
            or not isinstance(args[0], str)
        ):
            raise self._fail(call, f"`{name}()` takes a key and an optional default",
                             f"e.g. {name}('key') or {name}('key', 'default')")  # fmt: skip
        default = args[1] if len(args) == 2 else kwargs.get("default")
        self.info.config_reads.append(ConfigRead(args[0], default, call.lineno, meta))

    def _meta_get(self, call: ast.Call, args: list[Any], kwargs: dict[str, Any]) -> None:
        self._get(call, args, kwargs, meta=True)
