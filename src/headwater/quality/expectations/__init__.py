"""Great Expectations-compatible expectations, compiled to SQL and run in as few scans as possible.

Suites are GX suite JSON or YAML (``name:``, ``expectations:`` in GX's JSON form or the shorthand
``- expect_column_values_to_be_between: {min_value: 0, mostly: 0.9}``); results have GX Core 1.x's
JSON shape (``ExpectationSuiteValidationResult.to_json_dict()``).

Semantics (GX Core 1.x unless noted)

| Topic | Behaviour |
|---|---|
| Map expectations (column values, pairs, multicolumn) | ``element_count`` = rows after ``row_condition``; ``missing_count`` = rows ignored (null in the column; for pairs/multicolumn per ``ignore_row_if``); ``unexpected_percent`` = unexpected / non-missing * 100 (= ``unexpected_percent_nonmissing``); ``unexpected_percent_total`` = unexpected / element_count * 100. ``not_be_null``/``be_null`` have no missing block and divide by element_count. |
| ``mostly`` | success iff (non-missing - unexpected) / non-missing >= mostly, computed exactly (mostly 0.9 with exactly 10 % unexpected passes). No non-missing rows (empty input, all nulls) → success. |
| Uniqueness | every row whose value (or value tuple) occurs more than once is unexpected; nulls are missing. Compound uniqueness groups nulls together (SQL GROUP BY). |
| Sets | nulls in ``value_set`` are ignored; on a text column every value is compared as text. |
| Regex / like / lengths / strftime / JSON / dateutil | text columns only (VARCHAR, ENUM, JSON); regex is RE2 search (``regexp_matches``, partial match, as GX's SQL back ends); ``dateutil_parseable`` is approximated in SQL (ISO 8601 casts plus a list of common layouts, `compiler.DATEUTIL_FORMATS`). |
| Types (``values_to_be_of_type``, ``in_type_list``, ``column_type_to_be``) | checked on the column's DuckDB type, as GX does on SQL back ends (``observed_value`` is the type name). Names: numpy/pandas (``int64``, ``float64``, ``object``, ``datetime64[ns]``), Python (``int``, ``str``, ``bool``), SQL/DuckDB (``INTEGER``, ``DOUBLE``, ``VARCHAR``, ``DECIMAL(10,2)``); family names (``int``, ``float``, ``str``, ``datetime``, ``number``) accept every width; unknown names are configuration errors. |
| Increasing / decreasing | each non-null value against the previous non-null value in the relation's natural order: ``rowid`` for DuckDB tables, else the order DuckDB reads the source (files in order; ``row_number() OVER ()``). |
| Z-scores / outliers | sample standard deviation; z-score unexpected iff ``abs(z) >= threshold`` (``z >= threshold`` one-sided); outliers outside ``[Q1 - k*IQR, Q3 + k*IQR]`` (``quantile_cont``) or ``mean +- k*std``. Fewer than two values → nothing unexpected; a zero standard deviation is an error. |
| Aggregates (min/max/mean/median/sum/stdev, unique counts, proportions, quantiles) | ``observed_value`` from the scan; an observed null (empty input or all nulls) fails, as GX. Proportion of unique values is 0 with no non-null values (GX). Quantiles use ``quantile_disc`` (exact; ``allow_relative_error`` is accepted and ignored). Bounds may be numbers or ISO date strings. |
| Distinct-value sets | verdict computed in SQL over all values; ``observed_value`` (sorted) and ``details.value_counts`` report at most 20 values (``details.value_counts_truncated`` when cut); ``details.missing_values`` lists set values not found. GX 1.2's shape. |
| Most common value | ``observed_value`` = the modes (sorted, ≤ 20); ties_okay: success iff a mode is in the set, else exactly one mode and it is in the set. |
| Table | row counts honour ``row_condition``; ``row_count_to_equal_other_table`` reports ``{"self", "other"}``; column-set mismatches in ``details.mismatched``; ``unexpected_rows_expectation`` replaces ``{batch}`` by the relation, passes on 0 rows, returns ``details.unexpected_rows``. |
| ``row_condition`` | SQL (``condition_parser`` absent, ``sql`` or ``spark``), GX syntax (``great_expectations``: ``col("x")=="y" & col("b").notNull()``, SQL null semantics) or ``pandas`` (``x == "y" and b.notnull()``, pandas two-valued null semantics). |
| ``result_format`` | BOOLEAN_ONLY, BASIC (default), SUMMARY, COMPLETE or GX's dict form. ``partial_unexpected_list`` holds ``partial_unexpected_count`` (20) values; ``partial_unexpected_counts`` are counted over *all* unexpected rows (GX counts its sample), sorted by -count then value; index lists are 0-based row positions, or dicts of ``unexpected_index_column_names``; COMPLETE lists are capped at 200 (GX's MAX_RESULT_RECORDS); ``unexpected_index_query`` is a SQL query returning the unexpected rows. An expectation's own ``result_format`` wins over the run's. |
| Errors | an unknown column, an unsuitable column type or a SQL error gives outcome ``error``, ``success: false`` and ``exception_info`` filled, whatever ``catch_exceptions`` says; the other expectations are still evaluated. |
| Severity | ``critical`` (default), ``warning``, ``info`` (``error``/``warn`` accepted). ``SuiteResult.success`` is False only when a critical expectation failed or errored (``blocking_failures``); the JSON ``success`` keeps GX's meaning: every expectation succeeded. |
| Not supported | suite parameters (``$PARAMETER``), GX 1.24 structured row conditions, ``expect_column_values_to_match_json_schema``, KL divergence, ``expect_multicolumn_values_to_be_equal``, ``expect_query_results_to_match_comparison`` (unknown types are configuration errors). |
"""

from headwater.quality.expectations.api import validate, validate_data_source
from headwater.quality.expectations.catalog import SPECS
from headwater.quality.expectations.config import (
    ExpectationConfig,
    Suite,
    load_suite,
    parse_expectation,
    parse_suite,
)
from headwater.quality.expectations.engine import row_predicate, validate_relation
from headwater.quality.expectations.results import ExpectationResult, SuiteResult

__all__ = [
    "SPECS",
    "ExpectationConfig",
    "ExpectationResult",
    "Suite",
    "SuiteResult",
    "load_suite",
    "parse_expectation",
    "parse_suite",
    "row_predicate",
    "validate",
    "validate_data_source",
    "validate_relation",
]
