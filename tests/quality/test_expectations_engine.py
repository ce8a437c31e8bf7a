"""The scan plan: few statements, isolation of broken expectations, suite results."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.quality.expectations import parse_expectation, row_predicate, validate_relation
from tests.quality.test_expectations_helpers import Runner

SCHEMA = "id INTEGER, status VARCHAR, amount DOUBLE, email VARCHAR, created DATE"
ROWS = [
    (1, "paid", 10.0, "a@x.com", "2024-01-01"),
    (2, "paid", 20.0, "b@x.com", "2024-01-02"),
    (3, "refunded", -5.0, "c@x", "2024-01-03"),
    (4, None, 30.0, None, "2024-01-04"),
    (5, "paid", 25.0, "e@x.com", None),
]


def twenty() -> list[dict]:
    return [
        {"expect_column_values_to_not_be_null": {"column": "id"}},
        {"expect_column_values_to_be_unique": {"column": "id"}},
        {"expect_column_values_to_be_unique": {"column": "id", "mostly": 0.5}},
        {
            "expect_column_values_to_be_in_set": {
                "column": "status",
                "value_set": ["paid", "refunded"],
            }
        },
        {"expect_column_values_to_not_be_in_set": {"column": "status", "value_set": ["lost"]}},
        {
            "expect_column_values_to_be_between": {
                "column": "amount",
                "min_value": -10,
                "max_value": 100,
            }
        },
        {"expect_column_values_to_match_regex": {"column": "email", "regex": "@"}},
        {"expect_column_value_lengths_to_be_between": {"column": "email", "min_value": 3}},
        {"expect_column_values_to_match_like_pattern": {"column": "email", "like_pattern": "%@%"}},
        {"expect_column_values_to_be_between": {"column": "created", "min_value": "2024-01-01"}},
        {"expect_column_min_to_be_between": {"column": "amount", "min_value": -10}},
        {"expect_column_max_to_be_between": {"column": "amount", "max_value": 100}},
        {"expect_column_mean_to_be_between": {"column": "amount", "min_value": 0}},
        {"expect_column_median_to_be_between": {"column": "amount", "min_value": 0}},
        {"expect_column_sum_to_be_between": {"column": "amount", "min_value": 0}},
        {"expect_column_stdev_to_be_between": {"column": "amount", "max_value": 100}},
        {"expect_column_unique_value_count_to_be_between": {"column": "status", "max_value": 5}},
        {
            "expect_column_proportion_of_non_null_values_to_be_between": {
                "column": "status",
                "min_value": 0.5,
            }
        },
        {"expect_table_row_count_to_be_between": {"min_value": 1}},
        {
            "expect_column_values_to_be_in_set": {
                "column": "status",
                "value_set": ["paid"],
                "row_condition": "amount > 0",
            }
        },
    ]


def test_twenty_expectations_pass_in_one_scan() -> None:
    runner = Runner(SCHEMA, ROWS)
    result = runner.run(*twenty(), columns=[("id", "INTEGER"), ("status", "VARCHAR"), ("amount", "DOUBLE"),
                                            ("email", "VARCHAR"), ("created", "DATE")], layout="single")  # fmt: skip
    assert all(r.outcome == "pass" for r in result.results), [
        r.to_json_dict() for r in result.results if r.outcome != "pass"
    ]
    assert len(runner.statements) == 1, runner.statements
    assert (
        runner.statements[0].count(' FROM "t" WHERE') <= 1
    )  # one uniqueness count shared by two expectations
    assert result.row_count == 5


def test_failures_only_add_sample_queries() -> None:
    runner = Runner(SCHEMA, ROWS)
    exps = twenty()
    exps[3] = {
        "expect_column_values_to_be_in_set": {"column": "status", "value_set": ["paid"]}
    }  # fails
    exps[6] = {
        "expect_column_values_to_match_regex": {"column": "email", "regex": r"\.com$"}
    }  # fails
    exps[12] = {
        "expect_column_mean_to_be_between": {"column": "amount", "min_value": 100}
    }  # fails, no sample
    result = runner.run(*exps, layout="single")
    assert [i for i, r in enumerate(result.results) if r.outcome != "pass"] == [3, 6, 12]
    # DESCRIBE + one scan + one sample per failing map expectation
    assert len(runner.statements) == 1 + 1 + 2, runner.statements
    assert result.results[3].result["partial_unexpected_list"] == ["refunded"]
    assert result.results[6].result["partial_unexpected_list"] == ["c@x"]


def test_phase_two_is_one_more_scan_for_all_dependent_expectations() -> None:
    runner = Runner(SCHEMA, ROWS)
    result = runner.run(
        {
            "expect_column_value_z_scores_to_be_less_than": {
                "column": "amount",
                "threshold": 3,
                "double_sided": True,
            }
        },
        {"expect_column_values_to_not_be_outliers": {"column": "amount", "multiplier": 3}},
        {
            "expect_column_values_to_not_be_outliers": {
                "column": "id",
                "method": "std",
                "multiplier": 3,
            }
        },
        columns=[("id", "INTEGER"), ("amount", "DOUBLE")],
        layout="single",
    )
    assert all(r.outcome == "pass" for r in result.results)
    assert len(runner.statements) == 2


def test_broken_expectation_is_an_error_and_neighbours_still_run() -> None:
    runner = Runner(SCHEMA, ROWS)
    result = runner.run(
        {"expect_column_values_to_not_be_null": {"column": "id"}},
        {
            "expect_column_values_to_be_between": {
                "column": "amount",
                "min_value": 0,
                "row_condition": "no_such_col > 1",
            }
        },
        {"expect_column_mean_to_be_between": {"column": "status", "min_value": 0}},
        {"expect_column_values_to_match_regex": {"column": "id", "regex": "1"}},
        {"expect_column_values_to_be_unique": {"column": "idd"}},
        {
            "expect_column_values_to_be_in_set": {
                "column": "status",
                "value_set": ["paid", "refunded"],
            }
        },
        extra_scan=["count(*) FILTER (WHERE amount < 0)", "sum(nonexistent)"],
    )
    outcomes = [r.outcome for r in result.results]
    assert outcomes == ["pass", "error", "error", "error", "error", "pass"]
    broken = result.results[1].to_json_dict()
    assert broken["success"] is False
    assert broken["result"] == {}
    assert broken["exception_info"]["raised_exception"] is True
    assert "no_such_col" in broken["exception_info"]["exception_message"]
    assert "numeric column" in result.results[2].exception_info["exception_message"]
    assert "text column" in result.results[3].exception_info["exception_message"]
    assert "did you mean `id`" in result.results[4].exception_info["exception_message"]
    assert result.extra_values[0] == 1 and result.extra_values[1] is None
    assert result.extra_errors[1] is not None
    assert result.row_count == 5


def test_missing_relation_gives_errors_not_an_exception() -> None:
    runner = Runner(SCHEMA, ROWS)
    configs = [parse_expectation({"expect_column_values_to_not_be_null": {"column": "id"}})]
    result = validate_relation(runner.execute, '"nope"', configs)
    assert result.results[0].outcome == "error"
    assert result.row_count is None


def test_suite_result_json_shape_and_severity() -> None:
    runner = Runner(SCHEMA, ROWS)
    result = runner.run(
        {"expect_column_values_to_not_be_null": {"column": "status", "severity": "warning"}},
        {"expect_column_values_to_be_unique": {"column": "id"}},
        suite_name="orders",
    )
    assert result.success is True  # only a warning failed
    assert result.blocking_failures == []
    doc = result.to_json_dict()
    json.dumps(doc)
    assert doc["success"] is False  # GX semantics: every expectation must succeed
    assert doc["suite_name"] == "orders"
    assert doc["suite_parameters"] == {}
    assert doc["statistics"] == {"evaluated_expectations": 2, "successful_expectations": 1,
                                 "unsuccessful_expectations": 1, "success_percent": 50.0}  # fmt: skip
    assert set(doc["results"][0]) == {
        "success",
        "expectation_config",
        "result",
        "meta",
        "exception_info",
    }
    assert doc["results"][0]["expectation_config"]["severity"] == "warning"
    critical = runner.run({"expect_column_values_to_not_be_null": {"column": "status"}})
    assert critical.success is False and len(critical.blocking_failures) == 1


def test_mostly_point_nine_with_exactly_ten_percent_passes() -> None:
    runner = Runner("x INTEGER", [(i,) for i in range(9)] + [(100,)])
    kw = {"column": "x", "max_value": 10}
    assert (
        runner.run({"expect_column_values_to_be_between": {**kw, "mostly": 0.9}}).results[0].success
        is True
    )
    assert (
        runner.run({"expect_column_values_to_be_between": {**kw, "mostly": 0.91}})
        .results[0]
        .success
        is False
    )


def test_other_table_uses_resolver() -> None:
    runner = Runner("x INTEGER", [(1,), (2,)])
    runner.con.execute("CREATE SCHEMA s; CREATE TABLE s.o AS SELECT 1 AS y UNION ALL SELECT 2")
    config = parse_expectation(
        {"expect_table_row_count_to_equal_other_table": {"other_table_name": "o"}}
    )
    result = validate_relation(
        runner.execute, '"t"', [config], resolve_table=lambda name: f's."{name}"'
    )
    assert result.results[0].success is True
    assert result.results[0].result == {"observed_value": {"self": 2, "other": 2}}
    config = parse_expectation(
        {"expect_table_row_count_to_equal_other_table": {"other_table_name": "s.o"}}
    )
    assert validate_relation(runner.execute, '"t"', [config]).results[0].success is True


def test_subquery_relation_and_dates_in_results() -> None:
    runner = Runner(SCHEMA, ROWS)
    configs = [parse_expectation({"expect_column_values_to_be_between": {"column": "created", "max_value": "2024-01-02"}}),
               parse_expectation({"expect_column_max_to_be_between": {"column": "created", "max_value": "2024-12-31"}})]  # fmt: skip
    result = validate_relation(runner.execute, "(SELECT * FROM t WHERE id > 1)", configs)
    assert result.results[0].result["partial_unexpected_list"] == ["2024-01-03", "2024-01-04"]
    assert result.results[1].result == {"observed_value": "2024-01-04"}
    json.dumps(result.to_json_dict())


text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(text, min_size=1, max_size=6), probe=text)
def test_value_set_literals_round_trip(values: list[str], probe: str) -> None:
    """Any string, quotes and backslashes included, is compared as itself."""
    runner = Runner("x VARCHAR", [(v,) for v in values] + [(probe,)])
    result = runner.run(
        {"expect_column_values_to_be_in_set": {"column": "x", "value_set": values}}
    ).results[0]
    assert result.outcome != "error"
    assert result.result["unexpected_count"] == (0 if probe in values else 1)
    config = parse_expectation(
        {"expect_column_values_to_not_be_in_set": {"column": "x", "value_set": [probe]}}
    )
    predicate = row_predicate(config, '"t"')
    found = runner.execute(f"SELECT x FROM t WHERE {predicate}")[1]
    assert [r[0] for r in found] == [v for v in [*values, probe] if v == probe]
