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

    # -- keys ------------------------------------------------------------------------------------------
    NULL_SAFE_KEYS = True
    """Whether `key_equal` matches NULL keys (IS NOT DISTINCT FROM) or not (`=`, hash-joinable)."""

    def key_equal(self, left: str, right: str) -> str:
        """Two unique-key values match (merge, delete+insert, snapshots, scd, loads by key)."""
        return (
            f"{left} IS NOT DISTINCT FROM {right}" if self.NULL_SAFE_KEYS else f"{left} = {right}"
        )

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

    # -- loads (headwater.extract.load) ----------------------------------------------------------
    def group_digits(self, expr: str) -> str:
        """An integer as text with `,` between groups of three digits (``9,800``): the counts in
        reject reasons ("… (9,800 more characters)")."""
        return f"format('{{:,}}', {expr})"

    def insertion_order_setting(self) -> str | None:
        """The session setting (a boolean) that makes an INSERT keep its input's row order, which
        the loader turns off while it writes a landing table (DuckDB then writes in parallel);
        None when the engine has no such setting."""
        return "preserve_insertion_order"

    # -- checks and expectations (headwater.quality) -----------------------------------------------
    SUPPORTS_STRUCTS = True
    """An aggregate may return a list of structs (`struct_pack` inside `list_agg`); without them a
    check asks for parallel lists instead."""
    COLUMNAR = True
    """One narrow query per set of columns reads less than one wide scan of a base table
    (columnar storage); on a row store every query reads whole rows, so one scan is cheaper."""

    def sql_type(self, duckdb_type: str) -> str:
        """The engine's spelling of a DuckDB type name, for casts in generated SQL."""
        return duckdb_type

    def double_literal(self, text: str) -> str:
        """A double precision literal from its text (``'NaN'``, ``'Infinity'``)."""
        return f"{text}::DOUBLE"

    def interval(self, n: int, unit: str) -> str:
        """An interval of ``n`` ``unit``s (second, minute, hour, day, week, month, quarter, year)."""
        return f"INTERVAL ({int(n)}) {unit.upper()}"

    def regex_literal(self, pattern: str) -> str:
        """``pattern``, written in RE2 syntax (what DuckDB and GX's SQL back ends read), as a SQL
        literal `regex_match` reads with the same meaning on this engine; `UnsupportedFunction`
        when the engine cannot express it."""
        from headwater.engines.base import quote_literal

        return quote_literal(pattern)

    def like(self, expr: str, pattern_sql: str, escape_sql: str | None = None) -> str:
        """``expr LIKE pattern`` where only ``escape_sql`` (if given) escapes: no default escape
        character, as in DuckDB."""
        return f"({expr} LIKE {pattern_sql}" + (f" ESCAPE {escape_sql})" if escape_sql else ")")

    def list_agg(self, expr: str, order_by: str | None = None, distinct: bool = False) -> str:
        """The values of ``expr`` as a list (an array), in ``order_by`` order."""
        order = f" ORDER BY {order_by}" if order_by else ""
        return f"list({'DISTINCT ' if distinct else ''}{expr}{order})"

    def struct_pack(self, fields: dict[str, str]) -> str:
        """One struct value of named fields (only where `SUPPORTS_STRUCTS`)."""
        from headwater.engines.base import quote_literal

        return "{" + ", ".join(f"{quote_literal(k)}: {v}" for k, v in fields.items()) + "}"

    def quantiles_disc(self, expr: str, qs: list[float]) -> str:
        """The discrete quantiles ``qs`` of ``expr`` as one list, with a single sort."""
        return f"quantile_disc({expr}, [{', '.join(repr(float(q)) for q in qs)}])"

    def row_id(self) -> str:
        """The pseudo-column that identifies a row of a base table (ordered like the table's
        storage: insertion order for a table written once)."""
        return "rowid"

    def row_position(self, base_table: bool) -> str:
        """A 0-based position of each row in the relation's natural order: the storage order of
        a base table, else the order the engine reads the relation in."""
        return "rowid" if base_table else "row_number() OVER () - 1"
