"""Records echoed in messages are cut: a 10 KB line in an error or a reject reason helps nobody
(the whole record stays in the `__rejected` table's `raw` column)."""

from __future__ import annotations

import re

from headwater.engines.functions import Functions

SHOWN = 200
"""Characters of an echoed record or value kept in a message."""


def clip(text: str, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def clip_lines(text: str, limit: int = SHOWN) -> str:
    """Every line of a message cut to ``limit`` characters (an error that quotes a huge line)."""
    if len(text) <= limit:
        return text
    return "\n".join(clip(line, limit) for line in text.split("\n"))


def clip_message(text: str, limit: int = SHOWN) -> str:
    """A message (an error, a reject reason) with every quoted value and every line cut: the
    value a reader quotes is cut where it is, so the rest of the message stays."""
    if len(text) <= limit:
        return text
    text = _QUOTED.sub(lambda m: m.group(1) + clip(m.group(2), limit) + m.group(1), text)
    return clip_lines(text, 2 * limit)


_QUOTED = re.compile(r"""(["'`])([^"'`\n]{""" + str(SHOWN + 40) + r""",})\1""")
"""A quoted value longer than `SHOWN` and its "… (N more characters)": not cut twice."""


def clipped_sql(expr: str, limit: int = SHOWN, functions: Functions | None = None) -> str:
    """SQL for the text ``expr`` cut to ``limit`` characters, saying how many more there were.
    ``functions`` is the engine's function map (DuckDB's spelling when None: the local DuckDB)."""
    grouped = (functions or Functions()).group_digits(f"length({expr}) - {limit}")
    return (
        f"CASE WHEN length({expr}) > {limit} THEN left({expr}, {limit}) || '… (' || "
        f"{grouped} || ' more characters)' ELSE {expr} END"
    )
