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


class PostgresFunctions(Functions):
    ENGINE = "postgres"
    REGEX_FLAVOUR = "posix"
    APPROX_DISTINCT_IS_EXACT = True
    DIFFERENCES = {
        "approx_distinct": "exact count(DISTINCT) (PostgreSQL has no HyperLogLog without an extension): "
        "the value is exact, and slower on large tables",
        "regex_match": "PostgreSQL's POSIX regular expressions (`~`), not RE2: `\\d`, `\\w`, `\\s`, classes, "
        "anchors and quantifiers match alike; lookaround is supported here and refused by RE2",
        "strptime_is_valid": "checked with a regular expression per strftime directive: field ranges "
        "(month 01-12, day 01-31) are checked, calendar validity (31 February) is not",
        "quantile_disc": "percentile_disc: the same value as DuckDB's quantile_disc",
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
        if kind.startswith(("int", "bigint", "smallint", "numeric", "decimal", "double", "float", "real")):
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

            raise UnsupportedFunction("PostgreSQL has no `SELECT * EXCLUDE`: the columns must be known")
        dropped = {c.lower() for c in exclude}
        return ", ".join(quote_identifier(c) for c in columns if c.lower() not in dropped)

    def row_tuple(self, exprs: list[str]) -> str:
        return exprs[0] if len(exprs) == 1 else "ROW(" + ", ".join(exprs) + ")"

    def hash_row(self, alias: str) -> str:
        return f"hashtext({alias}::text)::bigint"

    def to_double(self, expr: str) -> str:
        return f"CAST({expr} AS double precision)"
