"""PostgreSQL's spelling of the function map, and where its results differ from DuckDB's.

PostgreSQL has no `try_cast`: the safe conversions are session functions created in `pg_temp`
when a connection opens (`SESSION_FUNCTIONS`), so nothing is installed in the user's schemas
and no privilege beyond connecting is needed."""

from __future__ import annotations

from headwater.engines.base import quote_identifier, quote_literal
from headwater.engines.functions import Functions

SESSION_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION pg_temp.hw_try_timestamp(v text) RETURNS timestamp LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN v::timestamptz AT TIME ZONE 'UTC'; EXCEPTION WHEN others THEN
  BEGIN RETURN v::timestamp; EXCEPTION WHEN others THEN RETURN NULL; END;
END $$""",
    """CREATE OR REPLACE FUNCTION pg_temp.hw_json_valid(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN IF v IS NULL THEN RETURN NULL; END IF; PERFORM v::json; RETURN true; EXCEPTION WHEN others THEN RETURN false; END $$""",
    """CREATE OR REPLACE FUNCTION pg_temp.hw_try_numeric(v text) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN v::numeric; EXCEPTION WHEN others THEN RETURN NULL; END $$""",
    """CREATE OR REPLACE FUNCTION pg_temp.hw_try_date(v text) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN v::date; EXCEPTION WHEN others THEN RETURN NULL; END $$""",
)

_STRFTIME_TO_REGEX = {
    "%Y": r"[0-9]{4}", "%m": r"(0[1-9]|1[0-2])", "%d": r"(0[1-9]|[12][0-9]|3[01])", "%H": r"([01][0-9]|2[0-3])",
    "%M": r"[0-5][0-9]", "%S": r"([0-5][0-9]|60)", "%y": r"[0-9]{2}", "%f": r"[0-9]{1,6}", "%j": r"[0-9]{3}",
    "%b": r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)", "%B": r"(January|February|March|April|May|June|July|"
    r"August|September|October|November|December)", "%p": r"(AM|PM)", "%I": r"(0[1-9]|1[0-2])",
    "%z": r"[+-][0-9]{2}:?[0-9]{2}", "%Z": r"[A-Za-z]+", "%%": "%", "%e": r"( [1-9]|[12][0-9]|3[01])",
    "%a": r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun)", "%A": r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
}  # fmt: skip


def strftime_regex(fmt: str) -> str:
    """An anchored POSIX regex accepting what ``fmt`` (strftime) formats, field by field."""
    import re

    out, i = [], 0
    while i < len(fmt):
        two = fmt[i : i + 2]
        if two in _STRFTIME_TO_REGEX:
            out.append(_STRFTIME_TO_REGEX[two])
            i += 2
            continue
        if fmt[i] == "%":
            from headwater.engines.functions import UnsupportedFunction

            raise UnsupportedFunction(
                f"the strftime directive `{two}` cannot be checked on PostgreSQL",
                hint="use %Y %m %d %H %M %S %f %y %j %b %B %a %A %p %I %z %Z %e",
            )
        out.append(re.escape(fmt[i]))
        i += 1
    return "^" + "".join(out) + "$"


_RE2_FLAGS = {"": "p", "s": "s", "m": "n", "ms": "w"}
"""RE2 leading flags (dot matches newline, multi-line) -> ARE newline mode: RE2's default (`.`
stops at a newline, `^`/`$` only at the ends) is ARE's partial newline-sensitive mode `p`."""


def re2_to_are(pattern: str) -> str:
    """A PostgreSQL ARE with the meaning of the RE2 ``pattern`` (what DuckDB and GX read):
    leading flags become ARE options (`(?p)` for none), `\\b`/`\\B`/`\\z` become `\\y`/`\\Y`/`\\Z`,
    `\\xHH` a `\\u` escape. What AREs cannot say (flags after the start, `(?P<name>`, `\\p{..}`,
    `\\Q..\\E`, ungreedy `U`) raises `UnsupportedFunction`."""
    import re

    from headwater.engines.functions import UnsupportedFunction

    def refuse(what: str) -> UnsupportedFunction:
        return UnsupportedFunction(
            f"the regular expression {pattern!r} uses {what}, which PostgreSQL's regular expressions cannot express",
            hint="rewrite it without that construct (flags may only lead the pattern, e.g. (?i)...)",
        )

    flags = ""
    lead = re.match(r"\(\?([imsU]+)\)", pattern)
    body = pattern
    if lead:
        flags, body = lead.group(1), pattern[lead.end() :]
        if "U" in flags:
            raise refuse("the ungreedy flag U")
    mode = _RE2_FLAGS["".join(f for f in "ms" if f in flags)]
    out: list[str] = []
    i, in_class, class_start = 0, False, 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1 : i + 2]
            if nxt in ("p", "P", "Q", "E", "C"):
                raise refuse(f"`\\{nxt}`")
            if nxt == "x":
                braced = re.match(r"\{([0-9A-Fa-f]+)\}", body[i + 2 :])
                digits = braced.group(1) if braced else body[i + 2 : i + 4]
                step = 2 + (braced.end() if braced else 2)
                code = int(digits, 16)
                out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
                i += step
                continue
            if not in_class and nxt in ("b", "B", "z"):
                out.append({"b": "\\y", "B": "\\Y", "z": "\\Z"}[nxt])
            else:
                out.append(c + nxt)
            i += 2
            continue
        if in_class:
            if body.startswith("[:", i):
                end = body.find(":]", i + 2)
                if end >= 0:
                    out.append(body[i : end + 2])
                    i = end + 2
                    continue
            if c == "]" and i > class_start:
                in_class = False
        elif c == "[":
            in_class = True
            class_start = i + 1 + (body[i + 1 : i + 2] == "^")  # a `]` first is a literal
        elif c == "(" and body.startswith("(?", i) and not body.startswith("(?:", i):
            raise refuse("a group with flags or a name")
        out.append(c)
        i += 1
    return f"(?{mode}{'i' if 'i' in flags else ''})" + "".join(out)


class PostgresFunctions(Functions):
    ENGINE = "postgres"
    REGEX_FLAVOUR = "posix"
    NULL_SAFE_KEYS = False
    APPROX_DISTINCT_IS_EXACT = True
    DIFFERENCES = {
        "approx_distinct": "exact count(DISTINCT) (PostgreSQL has no HyperLogLog without an extension): "
        "the value is exact, and slower on large tables",
        "regex_match": "PostgreSQL's POSIX regular expressions (`~`), not RE2: `\\d`, `\\w`, `\\s`, classes, "
        "anchors and quantifiers match alike; lookaround is supported here and refused by RE2",
        "strptime_is_valid": "checked with a regular expression per strftime directive: field ranges "
        "(month 01-12, day 01-31) are checked, calendar validity (31 February) is not",
        "quantile_disc": "percentile_disc: the same value as DuckDB's quantile_disc",
        "key_equal": "a model's unique_key (incremental merge, delete+insert, snapshots, scd) matches with `=`, "
        "as in dbt-postgres: a NULL key never matches (DuckDB matches NULL keys with IS NOT DISTINCT FROM, "
        "which PostgreSQL cannot hash-join: a 200,000-row snapshot ran for minutes); keep unique keys not "
        "null (a not_null test). Loads by primary key stay NULL-safe on both engines",
    }

    def epoch(self, expr: str) -> str:
        return f"extract(epoch FROM {expr})::double precision"

    def epoch_us(self, expr: str) -> str:
        return f"(extract(epoch FROM {expr}) * 1000000)::bigint"

    def now_timestamp(self) -> str:
        return "localtimestamp"

    def now_utc(self) -> str:
        return "(now() AT TIME ZONE 'UTC')"

    def safe_timestamp(self, text_expr: str) -> str:
        return f"pg_temp.hw_try_timestamp(({text_expr})::text)"

    def safe_cast(self, expr: str, type_name: str) -> str:
        kind = type_name.strip().lower()
        if kind.startswith(("timestamp", "datetime")):
            return f"pg_temp.hw_try_timestamp(({expr})::text)"
        if kind == "date":
            return f"pg_temp.hw_try_date(({expr})::text)"
        if kind.startswith(
            ("int", "bigint", "smallint", "numeric", "decimal", "double", "float", "real")
        ):
            return f"CAST(pg_temp.hw_try_numeric(({expr})::text) AS {type_name})"
        return f"CAST({expr} AS {type_name})"

    def strptime_is_valid(self, text_expr: str, formats: list[str]) -> str:
        tests = [f"({text_expr}) ~ {quote_literal(strftime_regex(f))}" for f in formats]
        return "(" + " OR ".join(tests) + ")"

    def regex_match(self, expr: str, pattern_sql: str) -> str:
        return f"(({expr}) ~ {pattern_sql})"

    def json_valid(self, expr: str) -> str:
        return f"pg_temp.hw_json_valid(({expr})::text)"

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def approx_distinct(self, expr: str) -> str:
        return f"count(DISTINCT {expr})"

    def quantile_disc(self, expr: str, q: float) -> str:
        return f"percentile_disc({float(q)!r}) WITHIN GROUP (ORDER BY {expr})"

    def quantile_cont(self, expr: str, q: float) -> str:
        return f"percentile_cont({float(q)!r}) WITHIN GROUP (ORDER BY {expr})"

    def median(self, expr: str) -> str:
        return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {expr})"

    def select_except(self, exclude: list[str], columns: list[str] | None = None) -> str:
        if not exclude:
            return "*"
        if columns is None:
            from headwater.engines.functions import UnsupportedFunction

            raise UnsupportedFunction(
                "PostgreSQL has no `SELECT * EXCLUDE`: the columns must be known"
            )
        dropped = {c.lower() for c in exclude}
        return ", ".join(quote_identifier(c) for c in columns if c.lower() not in dropped)

    def row_tuple(self, exprs: list[str]) -> str:
        return exprs[0] if len(exprs) == 1 else "ROW(" + ", ".join(exprs) + ")"

    def hash_row(self, alias: str) -> str:
        return f"hashtext({alias}::text)::bigint"

    def to_double(self, expr: str) -> str:
        return f"CAST({expr} AS double precision)"

    def group_digits(self, expr: str) -> str:
        return f"to_char({expr}, 'FM999,999,999,999,999,990')"

    def insertion_order_setting(self) -> str | None:
        return None  # an INSERT ... SELECT is written by one process, in the order it reads

    # -- checks and expectations (headwater.quality) -----------------------------------------------
    SUPPORTS_STRUCTS = False
    COLUMNAR = False
    DIFFERENCES = {
        **DIFFERENCES,
        "regex_literal": "RE2 patterns are translated to PostgreSQL AREs with the same meaning (leading flags, "
        "`\\b` -> `\\y`, `.` never matching a newline without (?s)); a negated class `[^a]` does not match a newline "
        "(RE2's does), `\\s` also matches a vertical tab; flags after the start, named groups, `\\p{..}` and "
        "`\\Q..\\E` are refused (UnsupportedFunction)",
        "json_valid": "PostgreSQL's JSON parser (RFC 8259): DuckDB also accepts NaN/Infinity and trailing commas",
        "safe_timestamp": "PostgreSQL's date/time input: also accepts `today`, `now`, `epoch`, `allballs`, month "
        "names and other layouts DuckDB's cast refuses (expect_column_values_to_be_dateutil_parseable)",
        "row_position": "a base table's natural order is its storage order (`ctid`, insertion order for a table "
        "written once, as DuckDB's rowid); views and subqueries are numbered in the order PostgreSQL reads them",
        "order_by_text": "text values are sorted in the database's collation (DuckDB: by code point); the "
        "same under the C collation",
        "median": "percentile_cont(0.5): numeric columns only (DuckDB's median also takes dates, timestamps "
        "and text); expect_column_median_to_be_between on another column is an error naming the engine",
        "type_names": "column types are PostgreSQL's (`integer`, `character varying(20)`, `numeric(10,2)`, "
        "`timestamp without time zone`); type expectations accept PostgreSQL's names and aliases (`int4`, "
        "`int8` = bigint, `float8`, `varchar`, `timestamptz`, `jsonb`) as well as GX/DuckDB names; enum types "
        "are not text columns",
    }

    _TYPES = {
        "VARCHAR": "text", "STRING": "text", "DOUBLE": "double precision", "FLOAT": "real",
        "TINYINT": "smallint", "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint",
        "UBIGINT": "numeric", "HUGEINT": "numeric", "UHUGEINT": "numeric", "BLOB": "bytea",
        "TIMESTAMP_NS": "timestamp", "TIMESTAMP_MS": "timestamp", "TIMESTAMP_S": "timestamp",
        "DATETIME": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz",
    }  # fmt: skip

    def sql_type(self, duckdb_type: str) -> str:
        key = duckdb_type.strip().upper()
        if key in self._TYPES:
            return self._TYPES[key]
        if key.startswith("DECIMAL"):
            return "numeric" + duckdb_type.strip()[len("DECIMAL") :]
        return duckdb_type

    def double_literal(self, text: str) -> str:
        return f"CAST({text} AS double precision)"

    def interval(self, n: int, unit: str) -> str:
        word = unit.lower()
        if not word.isalpha():
            from headwater.engines.functions import UnsupportedFunction

            raise UnsupportedFunction(f"`{unit}` is not an interval unit")
        if word == "quarter":
            n, word = int(n) * 3, "month"
        return f"INTERVAL '{int(n)} {word}'"

    def regex_literal(self, pattern: str) -> str:
        return quote_literal(re2_to_are(pattern))

    def like(self, expr: str, pattern_sql: str, escape_sql: str | None = None) -> str:
        return f"({expr} LIKE {pattern_sql} ESCAPE {escape_sql or quote_literal('')})"

    def list_agg(self, expr: str, order_by: str | None = None, distinct: bool = False) -> str:
        order = f" ORDER BY {order_by}" if order_by else ""
        return f"array_agg({'DISTINCT ' if distinct else ''}{expr}{order})"

    def struct_pack(self, fields: dict[str, str]) -> str:
        from headwater.engines.functions import UnsupportedFunction

        raise UnsupportedFunction("PostgreSQL has no struct values here: ask for parallel lists")

    def quantiles_disc(self, expr: str, qs: list[float]) -> str:
        listed = ", ".join(repr(float(q)) for q in qs)
        return (
            f"percentile_disc(ARRAY[{listed}]::double precision[]) WITHIN GROUP (ORDER BY {expr})"
        )

    def row_id(self) -> str:
        return "ctid"

    def row_position(self, base_table: bool) -> str:
        return "row_number() OVER (ORDER BY ctid) - 1" if base_table else "row_number() OVER () - 1"
