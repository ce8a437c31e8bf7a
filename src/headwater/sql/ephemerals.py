"""Ephemeral models inlined as CTEs: the name a reference to one becomes, and `with_ctes`, which
puts their bodies in front of a statement (merged into its own WITH clause when it has one).
"""

from __future__ import annotations

EPHEMERAL_PREFIX = "__hw_eph_"
"""A reference to ephemeral model `x` reads the CTE `__hw_eph_x`."""


def with_ctes(ctes: list[tuple[str, str]], sql: str, dialect: str) -> str:
    """Prefix ``sql`` with CTEs (name, body), merging into its own WITH clause when it has one."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError:
        tree = None
    key = "with_" if "with_" in exp.Select.arg_types else "with"
    if tree is not None and isinstance(tree, exp.Query) and tree.args.get(key) is not None:
        with_ = tree.args[key]
        own = list(with_.expressions)
        new = [
            exp.CTE(
                this=sqlglot.parse_one(body, read=dialect),
                alias=exp.TableAlias(this=exp.to_identifier(name)),
            )
            for name, body in ctes
        ]
        with_.set("expressions", new + own)
        return tree.sql(dialect=dialect, pretty=True)
    head = ",\n".join(f"{name} AS (\n{body}\n)" for name, body in ctes)
    return f"WITH {head}\n{sql.strip().rstrip(';')}"
