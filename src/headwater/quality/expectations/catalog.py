"""The expectation types headwater knows: their domain, kwargs, defaults and kwarg checks.

Each `Spec` is what `parse_expectation` validates a user's expectation against; the SQL for a
type lives in `compiler`. Kwarg checks return an error message (what was expected) or None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from headwater.quality.expectations.typenames import accepted_types

Check = Callable[[Any], str | None]
REQUIRED = object()  # marker default: the kwarg must be given


@dataclass(frozen=True)
class Param:
    default: Any
    check: Check

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Spec:
    """One expectation type.

    ``kind`` is ``map`` (column values, row-level), ``pair`` (two columns, row-level),
    ``multicolumn`` (several columns, row-level), ``aggregate`` (one column, one observed value)
    or ``table``. Row-level kinds take ``mostly``.
    """

    type: str
    kind: str
    params: dict[str, Param] = field(default_factory=dict)
    conditional: bool = True

    @property
    def row_level(self) -> bool:
        return self.kind in ("map", "pair", "multicolumn")

    @property
    def domain(self) -> tuple[str, ...]:
        return {"map": ("column",), "aggregate": ("column",), "pair": ("column_A", "column_B"),
                "multicolumn": ("column_list",)}.get(self.kind, ())  # fmt: skip

    def all_params(self) -> dict[str, Param]:
        out: dict[str, Param] = {}
        for name in self.domain:
            out[name] = Param(REQUIRED, column_list if name == "column_list" else string)
        out.update(COMMON)
        if self.conditional:
            out["row_condition"] = Param(None, optional(condition))
            out["condition_parser"] = Param(None, optional(string))
        if self.row_level:
            out["mostly"] = Param(1.0, proportion)
        if self.kind == "pair":
            out["ignore_row_if"] = Param(
                "both_values_are_missing",
                choice("both_values_are_missing", "either_value_is_missing", "neither"),
            )
        if self.kind == "multicolumn":
            out["ignore_row_if"] = Param(
                "all_values_are_missing",
                choice("all_values_are_missing", "any_value_is_missing", "never"),
            )
        out.update(self.params)
        return out


# -- kwarg checks ---------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def string(value: Any) -> str | None:
    return None if isinstance(value, str) and value != "" else "a non-empty string"


def condition(value: Any) -> str | None:
    """A row_condition: a string, or GX 1.24's structured form (checked when translated)."""
    if isinstance(value, dict) or (isinstance(value, str) and value != ""):
        return None
    return "a non-empty string or a GX structured condition"


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def number(value: Any) -> str | None:
    return None if _is_number(value) else "a number"


def non_negative_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else "a whole number >= 0"


def non_negative(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else "a number >= 0"


def proportion(value: Any) -> str | None:
    return None if _is_number(value) and 0 <= value <= 1 else "a number between 0 and 1"


def bound(value: Any) -> str | None:
    """Bounds of between-type expectations: numbers, or ISO dates/timestamps as strings."""
    return None if _is_number(value) or isinstance(value, str) else "a number or a date string"


def optional(check: Check) -> Check:
    def inner(value: Any) -> str | None:
        if value is None:
            return None
        message = check(value)
        return None if message is None else message + " (or null)"

    return inner


def choice(*options: str) -> Check:
    def inner(value: Any) -> str | None:
        if value in options:
            return None
        return "one of " + ", ".join(f"`{o}`" for o in options)

    return inner


def value_list(value: Any) -> str | None:
    if isinstance(value, list | tuple | set | frozenset):
        bad = [v for v in value if isinstance(v, dict | list)]
        return "a list of plain values (no nested lists or mappings)" if bad else None
    return "a list of values, e.g. [a, b]"


def string_list(value: Any) -> str | None:
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) and v for v in value):
        return None
    return "a non-empty list of strings"


def column_list(value: Any) -> str | None:
    return string_list(value)


def regex(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a regular expression string"
    return regex_problem(value)


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` will not run in DuckDB (RE2), or None."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"a valid regular expression ({exc})"
    if re.search(r"\(\?<?[=!]", pattern):
        return "a regular expression without lookahead/lookbehind (DuckDB uses RE2)"
    if re.search(r"(?<!\\)\\[1-9]", pattern):
        return "a regular expression without backreferences (DuckDB uses RE2)"
    return None


def regex_list(value: Any) -> str | None:
    message = string_list(value)
    if message:
        return "a non-empty list of regular expressions"
    for item in value:
        problem = regex_problem(item)
        if problem:
            return f"{problem} for {item!r}"
    return None


def escape_char(value: Any) -> str | None:
    return None if isinstance(value, str) and len(value) == 1 else "a single character"


def strftime(value: Any) -> str | None:
    if isinstance(value, str) and "%" in value:
        return None
    return "a strftime format string such as %Y-%m-%d"


def type_name(value: Any) -> str | None:
    if isinstance(value, str) and accepted_types(value) is not None:
        return None
    return "a known type name (e.g. int64, INTEGER, float64, DOUBLE, str, VARCHAR, bool, datetime64[ns], DATE, DECIMAL)"


def type_list(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return "a list of type names"
    for item in value:
        if type_name(item):
            return f"a list of known type names (`{item}` is not one)"
    return None


def value_pairs(value: Any) -> str | None:
    if isinstance(value, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 for p in value
    ):
        return None
    return "a list of [A, B] pairs"


def quantile_ranges(value: Any) -> str | None:
    expected = 'a mapping {"quantiles": [0.25, 0.5], "value_ranges": [[lo, hi], [lo, hi]]}'
    if not isinstance(value, dict) or set(value) != {"quantiles", "value_ranges"}:
        return expected
    quantiles, ranges = value["quantiles"], value["value_ranges"]
    if not isinstance(quantiles, list) or any(proportion(q) for q in quantiles):
        return expected + " with quantiles between 0 and 1"
    if not isinstance(ranges, list) or len(ranges) != len(quantiles):
        return expected + " with one value range per quantile"
    for item in ranges:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or any(v is not None and bound(v) for v in item)
        ):
            return expected + " where each value range is [min or null, max or null]"
    return None


def result_format(value: Any) -> str | None:
    levels = ("BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE")
    if isinstance(value, str) and value.upper() in levels:
        return None
    keys = {"result_format", "partial_unexpected_count", "include_unexpected_rows",
            "unexpected_index_column_names", "exclude_unexpected_values",
            "return_unexpected_index_query"}  # fmt: skip
    if isinstance(value, dict) and set(value) <= keys:
        level = value.get("result_format", "BASIC")
        count = value.get("partial_unexpected_count", 20)
        names = value.get("unexpected_index_column_names")
        if (
            isinstance(level, str)
            and level.upper() in levels
            and non_negative_int(count) is None
            and (names is None or string_list(names) is None)
        ):
            return None
    return (
        "BOOLEAN_ONLY, BASIC, SUMMARY or COMPLETE, or a mapping with result_format, "
        "partial_unexpected_count, unexpected_index_column_names, include_unexpected_rows, "
        "exclude_unexpected_values"
    )


def anything(value: Any) -> str | None:
    return None


COMMON: dict[str, Param] = {
    "result_format": Param(None, optional(result_format)),
    "catch_exceptions": Param(True, boolean),
    "include_config": Param(True, boolean),
    "batch_id": Param(None, anything),
    "description": Param(None, optional(string)),
    "windows": Param(None, anything),
}

# -- the catalog ----------------------------------------------------------------------------------

SPECS: dict[str, Spec] = {}


def _spec(name: str, kind: str, conditional: bool = True, **params: Param) -> None:
    SPECS[name] = Spec(name, kind, params, conditional)


class _Bounds(TypedDict):
    min_value: Param
    max_value: Param
    strict_min: Param
    strict_max: Param


def _between(integer: bool = False, unit: Check | None = None) -> _Bounds:
    check = unit or (optional(non_negative_int) if integer else optional(bound))
    return {
        "min_value": Param(None, check),
        "max_value": Param(None, check),
        "strict_min": Param(False, boolean),
        "strict_max": Param(False, boolean),
    }


_P = Param
_spec("expect_column_values_to_not_be_null", "map")
_spec("expect_column_values_to_be_null", "map")
_spec("expect_column_values_to_be_unique", "map")
_spec("expect_column_values_to_be_in_set", "map", value_set=_P(REQUIRED, value_list))
_spec("expect_column_values_to_not_be_in_set", "map", value_set=_P(REQUIRED, value_list))
_spec("expect_column_values_to_be_between", "map", **_between())
_spec("expect_column_value_lengths_to_be_between", "map", **_between(integer=True))
_spec("expect_column_value_lengths_to_equal", "map", value=_P(REQUIRED, non_negative_int))
_spec("expect_column_values_to_match_regex", "map", regex=_P("(?s).*", regex))
_spec("expect_column_values_to_not_match_regex", "map", regex=_P(REQUIRED, regex))
_spec(
    "expect_column_values_to_match_regex_list",
    "map",
    regex_list=_P(REQUIRED, regex_list),
    match_on=_P("any", choice("any", "all")),
)
_spec("expect_column_values_to_not_match_regex_list", "map", regex_list=_P(REQUIRED, regex_list))
_spec(
    "expect_column_values_to_match_like_pattern",
    "map",
    like_pattern=_P(REQUIRED, string),
    escape=_P(None, optional(escape_char)),
)
_spec(
    "expect_column_values_to_not_match_like_pattern",
    "map",
    like_pattern=_P(REQUIRED, string),
    escape=_P(None, optional(escape_char)),
)
_spec(
    "expect_column_values_to_match_like_pattern_list",
    "map",
    like_pattern_list=_P(REQUIRED, string_list),
    match_on=_P("any", choice("any", "all")),
    escape=_P(None, optional(escape_char)),
)
_spec(
    "expect_column_values_to_not_match_like_pattern_list",
    "map",
    like_pattern_list=_P(REQUIRED, string_list),
    escape=_P(None, optional(escape_char)),
)
_spec(
    "expect_column_values_to_match_strftime_format", "map", strftime_format=_P(REQUIRED, strftime)
)
_spec("expect_column_values_to_be_dateutil_parseable", "map")
_spec("expect_column_values_to_be_json_parseable", "map")
_spec("expect_column_values_to_be_of_type", "map", type_=_P(REQUIRED, type_name))
_spec("expect_column_values_to_be_in_type_list", "map", type_list=_P(None, optional(type_list)))
_spec("expect_column_values_to_be_increasing", "map", strictly=_P(None, optional(boolean)))
_spec("expect_column_values_to_be_decreasing", "map", strictly=_P(None, optional(boolean)))
_spec(
    "expect_column_value_z_scores_to_be_less_than",
    "map",
    threshold=_P(REQUIRED, number),
    double_sided=_P(REQUIRED, boolean),
)
_spec(
    "expect_column_values_to_not_be_outliers",
    "map",
    method=_P("iqr", choice("iqr", "std")),
    multiplier=_P(1.5, non_negative),
)

_spec(
    "expect_column_pair_values_a_to_be_greater_than_b", "pair", or_equal=_P(None, optional(boolean))
)
_spec("expect_column_pair_values_to_be_equal", "pair")
_spec("expect_column_pair_values_to_be_in_set", "pair", value_pairs_set=_P(REQUIRED, value_pairs))
_spec("expect_compound_columns_to_be_unique", "multicolumn")
_spec("expect_select_column_values_to_be_unique_within_record", "multicolumn")
_spec("expect_multicolumn_sum_to_equal", "multicolumn", sum_total=_P(REQUIRED, number))

for _stat in ("min", "max", "mean", "median", "sum", "stdev"):
    _spec(f"expect_column_{_stat}_to_be_between", "aggregate", **_between())
_spec("expect_column_unique_value_count_to_be_between", "aggregate", **_between(integer=True))
_spec(
    "expect_column_proportion_of_unique_values_to_be_between",
    "aggregate",
    **_between(unit=optional(proportion)),
)
_spec(
    "expect_column_proportion_of_non_null_values_to_be_between",
    "aggregate",
    **_between(unit=optional(proportion)),
)
_spec(
    "expect_column_quantile_values_to_be_between",
    "aggregate",
    quantile_ranges=_P(REQUIRED, quantile_ranges),
    allow_relative_error=_P(False, anything),
)
for _name in ("be_in", "contain", "equal"):
    _spec(
        f"expect_column_distinct_values_to_{_name}_set",
        "aggregate",
        value_set=_P(REQUIRED, value_list),
    )
_spec(
    "expect_column_most_common_value_to_be_in_set",
    "aggregate",
    value_set=_P(REQUIRED, value_list),
    ties_okay=_P(None, optional(boolean)),
)

_spec("expect_table_row_count_to_be_between", "table", **_between(integer=True))
_spec("expect_table_row_count_to_equal", "table", value=_P(REQUIRED, non_negative_int))
_spec("expect_table_row_count_to_equal_other_table", "table", other_table_name=_P(REQUIRED, string))
_spec(
    "expect_table_column_count_to_be_between", "table", conditional=False, **_between(integer=True)
)
_spec(
    "expect_table_column_count_to_equal",
    "table",
    conditional=False,
    value=_P(REQUIRED, non_negative_int),
)
_spec(
    "expect_table_columns_to_match_set",
    "table",
    conditional=False,
    column_set=_P(None, optional(string_list)),
    exact_match=_P(True, optional(boolean)),
)
_spec(
    "expect_table_columns_to_match_ordered_list",
    "table",
    conditional=False,
    column_list=_P(None, optional(string_list)),
)
_spec(
    "expect_column_to_exist",
    "table",
    conditional=False,
    column=_P(REQUIRED, string),
    column_index=_P(None, optional(non_negative_int)),
)
_spec(
    "expect_column_type_to_be",
    "table",
    conditional=False,
    column=_P(REQUIRED, string),
    type_=_P(REQUIRED, type_name),
)
_spec(
    "unexpected_rows_expectation",
    "table",
    conditional=False,
    unexpected_rows_query=_P(REQUIRED, string),
)

# Expectations whose kwargs name one column although their kind is `table`.
COLUMN_TABLE_TYPES = frozenset({"expect_column_to_exist", "expect_column_type_to_be"})
