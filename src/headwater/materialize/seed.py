"""Seeds typed as dbt 1.11 + dbt-duckdb 1.11 type them.

dbt reads a seed CSV with agate to *choose* each column's type, creates the table with those
types, and dbt-duckdb then loads the file into it with DuckDB's CSV reader (`COPY ... FROM`). So
the types follow agate's rules and the values follow DuckDB's parsing. headwater does the same in
two DuckDB passes, without agate:

1. **Names**: the header row, read with Python's `csv` module and the seed's `delimiter` (a
   leading BOM dropped); an empty name becomes the column's letter (`a`, `b`, ... `aa`), a
   repeated name gets `_2`, `_3`, ... — agate's rules.
2. **Types**: the file is read once as text (in a private in-memory DuckDB), and each column gets
   the first type, in this order, that every value passes (see `TYPE_RULES` for each test):

   * number -> INTEGER, or DOUBLE if some value has a non-zero fraction (`1.5`; `1.00` does
     not): a decimal number after trimming spaces, with `-`, `+`, `%`, currency signs, `,`,
     `_`, exponents, `nan` and `inf` allowed (DuckDB then cannot load several of those);
   * date -> DATE: `%Y-%m-%d` (`2024-01-05`, `2024-1-5`);
   * datetime -> TIMESTAMP: `%Y-%m-%d %H:%M:%S` (no fraction);
   * iso -> TIMESTAMP: an ISO 8601 date and time joined by `T` (`2024-01-05T10:11`,
     `...T10:11:12.5Z`, `...+02:00`; DuckDB keeps the wall-clock time, dropping the offset);
   * boolean -> BOOLEAN: `true` or `false` in any case;
   * otherwise VARCHAR.

   An empty cell and the word `null` (any case) pass every test, so a column with no values is
   INTEGER. Columns named in `column_types` take that type as written (matched case-sensitively)
   and are not inferred.
3. **Values**: ``SELECT * FROM read_csv(<file>, header = true, delim = ..., columns = {...})``,
   DuckDB's CSV reader with those types — what `COPY ... FROM` does. Where dbt's load fails, this
   fails too: `null` in a non-text column, ` true` (with a space) in a boolean one, a whole
   number beyond INTEGER (headwater says which column and suggests
   `column_types: {col: bigint}`).

The text pass costs one scan per column for the type it ends up with: values that obviously pass
(e.g. `-12`, `2024-01-05`) are checked by a regular expression inside DuckDB; the others are
fetched and checked with the exact rule in Python, stopping at the first that fails.

The type inference and, on engines without DuckDB's file readers, the parsing run on DuckDB as
local compute (`headwater.engines.local`), whatever the target engine.

**Other engines** (PostgreSQL): the file is parsed the same way, by the same `read_csv` on the
local DuckDB, into Arrow (`seed_arrow`); the engine reads that through
`engine.strategies.arrow_relation` (PostgreSQL: a temporary table filled by COPY) and the table
is built from `seed_select`, which gives each column the type dbt's SQL adapters (dbt-postgres
among them, `dbt.adapters.sql.SQLAdapter.convert_*_type`) create a seed column with:
INTEGER -> `integer`, DOUBLE -> `float8` (`double precision`), DATE -> `date`, TIMESTAMP ->
`timestamp without time zone`, BOOLEAN -> `boolean`, VARCHAR -> `text`. A `column_types` entry is
used as written, by the engine: the column is parsed as text locally and cast by the engine
(`CAST(col AS <type>)`), so PostgreSQL's own names (`varchar(20)`, `numeric(10,2)`, `jsonb`) work.
The values are DuckDB's parse on every engine (dbt-postgres loads agate's values instead: an ISO
timestamp with an offset, for one, keeps its wall-clock time here).
"""

from __future__ import annotations

import csv
import re
import string
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_identifier, quote_literal
from headwater.errors import ConfigError, Location

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

INTEGER, DOUBLE, DATE, TIMESTAMP, BOOLEAN, VARCHAR = (
    "INTEGER", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN", "VARCHAR"
)  # fmt: skip
_NULLS = ("", "null")
_CURRENCY = "؋$ƒ៛¥₡₱£€¢﷼₪₩₭₮₦฿₤₫"
"""Signs stripped from both ends of a number, one after the other in this order (agate's)."""
_INT32 = 2**31 - 1
_BATCH = 64


@dataclass(frozen=True)
class SeedColumn:
    name: str
    type: str
    """A DuckDB type name: inferred, or the `column_types` entry as written."""
    forced: bool = False


def seed_select_sql(path: Path, config: dict[str, Any], where: Location | None = None) -> str:
    """The SELECT that reads the seed at ``path`` with dbt's column types."""
    delimiter = _delimiter(config, where)
    columns = seed_columns(path, delimiter, config.get("column_types") or {}, where)
    return read_sql(path, delimiter, [(c.name, c.type) for c in columns])


SQL_ADAPTER_TYPES = {
    INTEGER: "integer", DOUBLE: "float8", DATE: "date", TIMESTAMP: "timestamp without time zone",
    BOOLEAN: "boolean", VARCHAR: "text",
}  # fmt: skip
"""The type dbt's SQL adapters (dbt-postgres) give a seed column dbt inferred as each of these."""


def seed_arrow(
    path: Path, config: dict[str, Any], where: Location | None = None
) -> tuple[pa.Table, list[SeedColumn]]:
    """The seed parsed on the local DuckDB with dbt's types (`column_types` columns as text, for
    the engine to cast as written), and its columns."""
    from headwater.engines import local

    delimiter = _delimiter(config, where)
    columns = seed_columns(path, delimiter, config.get("column_types") or {}, where)
    sql = read_sql(path, delimiter, [(c.name, VARCHAR if c.forced else c.type) for c in columns])
    try:
        return local.fetch_arrow(sql), columns
    except local.error_type() as exc:
        raise ConfigError(
            f"cannot load the seed `{path.name}`: {str(exc).strip()}",
            location=where,
            hint="a value does not fit the column's type: fix the file, or set the type with `column_types`",
        ) from None


def seed_select(relation_sql: str, columns: list[SeedColumn]) -> str:
    """SELECT the parsed seed (``relation_sql``, e.g. a temporary table) with each column cast to
    the type dbt's SQL adapters create (`SQL_ADAPTER_TYPES`), or to its `column_types` entry."""
    casts = [
        f"CAST({quote_identifier(c.name)} AS {c.type if c.forced else SQL_ADAPTER_TYPES.get(c.type, 'text')}) "
        f"AS {quote_identifier(c.name)}"
        for c in columns
    ]
    return f"SELECT {', '.join(casts)} FROM {relation_sql}"


def read_sql(path: Path, delimiter: str, columns: list[tuple[str, str]]) -> str:
    spec = ", ".join(f"{quote_literal(name)}: {quote_literal(type_)}" for name, type_ in columns)
    return (
        f"SELECT * FROM read_csv({quote_literal(str(path))}, header = true, "
        f"delim = {quote_literal(delimiter)}, columns = {{{spec}}})"
    )


def seed_columns(
    path: Path,
    delimiter: str = ",",
    column_types: dict[str, Any] | None = None,
    where: Location | None = None,
) -> list[SeedColumn]:
    """Name and type of each column of the seed, as dbt would create its table."""
    names = header_names(path, delimiter, where)
    forced = {str(k): str(v) for k, v in (column_types or {}).items()}
    inferred = infer_types(path, delimiter, names, set(forced), where)
    return [
        SeedColumn(name, forced[name], True) if name in forced else SeedColumn(name, type_)
        for name, type_ in zip(names, inferred, strict=True)
    ]


# -- names ----------------------------------------------------------------------------------------
def header_names(path: Path, delimiter: str = ",", where: Location | None = None) -> list[str]:
    """The header row with agate's fixes: letters for empty names, `_2`, `_3` for repeats."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            row = next(csv.reader(f, delimiter=delimiter), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read the seed `{path.name}`: {exc}", location=where) from None
    if not row:
        raise ConfigError(
            f"the seed `{path.name}` has no header row",
            location=where,
            hint="a seed's first line names its columns, e.g. `id,name`",
        )
    return dedupe(row)


def dedupe(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names):
        base = name or _letters(i)
        final, n = base, 1
        while final in out:
            n += 1
            final = f"{base}_{n}"
        out.append(final)
    return out


def _letters(index: int) -> str:
    return string.ascii_lowercase[index % 26] * (index // 26 + 1)


def _delimiter(config: dict[str, Any], where: Location | None) -> str:
    value = config.get("delimiter") or ","
    if not isinstance(value, str) or len(value) != 1:
        raise ConfigError(
            f"a seed's `delimiter` must be one character, got `{value!r}`",
            location=where,
            hint="e.g. `delimiter: ';'` or `delimiter: \"\\t\"`",
        )
    return value


# -- exact rules (agate's, as dbt configures it) ----------------------------------------------------
def _null(value: str) -> bool:
    return value.strip().lower() in _NULLS


def parse_number(value: str) -> Decimal | None:
    """The number a cell holds for dbt's type test, or None; raises ValueError if none."""
    text = value.strip()
    if text.lower() in _NULLS:
        return None
    text = text.strip("%")
    sign = 1
    if text[:1] == "-":
        text, sign = text[1:], -1
    for symbol in _CURRENCY:
        text = text.strip(symbol)
    try:
        return Decimal(text.replace(",", "")) * sign
    except (InvalidOperation, ValueError):
        raise ValueError(value) from None


def is_number(value: str) -> bool:
    try:
        parse_number(value)
    except ValueError:
        return False
    return True


def has_fraction(value: str) -> bool:
    """True if the number has decimal places after dropping trailing zeros (`1.50` yes, `1.0` no)."""
    number = parse_number(value)
    if number is None or number.is_nan() or number.is_infinite():
        return False
    exponent = number.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent < 0


def _strptime_rule(fmt: str) -> Callable[[str], bool]:
    def rule(value: str) -> bool:
        text = value.strip()
        if text.lower() in _NULLS:
            return True
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            return False
        return True

    return rule


is_date = _strptime_rule("%Y-%m-%d")
is_datetime = _strptime_rule("%Y-%m-%d %H:%M:%S")


def is_boolean(value: str) -> bool:
    return value.replace(",", "").strip().lower() in (*_NULLS, "true", "false")


_Y = r"(?P<year>[0-9]{4})"
_ISO_DATES = [
    (re.compile(p), kind)
    for p, kind in (
        (_Y + r"-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})", "ymd"),
        (_Y + r"(?P<month>[0-9]{2})(?P<day>[0-9]{2})", "ymd"),
        (_Y + r"-W(?P<week>[0-9]{2})-(?P<wday>[0-9])", "week"),
        (_Y + r"W(?P<week>[0-9]{2})(?P<wday>[0-9])", "week"),
        (_Y + r"-(?P<yday>[0-9]{3})", "ordinal"),
        (_Y + r"(?P<yday>[0-9]{3})", "ordinal"),
        (_Y + r"-W(?P<week>[0-9]{2})", "week"),
        (_Y + r"W(?P<week>[0-9]{2})", "week"),
        (_Y + r"-(?P<month>[0-9]{2})", "ymd"),
        (_Y + r"(?P<month>[0-9]{2})", "ymd"),
        (_Y, "ymd"),
        (r"(?P<century>[0-9]{2})", "century"),
    )
]
_FRACTION = r"(?:[,.][0-9]+)?"
_ZONE = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
_ISO_TIMES = [
    re.compile(r"T?" + p + _ZONE)
    for p in (
        r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2}" + _FRACTION + ")",
        r"(?P<hour>[0-9]{2})(?P<minute>[0-9]{2})(?P<second>[0-9]{2}" + _FRACTION + ")",
        r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}" + _FRACTION + ")",
        r"(?P<hour>[0-9]{2})(?P<minute>[0-9]{2}" + _FRACTION + ")",
        r"(?P<hour>[0-9]{2}" + _FRACTION + ")",
    )
]
_MICRO = Decimal(".000001")


def _iso_date(text: str) -> date:
    """An ISO 8601 date in any of the forms dbt's parser (isodate) accepts; incomplete forms
    (`2024-05`, `2024`, `20` for a century) mean their first day; raises ValueError."""
    for pattern, kind in _ISO_DATES:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        g = m.groupdict()
        if kind == "century":
            return date(int(g["century"]) * 100 + 1, 1, 1)
        year = int(g["year"])
        if kind == "ymd":  # a month `00` counts as January; a day `00` is no date
            month = int(g["month"]) if g.get("month") else 1
            return date(year, month or 1, int(g["day"]) if g.get("day") else 1)
        first = date(year, 1, 1)
        if kind == "ordinal":
            return first + timedelta(days=int(g["yday"]) - 1)
        _, week_of_first, weekday_of_first = first.isocalendar()
        wday = int(g["wday"]) if g.get("wday") is not None else 1
        weeks = int(g["week"]) - (1 if week_of_first == 1 else 0)
        return first + timedelta(weeks=weeks, days=wday - weekday_of_first)
    raise ValueError(text)


def _iso_time(text: str) -> time:
    for pattern in _ISO_TIMES:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        g = {k: v.replace(",", ".") for k, v in m.groupdict().items() if v is not None}
        hour = Decimal(g["hour"])
        minute = Decimal(g["minute"]) if "minute" in g else (hour - int(hour)) * 60
        if "second" in g:
            second = Decimal(g["second"]).quantize(_MICRO, rounding=ROUND_FLOOR)
        elif "minute" in g:
            second = Decimal((minute - int(minute)) * 60).quantize(_MICRO, rounding=ROUND_FLOOR)
        else:
            second = (minute - int(minute)) * 60
        micro = ((second - int(second)) * 1_000_000).to_integral()
        return time(int(hour), int(minute), int(second), int(micro))
    raise ValueError(text)


def is_iso_datetime(value: str) -> bool:
    """An ISO 8601 date and time joined by one `T`, as dbt's ISO test accepts them."""
    text = value.strip()
    if text.lower() in _NULLS:
        return True
    parts = text.split("T")
    if len(parts) != 2:
        return False
    try:
        _iso_date(parts[0])
        _iso_time(parts[1])
    except (ValueError, OverflowError, ArithmeticError):
        return False
    return True


@dataclass(frozen=True)
class TypeRule:
    """One of dbt's candidate types: an exact per-value test, and a SQL test (``{c}`` is the
    column) that accepts only values the exact test accepts — the fast path for common forms."""

    name: str
    duckdb_type: str
    exact: Callable[[str], bool]
    fast_sql: str


_ISO_DATE_SQL = "left({c}, 4) <> '0000' AND TRY_CAST(left({c}, 10) AS DATE) IS NOT NULL"
TYPE_RULES = (
    TypeRule("number", INTEGER, is_number, r"length({c}) <= 25 AND regexp_full_match({c}, '-?[0-9]+(\.[0-9]+)?')"),
    TypeRule("date", DATE, is_date, r"regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND " + _ISO_DATE_SQL),
    TypeRule(
        "datetime", TIMESTAMP, is_datetime,
        r"regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]') AND "
        + _ISO_DATE_SQL,
    ),
    TypeRule(
        "iso", TIMESTAMP, is_iso_datetime,
        r"regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.,][0-9]+)?)?"
        r"(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)?') AND " + _ISO_DATE_SQL,
    ),
    TypeRule("boolean", BOOLEAN, is_boolean, "lower({c}) IN ('true', 'false')"),
)  # fmt: skip
"""In dbt's order of preference; a column none of them fits is VARCHAR."""


# -- inference ------------------------------------------------------------------------------------
def infer_types(
    path: Path,
    delimiter: str,
    names: list[str],
    forced: set[str] | None = None,
    where: Location | None = None,
) -> list[str]:
    """dbt's type of each column (VARCHAR for the ``forced`` ones, which are not looked at)."""
    from headwater.engines import local

    con = local.connection()
    table = f"seed_{uuid.uuid4().hex}"
    text_columns = [(f"c{i}", VARCHAR) for i in range(len(names))]
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS {read_sql(path, delimiter, text_columns)}")
    except local.error_type() as exc:
        raise ConfigError(
            f"cannot read the seed `{path.name}`: {str(exc).strip()}",
            location=where,
            hint="every line needs as many fields as the header; quote fields that hold the delimiter",
        ) from None
    try:
        return [
            VARCHAR
            if name in (forced or set())
            else _Column(con, table, f"c{i}", name).infer(path, where)
            for i, name in enumerate(names)
        ]
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")


@dataclass
class _Column:
    """One text column of the seed, in the temp table ``table`` of the local DuckDB
    (`headwater.engines.local`: this thread's own in-memory database)."""

    con: duckdb.DuckDBPyConnection
    table: str
    column: str
    name: str

    def infer(self, path: Path, where: Location | None) -> str:
        for rule in TYPE_RULES:
            slow = self.undecided(rule)
            if slow is None:
                continue
            if rule.name != "number":
                return rule.duckdb_type
            if self.count(rule.fast_sql, r"regexp_matches({c}, '\.[0-9]*[1-9]')") or any(
                map(has_fraction, slow)
            ):
                return DOUBLE
            self.check_int32(path, where)
            return INTEGER
        return VARCHAR

    def where(self, *conditions: str) -> str:
        c = self.column
        return f"FROM {self.table} WHERE {c} IS NOT NULL" + "".join(
            f" AND ({x.format(c=c)})" for x in conditions
        )

    def count(self, *conditions: str) -> int:
        rows = self.con.execute(f"SELECT count(*) {self.where(*conditions)}").fetchall()
        return int(rows[0][0])

    def undecided(self, rule: TypeRule) -> list[str] | None:
        """The values the fast SQL test leaves undecided, if the exact test accepts them all;
        None as soon as one fails. A first batch is read with LIMIT, so a column that plainly
        is not of the type costs a few rows, not a scan."""
        undecided = self.where(f"NOT ({rule.fast_sql})")
        values = [
            r[0]
            for r in self.con.execute(f"SELECT {self.column} {undecided} LIMIT {_BATCH}").fetchall()
        ]
        if not all(map(rule.exact, values)):
            return None
        if len(values) == _BATCH:
            values = [
                r[0]
                for r in self.con.execute(f"SELECT DISTINCT {self.column} {undecided}").fetchall()
            ]
            if not all(map(rule.exact, values)):
                return None
        return [v for v in values if not _null(v)]

    def check_int32(self, path: Path, where: Location | None) -> None:
        """dbt gives whole numbers INTEGER, and its load fails on one beyond 32 bits: fail the
        same way, but say which column and how to fix it."""
        row = self.con.execute(
            f"SELECT {self.column} "
            + self.where(
                "TRY_CAST({c} AS INTEGER) IS NULL",
                "isfinite(TRY_CAST({c} AS DOUBLE))",
                f"abs(TRY_CAST({{c}} AS DOUBLE)) > {_INT32}",
            )
            + " LIMIT 1"
        ).fetchone()
        if row is not None:
            raise ConfigError(
                f"the seed `{path.stem}` has `{row[0].strip()}` in column `{self.name}`, too large for "
                "INTEGER, the type dbt gives a column of whole numbers (dbt's load fails here too)",
                location=where,
                hint=f"set the column's type in the seed's config: `column_types: {{{self.name}: bigint}}`",
            )
