"""Which plan compiles which expectation type, and how a relation's metrics are scanned.

Scan layouts, chosen per relation (`choose_layout`):

* ``single``: every metric in one SELECT over the relation (one pass). Best where each pass
  costs a full read of every row: CSV/JSON files (parsed again on every pass), views and
  subqueries (computed again on every pass).
* ``columns``: one SELECT per set of columns the expectations read (`Plan.columns`). On
  columnar data (Parquet, DuckDB tables, Arrow and data frames) a narrow query reads only its
  columns, and DuckDB answers ``count(*)`` from Parquet metadata and min/max/sum of one column
  with plain, unfiltered aggregates, which is cheaper than carrying every column through one
  wide ``FILTER`` scan (measured in benchmarks/quality.py). Expectations whose columns are not
  known (a SQL row_condition) and the caller's extra expressions share one query.
"""

from __future__ import annotations

from headwater.quality.expectations.aggregates import (
    AggregatePlan,
    ColumnTypePlan,
    DistinctSetPlan,
    MostCommonPlan,
    QuantilePlan,
    TablePlan,
)
from headwater.quality.expectations.columnmaps import (
    BeNull,
    Between,
    CompoundUnique,
    DateutilParseable,
    InSet,
    JsonParseable,
    LengthsBetween,
    LengthsEqual,
    MatchLike,
    MatchLikeList,
    MatchRegex,
    MatchRegexList,
    MulticolumnSum,
    NotInSet,
    NotMatchLike,
    NotMatchLikeList,
    NotMatchRegex,
    NotMatchRegexList,
    NotNull,
    Outliers,
    PairEqual,
    PairGreater,
    PairInSet,
    StrftimeFormat,
    Unique,
    UniqueWithinRecord,
    WindowPlan,
    ZScores,
)
from headwater.quality.expectations.compiler import Plan, Target
from headwater.quality.expectations.config import ExpectationConfig

PLANS: dict[str, type[Plan]] = {
    "expect_column_values_to_not_be_null": NotNull,
    "expect_column_values_to_be_null": BeNull,
    "expect_column_values_to_be_unique": Unique,
    "expect_column_values_to_be_in_set": InSet,
    "expect_column_values_to_not_be_in_set": NotInSet,
    "expect_column_values_to_be_between": Between,
    "expect_column_value_lengths_to_be_between": LengthsBetween,
    "expect_column_value_lengths_to_equal": LengthsEqual,
    "expect_column_values_to_match_regex": MatchRegex,
    "expect_column_values_to_not_match_regex": NotMatchRegex,
    "expect_column_values_to_match_regex_list": MatchRegexList,
    "expect_column_values_to_not_match_regex_list": NotMatchRegexList,
    "expect_column_values_to_match_like_pattern": MatchLike,
    "expect_column_values_to_not_match_like_pattern": NotMatchLike,
    "expect_column_values_to_match_like_pattern_list": MatchLikeList,
    "expect_column_values_to_not_match_like_pattern_list": NotMatchLikeList,
    "expect_column_values_to_match_strftime_format": StrftimeFormat,
    "expect_column_values_to_be_dateutil_parseable": DateutilParseable,
    "expect_column_values_to_be_json_parseable": JsonParseable,
    "expect_column_values_to_be_of_type": ColumnTypePlan,
    "expect_column_values_to_be_in_type_list": ColumnTypePlan,
    "expect_column_type_to_be": ColumnTypePlan,
    "expect_column_values_to_be_increasing": WindowPlan,
    "expect_column_values_to_be_decreasing": WindowPlan,
    "expect_column_value_z_scores_to_be_less_than": ZScores,
    "expect_column_values_to_not_be_outliers": Outliers,
    "expect_column_pair_values_a_to_be_greater_than_b": PairGreater,
    "expect_column_pair_values_to_be_equal": PairEqual,
    "expect_column_pair_values_to_be_in_set": PairInSet,
    "expect_compound_columns_to_be_unique": CompoundUnique,
    "expect_select_column_values_to_be_unique_within_record": UniqueWithinRecord,
    "expect_multicolumn_sum_to_equal": MulticolumnSum,
    "expect_column_quantile_values_to_be_between": QuantilePlan,
    "expect_column_distinct_values_to_be_in_set": DistinctSetPlan,
    "expect_column_distinct_values_to_contain_set": DistinctSetPlan,
    "expect_column_distinct_values_to_equal_set": DistinctSetPlan,
    "expect_column_most_common_value_to_be_in_set": MostCommonPlan,
}


def make_plan(config: ExpectationConfig, target: Target) -> Plan:
    cls = PLANS.get(config.type)
    if cls is None:
        cls = AggregatePlan if config.spec.kind == "aggregate" else TablePlan
    return cls(config, target)


LAYOUTS = ("auto", "single", "columns")
Wanted = dict[int, dict[str, str]]  # plan index -> {metric name: SQL}


def choose_layout(target: Target, layout: str = "auto") -> str:
    """``layout`` if given, else ``columns`` on columnar data and ``single`` elsewhere."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown scan layout `{layout}` (use one of: {', '.join(LAYOUTS)})")
    if layout != "auto":
        return layout
    return "columns" if target.columnar() else "single"


def split(wanted: Wanted, plans: dict[int, Plan], layout: str) -> list[Wanted]:
    """The queries of a scan phase: groups of plans, the first for unknown columns and plans
    reading none (the row count and the caller's extra expressions go there too)."""
    if layout == "single":
        return [wanted]
    first: Wanted = {}
    groups: dict[frozenset[str], Wanted] = {}
    for i, exprs in wanted.items():
        columns = plans[i].columns()
        if not columns:
            first[i] = exprs
        else:
            groups.setdefault(columns, {})[i] = exprs
    merged: dict[frozenset[str], Wanted] = {}
    for columns in sorted(groups, key=len, reverse=True):  # a subset joins a wider group
        home = next((c for c in merged if columns <= c), columns)
        merged.setdefault(home, {}).update(groups[columns])
    return [first, *merged.values()]
