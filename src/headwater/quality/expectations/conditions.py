"""Translate GX ``row_condition`` values to SQL predicates.

``row_condition`` is a string whose syntax ``condition_parser`` picks, or GX 1.24's structured
form (what GX writes when it saves a suite):

* absent, ``sql`` or ``spark``: the condition is a SQL predicate, used as written once
  `sqlsafety.check_condition` has found it to be exactly one expression;
* ``great_expectations`` (and ``great_expectations__experimental__``): ``col("x")=="y"``,
  ``col("a")>5 & col("b").notNull()``, ``col("s").isin(["a", "b"])``, with ``&``, ``|``, ``~``
  and parentheses;
* structured: ``{"type": "comparison", "column": {"name": "x"}, "operator": "==",
  "parameter": 5}`` (operators ``== != < <= > >= IN NOT_IN``), ``{"type": "nullity", "column":
  {...}, "is_null": false}``, ``{"type": "and"|"or", "conditions": [...]}`` and
  ``{"type": "pass_through", "pass_through_filter": "..."}`` (pandas syntax, or SQL with
  ``condition_parser: spark``/``sql``). GX 1.24 turns ``great_expectations`` strings into
  this form, so both follow the back end of the data: with ``semantics="pandas"`` (files,
  Arrow, data frames) they are rendered with pandas' two-valued logic, as GX's pandas back end
  runs them through ``DataFrame.query``; with ``semantics="sql"`` (warehouse tables) as plain
  SQL, where a comparison with a null is unknown and the row is not selected;
* ``pandas``: ``x == "y" and a > 5``, ``or``, ``not``, ``&``, ``|``, ``~``, ``in [...]``,
  ``not in``, ``.isin([...])``, ``.isnull()``/``.notnull()``/``.isna()``/``.notna()`` and
  backtick-quoted names. Always rendered with pandas' two-valued logic: a comparison with a
  null is false, except ``!=`` which is true, so ``not (x == 1)`` selects the rows where ``x``
  is null, as ``DataFrame.query`` does.

Anything else raises `ConfigError` saying what could not be translated and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from headwater.engines.base import quote_identifier
from headwater.errors import ConfigError

SQL_PARSERS = frozenset({None, "sql", "spark"})
GX_PARSERS = frozenset({"great_expectations", "great_expectations__experimental__"})
CONDITION_PARSERS = (
    "great_expectations",
    "great_expectations__experimental__",
    "pandas",
    "spark",
    "sql",
)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<backtick>`[^`]*`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|&|\||~|\(|\)|\[|\]|,|\.|-)
    """,
    re.VERBOSE,
)
_OPS_SQL = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


# AST: ("col", name) | ("lit", value) | ("cmp", op, left, right) | ("isnull", expr, bool)
#      | ("in", expr, values, negated) | ("and", a, b) | ("or", a, b) | ("not", a)
Node: TypeAlias = tuple[Any, ...]


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise _error(text, pos, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(Token(kind, match.group(), pos))
        pos = match.end()
    out.append(Token("end", "", len(text)))
    return out


def _error(text: str, pos: int, message: str) -> ConfigError:
    return ConfigError(
        f"cannot translate row_condition {text!r} at position {pos}: {message}",
        hint='write e.g. col("status")=="paid" & col("amount")>0 (great_expectations), '
        'status == "paid" and amount > 0 (pandas), or a SQL predicate without condition_parser',
    )


class _Parser:
    """Recursive descent over both syntaxes; ``pandas`` enables the keyword forms."""

    def __init__(self, text: str, pandas: bool) -> None:
        self.text = text
        self.pandas = pandas
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def accept(self, *texts: str) -> Token | None:
        tok = self.peek()
        if tok.kind in ("op", "name") and tok.text in texts:
            self.i += 1
            return tok
        return None

    def expect(self, text: str) -> Token:
        tok = self.peek()
        if tok.text != text or tok.kind not in ("op", "name"):
            raise self.fail(f"expected `{text}`")
        self.i += 1
        return tok

    def fail(self, message: str, tok: Token | None = None) -> ConfigError:
        tok = tok or self.peek()
        found = f"`{tok.text}`" if tok.kind != "end" else "the end"
        return _error(self.text, tok.pos, f"{message}, found {found}")

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail("expected `&`, `|` or the end")
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.accept("|") or (self.pandas and self.accept("or")):
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.accept("&") or (self.pandas and self.accept("and")):
            node = ("and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.accept("~") or (self.pandas and self.accept("not")):
            return ("not", self.not_expr())
        return self.comparison()

    def comparison(self) -> Node:
        start = self.peek()
        left = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _OPS_SQL:
            self.i += 1
            right = self.operand()
            return self._cmp(tok.text, left, right, start)
        if self.pandas and (
            self.accept("in") or (self.peek().text == "not" and self.peek(1).text == "in")
        ):
            negated = False
            if self.accept("not"):
                self.expect("in")
                negated = True
            values = self.list_literal()
            return self._in(left, values, negated, start)
        if left[0] in ("col", "lit"):
            raise self.fail(
                "expected a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`) after the operand", tok
            )
        return left

    def _cmp(self, op: str, left: Node, right: Node, start: Token) -> Node:
        for side in (left, right):
            if side[0] not in ("col", "lit"):
                raise self.fail("comparisons take a column and a value", start)
            if side == ("lit", None):
                raise _error(
                    self.text,
                    start.pos,
                    "compare with null using .isNull()/.notNull() (or isnull()/notnull() in pandas)",
                )
        if left[0] == "lit" and right[0] == "lit":
            raise _error(self.text, start.pos, "a comparison needs at least one column")
        if left[0] == "lit":
            op, left, right = _FLIP[op], right, left
        return ("cmp", op, left, right)

    def _in(self, left: Node, values: list[Any], negated: bool, start: Token) -> Node:
        if left[0] != "col":
            raise _error(self.text, start.pos, "`in` needs a column on its left")
        return ("in", left, values, negated)

    def list_literal(self) -> list[Any]:
        self.expect("[")
        values: list[Any] = []
        while not self.accept("]"):
            if values:
                self.expect(",")
                if self.accept("]"):
                    break
            tok = self.peek()
            value = self.operand()
            if value[0] != "lit" or value[1] is None:
                raise self.fail("a list holds literal values (no columns, no None)", tok)
            values.append(value[1])
        return values

    def operand(self) -> Node:
        tok = self.next()
        if tok.kind == "op" and tok.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "-":
            num = self.next()
            if num.kind != "number":
                raise self.fail("expected a number after `-`", num)
            return ("lit", -_number(num.text))
        if tok.kind == "number":
            return ("lit", _number(tok.text))
        if tok.kind == "string":
            return ("lit", _unescape(tok.text[1:-1]))
        if tok.kind == "name" and tok.text in ("True", "False", "None", "true", "false"):
            return (
                "lit",
                {"True": True, "true": True, "False": False, "false": False}.get(tok.text),
            )
        if not self.pandas:
            if tok.kind == "name" and tok.text == "col" and self.peek().text == "(":
                self.expect("(")
                name = self.next()
                if name.kind != "string":
                    raise self.fail('expected a quoted column name, as in col("amount")', name)
                self.expect(")")
                return self.methods(("col", _unescape(name.text[1:-1])))
            raise self.fail('expected col("name"), a number or a quoted string', tok)
        if tok.kind == "backtick":
            return self.methods(("col", tok.text[1:-1]))
        if tok.kind == "name" and tok.text not in ("and", "or", "not", "in"):
            return self.methods(("col", tok.text))
        raise self.fail("expected a column name, a number or a quoted string", tok)

    def methods(self, column: Node) -> Node:
        if not self.accept("."):
            return column
        tok = self.next()
        name = tok.text
        nullness = {"notNull": False, "isNull": True}
        if self.pandas:
            nullness = {"isnull": True, "isna": True, "notnull": False, "notna": False}
        if name in nullness:
            self.expect("(")
            self.expect(")")
            return ("isnull", column, nullness[name])
        if name == "isin":
            self.expect("(")
            values = self.list_literal()
            self.expect(")")
            return ("in", column, values, False)
        allowed = ", ".join(f".{m}()" for m in nullness) + ", .isin([...])"
        raise self.fail(f"unsupported method (supported: {allowed})", tok)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def literal_sql(value: Any) -> str:
    """A SQL literal for a condition value (str, int, float or bool)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def render(node: Node, pandas: bool) -> str:
    """SQL for an AST; ``pandas`` selects two-valued (pandas) rather than SQL null semantics."""
    kind = node[0]
    if kind == "raw":  # an already translated (and checked) predicate
        raw: str = node[1]
        return raw
    if kind == "col":
        # A bare boolean column used as a condition.
        return (
            f"coalesce({quote_identifier(node[1])}, false)" if pandas else quote_identifier(node[1])
        )
    if kind == "lit":
        return literal_sql(node[1])
    if kind == "and":
        return f"({render(node[1], pandas)} AND {render(node[2], pandas)})"
    if kind == "or":
        return f"({render(node[1], pandas)} OR {render(node[2], pandas)})"
    if kind == "not":
        return f"(NOT {render(node[1], pandas)})"
    if kind == "isnull":
        return f"({render(node[1], False)} IS {'' if node[2] else 'NOT '}NULL)"
    if kind == "cmp":
        _, op, left, right = node
        sql = f"{render(left, False)} {_OPS_SQL[op]} {render(right, False)}"
        if pandas:
            return f"coalesce({sql}, {'true' if op == '!=' else 'false'})"
        return f"({sql})"
    if kind == "in":
        _, column, values, negated = node
        if not values:
            inner = "false"
        else:
            inner = f"{render(column, False)} IN ({', '.join(literal_sql(v) for v in values)})"
        if pandas:
            inner = f"coalesce({inner}, false)"
        return f"(NOT {inner})" if negated else f"({inner})"
    raise AssertionError(kind)


SEMANTICS = ("sql", "pandas")


def translate_condition(
    row_condition: Any, condition_parser: str | None, semantics: str = "sql"
) -> str:
    """The SQL predicate for a GX row_condition; raises `ConfigError` when it cannot.

    ``semantics`` is the back end GX would run on: ``pandas`` or ``sql`` (see the module doc).
    """
    pandas_back_end = semantics == "pandas"
    if isinstance(row_condition, dict):
        return render(structured_ast(row_condition, condition_parser), pandas=pandas_back_end)
    if not isinstance(row_condition, str) or not row_condition.strip():
        raise ConfigError(
            "row_condition must be a non-empty string or a GX structured condition",
            hint='e.g. {"type": "comparison", "column": {"name": "x"}, "operator": ">", "parameter": 0}',
        )
    if condition_parser in SQL_PARSERS:
        from headwater.quality.expectations.sqlsafety import check_condition

        return f"({check_condition(row_condition)})"
    if condition_parser in GX_PARSERS:
        return render(_Parser(row_condition, pandas=False).parse(), pandas=pandas_back_end)
    if condition_parser == "pandas":
        return render(_Parser(row_condition, pandas=True).parse(), pandas=True)
    raise ConfigError(
        f"unknown condition_parser `{condition_parser}`",
        hint="use one of: "
        + ", ".join(CONDITION_PARSERS)
        + " (or leave it out for a SQL predicate)",
    )


def condition_columns(row_condition: Any, condition_parser: str | None) -> frozenset[str] | None:
    """The columns a row_condition reads, or None when that is not known (SQL text)."""
    if isinstance(row_condition, dict):
        tree = structured_ast(row_condition, condition_parser)
    elif condition_parser in GX_PARSERS or condition_parser == "pandas":
        tree = _Parser(row_condition, pandas=condition_parser == "pandas").parse()
    else:
        return None
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if node[0] == "raw":
            return None
        if node[0] == "col":
            names.add(node[1])
        stack.extend(part for part in node[1:] if isinstance(part, tuple))
    return frozenset(names)


# -- GX 1.24 structured conditions ----------------------------------------------------------------

_STRUCTURED_HINT = (
    'GX 1.24 conditions: {"type": "comparison", "column": {"name": "x"}, "operator": "==", '
    '"parameter": 5} (operators == != < <= > >= IN NOT_IN), {"type": "nullity", "column": '
    '{"name": "x"}, "is_null": false}, {"type": "and"|"or", "conditions": [...]}, '
    '{"type": "pass_through", "pass_through_filter": "..."}'
)
_SET_OPS = {"IN": False, "NOT_IN": True, "NOT IN": True}


def _structured_error(path: str, message: str) -> ConfigError:
    return ConfigError(f"row_condition{path}: {message}", hint=_STRUCTURED_HINT)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _column_name(node: dict[str, Any], path: str) -> str:
    column = node.get("column")
    name = column.get("name") if isinstance(column, dict) else column
    if not isinstance(name, str) or not name:
        raise _structured_error(path, 'needs "column": {"name": "<column>"}')
    return name


def _comparison(node: dict[str, Any], path: str) -> Node:
    column = ("col", _column_name(node, path))
    op = str(node.get("operator", "")).strip().upper()
    parameter = node.get("parameter")
    if op in _SET_OPS:
        if not isinstance(parameter, list | tuple) or not all(_scalar(v) for v in parameter):
            raise _structured_error(path, f"{op} takes a list of strings or numbers as parameter")
        return ("in", column, list(parameter), _SET_OPS[op])
    if op not in _OPS_SQL:
        raise _structured_error(path, f"unknown operator {node.get('operator')!r}")
    if parameter is None:
        fix = "is_null: true" if op == "==" else "is_null: false" if op == "!=" else "a value"
        raise _structured_error(path, f"compare with null using a nullity condition ({fix})")
    if not _scalar(parameter):
        raise _structured_error(path, f"parameter must be a string or a number, got {parameter!r}")
    return ("cmp", op, column, ("lit", parameter))


def _pass_through(node: dict[str, Any], condition_parser: str | None, path: str) -> Node:
    text = node.get("pass_through_filter")
    if not isinstance(text, str) or not text.strip():
        raise _structured_error(path, 'needs "pass_through_filter": "<condition>"')
    if condition_parser in ("sql", "spark"):
        return ("raw", translate_condition(text, None))
    return ("raw", translate_condition(text, "pandas"))


def structured_ast(node: Any, condition_parser: str | None = None, path: str = "") -> Node:
    """The condition AST of a GX 1.24 structured condition (a dict as GX serializes it)."""
    if not isinstance(node, dict):
        raise _structured_error(path, f"a condition must be a mapping, got {node!r}")
    kind = node.get("type")
    if kind == "comparison":
        return _comparison(node, path)
    if kind == "nullity":
        is_null = node.get("is_null")
        if not isinstance(is_null, bool):
            raise _structured_error(path, '"is_null" must be true or false')
        return ("isnull", ("col", _column_name(node, path)), is_null)
    if kind in ("and", "or"):
        items = node.get("conditions")
        if not isinstance(items, list) or not items:
            raise _structured_error(path, f'"{kind}" needs a non-empty list of "conditions"')
        parts = [
            structured_ast(item, condition_parser, f"{path}.conditions[{i}]")
            for i, item in enumerate(items)
        ]
        tree = parts[0]
        for part in parts[1:]:
            tree = (kind, tree, part)
        return tree
    if kind == "pass_through":
        return _pass_through(node, condition_parser, path)
    raise _structured_error(path, f"unknown condition type {kind!r}")
