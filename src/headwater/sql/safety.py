"""Every generated statement is exactly one statement.

SQL fragments that headwater splices into the statements it generates — a check's column
expression or `where`, `expression_is_true`'s expression, a model body — are checked here first:

* `check_expression`: a fragment must be exactly one SQL expression: no `;`, no comment (``--``
  would swallow the rest of the generated line), no statement inside (DDL, DML, SET, ATTACH...);
* `check_single_statement`: a model body (compiled SQL, vars already interpolated) must be one
  statement; a second one is reported with its file and line, as dbt wraps the body in
  parentheses and the engine would refuse it.

sqlglot's tokenizer and parser read the fragments (the DuckDB dialect by default); nothing runs.
"""

from __future__ import annotations

from typing import Any

from headwater.errors import CompilationError, ConfigError, Location, code_snippet

_STATEMENT_NODES = (
    "Alter", "Attach", "Cache", "Command", "Commit", "Copy", "Create", "DDL", "Delete", "Detach",
    "Drop", "Export", "Grant", "Insert", "Install", "Into", "Kill", "Merge", "Pragma", "Refresh",
    "Revoke", "Rollback", "Set", "Transaction", "Uncache", "Update", "Use",
)  # fmt: skip


def fragment_problem(text: str, dialect: str = "duckdb") -> str | None:
    """Why ``text`` cannot be spliced into a statement as it is (no `;`, no comment, tokenizable
    by sqlglot), or None."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    except SqlglotError:
        return "it is not valid SQL"
    if any(tok.token_type.name == "SEMICOLON" for tok in tokens):
        return "it contains `;`, which would start another statement"
    if any(tok.comments for tok in tokens):
        return "it contains a comment (`--` or `/* */`), which would hide the rest of the statement"
    return None


def forbidden_node(tree: Any) -> str | None:
    """The kind of the first statement (DDL, DML, SET, ATTACH, INTO ...) inside a parsed fragment."""
    from sqlglot import exp

    kinds = tuple(getattr(exp, name) for name in _STATEMENT_NODES if hasattr(exp, name))
    for node in tree.walk():
        if isinstance(node, kinds):
            return type(node).__name__.upper()
    return None


def check_expression(
    text: str,
    *,
    what: str,
    location: Location | None = None,
    node: str | None = None,
    dialect: str = "duckdb",
) -> str:
    """``text`` if it is exactly one SQL expression, else a `ConfigError` naming ``what``."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    def refuse(problem: str) -> ConfigError:
        return ConfigError(
            f"{what} `{text}` is refused: {problem}",
            location=location,
            node=node,
            hint="write one SQL expression (a column name, or e.g. lower(email)); "
            "no `;`, no comments, no statements",
        )

    problem = fragment_problem(text, dialect)
    if problem:
        raise refuse(problem)
    try:
        tree = sqlglot.parse_one(f"SELECT {text}", read=dialect)
    except SqlglotError:
        raise refuse("it is not one SQL expression") from None
    projections = getattr(tree, "expressions", [])
    if tree.key != "select" or len(projections) != 1 or tree.args.get("from"):
        raise refuse("it is not one SQL expression")
    found = forbidden_node(tree)
    if found:
        raise refuse(f"it contains a {found} statement")
    return text


def statement_count(sql: str, dialect: str = "duckdb") -> list[int]:
    """The 1-based line where each statement of ``sql`` starts (empty statements left out), by
    sqlglot's tokenizer: `;` outside strings, identifiers and comments separates statements."""
    import sqlglot

    starts: list[int] = []
    expecting = True
    for tok in sqlglot.Dialect.get_or_raise(dialect).tokenize(sql):
        if tok.token_type.name == "SEMICOLON":
            expecting = True
        elif expecting:
            starts.append(tok.line)
            expecting = False
    return starts


def check_single_statement(sql: str, *, path: str, node: str, dialect: str = "duckdb") -> None:
    """Raise `CompilationError` when the compiled body of ``node`` holds more than one statement."""
    from sqlglot.errors import SqlglotError

    try:
        starts = statement_count(sql, dialect)
    except SqlglotError:
        return  # not tokenizable: the parse step reports it with its own message
    if len(starts) <= 1:
        return
    line = starts[1]
    raise CompilationError(
        f"the body of `{node}` holds {len(starts)} statements; a model is one SELECT",
        location=Location(path, line),
        node=node,
        snippet=code_snippet(sql, line) or None,
        hint="remove the `;` and what follows it (the line is that of the compiled SQL); "
        "run other statements in a `pre_hook`/`post_hook`, or split the model",
    )
