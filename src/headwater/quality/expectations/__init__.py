"""Great Expectations-compatible expectations, compiled to SQL and run in as few scans as possible.

Suites are GX suite JSON or YAML (``name:``, ``expectations:`` in GX's JSON form or the shorthand
``- expect_column_values_to_be_between: {min_value: 0, mostly: 0.9}``); results have GX Core 1.x's
JSON shape (``ExpectationSuiteValidationResult.to_json_dict()``).

Semantics (GX Core 1.x unless noted)

| Topic | Behaviour |
|---|---|
| Back ends | results follow the GX back end users compare with for the input: files, Arrow tables and data frames (``headwater.validate``, ``headwater validate FILE``) follow GX's pandas back end (pandas dtypes, pandas' values for empty input, pandas logic for GX-syntax and structured row conditions); warehouse tables (``headwater validate TABLE`` with a project, expectations in ``build``) follow GX's SQL back ends (DuckDB types, SQL nulls). Verdicts of type expectations are the same on both. |
| Map expectations (column values, pairs, multicolumn) | ``element_count`` = rows after ``row_condition``; ``missing_count`` = rows ignored (null in the column; for pairs/multicolumn per ``ignore_row_if``); ``unexpected_percent`` = unexpected / non-missing * 100 (= ``unexpected_percent_nonmissing``); ``unexpected_percent_total`` = unexpected / element_count * 100. ``not_be_null``/``be_null`` have no missing block and divide by element_count. |
| ``mostly`` | success iff (non-missing - unexpected) / non-missing >= mostly, computed exactly (mostly 0.9 with exactly 10 % unexpected passes). No non-missing rows (empty input, all nulls) → success. |
| Uniqueness | every row whose value (or value tuple) occurs more than once is unexpected; nulls are missing. Compound uniqueness groups nulls together (SQL GROUP BY). |
| Sets | nulls in ``value_set`` are ignored; on a text column every value is compared as text. |
| Regex / like / lengths / strftime / JSON / dateutil | text columns only (VARCHAR, ENUM, JSON); regex is RE2 search (``regexp_matches``, partial match, as GX's SQL back ends); ``dateutil_parseable`` is approximated in SQL (ISO 8601 casts plus a list of common layouts, `compiler.DATEUTIL_FORMATS`). |
| Types (``values_to_be_of_type``, ``in_type_list``, ``column_type_to_be``) | the verdict is checked on the column's DuckDB type, as GX does on SQL back ends. ``observed_value`` follows the back end: on warehouse tables the DuckDB type name; on files, Arrow and data frames the pandas dtype GX's pandas back end reports — ``str(dtype)`` for ``column_type_to_be`` (``int64``, ``float64``, ``str`` (pandas 3) or ``object``, ``bool``, ``datetime64[us]``), ``dtype.type.__name__`` for the other two (``int64``, ``datetime64``, ``object_``) — with the DuckDB type in ``details.engine_type``: a data frame's own dtypes, else the dtype pandas gives the column from Arrow (an integer column holding nulls is ``float64``, a boolean one ``object``; ``pandastypes``). Names: numpy/pandas (``int64``, ``float64``, ``object``, ``datetime64[ns]``), Python (``int``, ``str``, ``bool``), SQL/DuckDB (``INTEGER``, ``DOUBLE``, ``VARCHAR``, ``DECIMAL(10,2)``); family names (``int``, ``float``, ``str``, ``datetime``, ``number``) accept every width; unknown names are configuration errors. |
| Increasing / decreasing | each non-null value against the previous non-null value in the relation's natural order: ``rowid`` for DuckDB tables, else the order DuckDB reads the source (files in order; ``row_number() OVER ()``). |
| Z-scores / outliers | sample standard deviation; z-score unexpected iff ``abs(z) >= threshold`` (``z >= threshold`` one-sided); outliers outside ``[Q1 - k*IQR, Q3 + k*IQR]`` (``quantile_cont``) or ``mean +- k*std``. Fewer than two values → nothing unexpected; a zero standard deviation is an error. |
| Aggregates (min/max/mean/median/sum/stdev, unique counts, proportions, quantiles) | ``observed_value`` from the scan; an observed null (empty input or all nulls) fails, as GX. With no values, files and frames follow pandas (GX's pandas back end): a sum of 0 (0.0 on a float column), ``"NaT"`` for the min/max of a datetime column (fails with a bound, passes without); warehouse tables keep SQL's null. The proportion of non-null values of no rows is 0 (GX, every back end); the proportion of unique values is 0 with no non-null values (GX). Quantiles use ``quantile_disc`` (exact; ``allow_relative_error`` is accepted and ignored). Bounds may be numbers or ISO date strings. |
| Distinct-value sets | verdict computed in SQL over all values; GX 1.24's counts: ``unexpected_count`` (distinct values outside the set) with ``partial_unexpected_list`` for ``be_in_set``/``equal_set``, ``missing_count`` (set values never seen) with ``partial_missing_list`` for ``contain_set``/``equal_set`` (lists sorted, at most 20, left out when ``partial_unexpected_count`` is 0); also GX 1.2's ``observed_value`` (the sorted distinct values, GX 1.24 reports null) and ``details.value_counts`` (at most 20, ``details.value_counts_truncated`` when cut) and ``details.missing_values``. |
| Most common value | ``observed_value`` = the modes (sorted, ≤ 20); ties_okay: success iff a mode is in the set, else exactly one mode and it is in the set. |
| Table | row counts honour ``row_condition``; ``row_count_to_equal_other_table`` reports ``{"self", "other"}``; ``columns_to_match_set`` reports the columns sorted (GX, every back end), mismatches sorted in ``details.mismatched`` with only the non-empty side(s); ``unexpected_rows_expectation`` replaces ``{batch}`` by the relation, passes on 0 rows, returns ``details.unexpected_rows``. |
| ``row_condition`` | SQL (``condition_parser`` absent, ``sql`` or ``spark``; must be exactly one expression: no ``;``, no comments, no statements), GX syntax (``great_expectations``: ``col("x")=="y" & col("b").notNull()``, ``col("s").isin(["a", "b"])``, ``~``), GX 1.24's structured form as GX saves suites (``{"type": "comparison", "column": {"name": "x"}, "operator": "==", "parameter": 5}`` with ``== != < <= > >= IN NOT_IN``, ``nullity`` with ``is_null``, ``and``/``or`` with ``conditions``, ``pass_through``) or ``pandas`` (``x == "y" and b.notnull()``, always pandas two-valued null semantics). GX syntax and structured conditions are the same thing in GX 1.24 and follow the back end: pandas' two-valued logic on files and frames (``s != "a"`` keeps rows where ``s`` is null), SQL's on warehouse tables. |
| ``result_format`` | BOOLEAN_ONLY, BASIC (default), SUMMARY, COMPLETE or GX's dict form. ``partial_unexpected_list`` holds ``partial_unexpected_count`` (20) values; ``partial_unexpected_counts`` are counted over *all* unexpected rows (GX counts its sample), sorted by -count then value; index lists are 0-based row positions, or dicts of ``unexpected_index_column_names``; COMPLETE lists are capped at 200 (GX's MAX_RESULT_RECORDS); ``unexpected_index_query`` is a SQL query returning the unexpected rows. An expectation's own ``result_format`` wins over the run's. |
| Errors | an unknown column, an unsuitable column type or a SQL error gives outcome ``error``, ``success: false`` and ``exception_info`` filled, whatever ``catch_exceptions`` says; the other expectations are still evaluated. |
| Severity | ``critical`` (default), ``warning``, ``info`` (``error``/``warn`` accepted). ``SuiteResult.success`` is False only when a critical expectation failed or errored (``blocking_failures``); the JSON ``success`` keeps GX's meaning: every expectation succeeded. |
| Suites are data | SQL row conditions and ``unexpected_rows_query`` (exactly one SELECT; a trailing ``;`` is dropped) are checked with sqlglot and DuckDB's parser before use, and refused with a configuration error naming the suite file and expectation; column names are always quoted identifiers; every generated statement is checked to be exactly one SELECT before it runs. |
| Engines | DuckDB and PostgreSQL warehouses: the SQL that differs comes from the engine's function map (`headwater.engines.functions`), so every expectation gives the same result on both, except as listed below. On PostgreSQL (a row store) every metric of a relation is computed in one scan (the ``single`` layout), dbt checks of the relation included. |
| Not supported | suite parameters (``$PARAMETER``), ``expect_column_values_to_match_json_schema``, KL divergence, ``expect_multicolumn_values_to_be_equal``, ``expect_query_results_to_match_comparison`` (unknown types are configuration errors). |

On PostgreSQL (each also in `PostgresFunctions.DIFFERENCES`, and tested in
``tests/engines/test_expectations.py`` with a ``differs`` marker or an error check):

| Expectation | On PostgreSQL |
|---|---|
| ``match_regex`` and the other regex expectations | the RE2 pattern is translated to a PostgreSQL ARE of the same meaning (leading flags, ``\\b`` → ``\\y``, ``.`` stops at a newline unless ``(?s)``); a negated class ``[^x]`` does not match a newline (RE2's does). Flags after the start, named groups ``(?P<n>...)``, ``\\p{..}`` and ``\\Q..\\E`` are an ``error`` outcome naming PostgreSQL (`UnsupportedFunction`), never a silent pass. |
| ``match_like_pattern`` (and lists) | the same: no default escape character (``ESCAPE ''`` is added; PostgreSQL's default is a backslash). |
| ``match_strftime_format`` | a regular expression per directive: fields must be zero-padded and in range (month 01-12, day 01-31); the calendar is not checked (``2024-02-31`` passes; DuckDB's ``strptime`` refuses it and accepts ``2024-1-5``). |
| ``dateutil_parseable`` | PostgreSQL's date/time input: also accepts ``today``, ``now``, ``epoch`` and other words DuckDB's cast refuses. |
| ``json_parseable`` | PostgreSQL's JSON parser (RFC 8259): ``NaN``, ``Infinity`` and trailing commas are unexpected (DuckDB accepts them). |
| ``values_to_be_of_type``, ``in_type_list``, ``column_type_to_be`` | the verdict uses the PostgreSQL type's DuckDB equivalent, and PostgreSQL's names are accepted (``integer``, ``int4``, ``float8``, ``varchar``, ``character varying(20)``, ``numeric(10,2)``, ``timestamptz``, ``jsonb``); ``int8`` means bigint (numpy's 8-bit integer elsewhere); ``observed_value`` is PostgreSQL's ``format_type`` name (``integer``, not ``INTEGER``). Enum types are not text columns. |
| ``median_to_be_between`` | ``percentile_cont(0.5)``: numeric columns only; on a date or text column the outcome is an ``error`` naming PostgreSQL. |
| ``mean``/``stdev``/z-scores on integer or numeric columns | computed in ``numeric`` (DuckDB: double): the observed value may differ in the last digits. |
| ``quantile_values_to_be_between`` | ``percentile_disc``: the same values as DuckDB's ``quantile_disc``. |
| ``increasing``/``decreasing`` | a table's natural order is its storage order (``ctid``: insertion order for a table written once, as DuckDB's ``rowid``); views and subqueries are numbered in the order PostgreSQL reads them. |
| Sorted value lists (distinct values, modes, ``partial_unexpected_counts`` ties) | text sorts in the database's collation (DuckDB: by code point); the same under ``C``. |
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
from headwater.quality.expectations.evaluate import row_predicate, validate_relation
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
