"""The small map of SQL functions that checks, expectations, metrics and freshness use.

Each engine's ``functions`` module subclasses `Functions` and spells these in its dialect.
Arguments and results are SQL text (expressions over the relation being scanned), so the
callers compose them into their one-scan aggregates. Where an engine cannot express a function
with the same meaning, its subclass says so in `DIFFERENCES` (shown by `headwater docs` and the
README) or raises `UnsupportedFunction`: a check never passes silently.
"""

from __future__ import annotations

from headwater.errors import ConfigError


class UnsupportedFunction(ConfigError):
    """The engine cannot compute this function the way the check needs."""


class Functions:
    """The DuckDB spelling is the reference; engines override what differs."""

    ENGINE = "ansi"
    REGEX_FLAVOUR = "re2"
    """How `regex_match` reads a pattern: `re2` (DuckDB) or `posix` (PostgreSQL's ARE)."""
    APPROX_DISTINCT_IS_EXACT = False
    """True when `approx_distinct` counts exactly (no HyperLogLog on the engine)."""
    DIFFERENCES: dict[str, str] = {}
    """function -> how this engine's result differs from DuckDB's (documented, tested)."""

    # -- time ------------------------------------------------------------------------------------
    def epoch(self, expr: str) -> str:
        """Seconds since 1970-01-01 of a timestamp or date, as a double."""
        return f"epoch({expr})"

    def epoch_us(self, expr: str) -> str:
        """Microseconds since 1970-01-01 of a timestamp, as a bigint."""
        return f"epoch_us({expr})"

    def now_timestamp(self) -> str:
        """The current time as a timestamp without time zone (the session's local time)."""
        return "now()::TIMESTAMP"

    def now_utc(self) -> str:
        """The current UTC time as a timestamp without time zone."""
        return "(now() AT TIME ZONE 'UTC')"

    def safe_timestamp(self, text_expr: str) -> str:
        """``text_expr`` read as a timestamp (with or without offset), NULL when it is not one."""
        return f"coalesce(try_cast({text_expr} AS TIMESTAMP), try_cast({text_expr} AS TIMESTAMPTZ)::TIMESTAMP)"

    def safe_cast(self, expr: str, type_name: str) -> str:
        """``expr`` cast to ``type_name``, NULL when the value does not convert."""
        return f"try_cast({expr} AS {type_name})"

    def strptime_is_valid(self, text_expr: str, formats: list[str]) -> str:
        """True when ``text_expr`` parses with one of the strftime ``formats``."""
        from headwater.engines.base import quote_literal

        fmts = "[" + ", ".join(quote_literal(f) for f in formats) + "]"
        return f"(try_strptime({text_expr}, {fmts}) IS NOT NULL)"

    # -- text ------------------------------------------------------------------------------------
    def regex_match(self, expr: str, pattern_sql: str) -> str:
        """True when the pattern matches anywhere in ``expr`` (a search, not a full match)."""
        return f"regexp_matches({expr}, {pattern_sql})"

    def json_valid(self, expr: str) -> str:
        return f"json_valid({expr})"

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def length(self, expr: str) -> str:
        return f"length({expr})"

    def string_agg(self, expr: str, separator_sql: str, order_by: str | None = None) -> str:
        order = f" ORDER BY {order_by}" if order_by else ""
        return f"string_agg({expr}, {separator_sql}{order})"

    # -- aggregates --------------------------------------------------------------------------------
    def approx_distinct(self, expr: str) -> str:
        return f"approx_count_distinct({expr})"

    def quantile_disc(self, expr: str, q: float) -> str:
        return f"quantile_disc({expr}, {float(q)!r})"

    def quantile_cont(self, expr: str, q: float) -> str:
        return f"quantile_cont({expr}, {float(q)!r})"

    def median(self, expr: str) -> str:
        return f"median({expr})"

    def stddev_samp(self, expr: str) -> str:
        return f"stddev_samp({expr})"

    def bool_and(self, expr: str) -> str:
        return f"bool_and({expr})"

    # -- projections ---------------------------------------------------------------------------------
    def select_except(self, exclude: list[str], columns: list[str] | None = None) -> str:
        """A projection of every column but ``exclude``. ``columns`` (all columns, in order) is
        needed by engines without `* EXCLUDE`."""
        from headwater.engines.base import quote_identifier

        if not exclude:
            return "*"
        return "* EXCLUDE (" + ", ".join(quote_identifier(c) for c in exclude) + ")"

    def row_tuple(self, exprs: list[str]) -> str:
        """One comparable value of several columns (count(DISTINCT ...) of a composite key)."""
        return exprs[0] if len(exprs) == 1 else "row(" + ", ".join(exprs) + ")"

    def hash_row(self, alias: str) -> str:
        """An order-independent content checksum term of a row (summed over a relation)."""
        return f"hash({alias})"

    def to_double(self, expr: str) -> str:
        """``expr`` as a double precision float (metrics' min/max/mean of numeric columns)."""
        return f"CAST({expr} AS DOUBLE)"
