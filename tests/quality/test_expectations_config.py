"""Parsing expectations and suites: accepted forms and helpful errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.errors import ConfigError, Location
from headwater.quality.expectations import load_suite, parse_expectation, parse_suite


def test_three_forms_give_the_same_config() -> None:
    gx = parse_expectation({"type": "expect_column_values_to_be_between",
                            "kwargs": {"column": "x", "min_value": 0, "mostly": 0.9},
                            "meta": {"owner": "me"}, "severity": "warning"})  # fmt: skip
    short = parse_expectation(
        {
            "expect_column_values_to_be_between": {
                "min_value": 0,
                "mostly": 0.9,
                "severity": "warn",
                "meta": {"owner": "me"},
            }
        },
        column="x",
    )
    assert gx == short
    assert gx.to_json_dict() == {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "x", "min_value": 0, "mostly": 0.9},
        "meta": {"owner": "me"},
        "severity": "warning",
    }
    bare = parse_expectation("expect_column_values_to_be_unique", column="id")
    assert bare.kwargs == {"column": "id"} and bare.column == "id"
    legacy = parse_expectation(
        {
            "expectation_type": "expect_column_to_exist",
            "kwargs": {"column": "a"},
            "id": "u1",
            "notes": "n",
        }
    )
    assert legacy.to_json_dict()["id"] == "u1" and legacy.to_json_dict()["notes"] == "n"
    assert (
        parse_expectation({"expect_column_values_to_not_be_null": None}, column="a").severity
        == "critical"
    )
    assert (
        parse_expectation(
            {"expect_column_values_to_not_be_null": {"severity": "error"}}, column="a"
        ).severity
        == "critical"
    )


def test_declared_column_does_not_override_an_explicit_one() -> None:
    assert (
        parse_expectation({"expect_column_values_to_be_unique": {"column": "b"}}, column="a").column
        == "b"
    )


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        (
            "expect_column_values_to_be_uniqe",
            ["unknown expectation type", "did you mean `expect_column_values_to_be_unique`"],
        ),
        ("column_values_to_be_unique", ["did you mean `expect_column_values_to_be_unique`"]),
        (
            {"expect_column_values_to_be_in_set": {"column": "a", "value_sett": [1]}},
            [
                "expect_column_values_to_be_in_set",
                "unknown argument `value_sett`",
                "did you mean `value_set`",
            ],
        ),
        (
            {"expect_column_values_to_be_in_set": {"column": "a"}},
            ["missing required argument `value_set`", "hint:"],
        ),
        (
            "expect_column_values_to_be_unique",
            ["missing required argument `column`", "declare it under a column"],
        ),
        (
            {"expect_column_values_to_be_in_set": {"column": "a", "value_set": "abc"}},
            ["`value_set` must be a list"],
        ),
        (
            {"expect_column_values_to_be_in_set": {"column": "a", "value_set": [1], "mostly": 1.5}},
            ["`mostly` must be a number between 0 and 1"],
        ),
        (
            {
                "expect_column_values_to_be_in_set": {
                    "column": "a",
                    "value_set": [1],
                    "mostly": "high",
                }
            },
            ["`mostly`"],
        ),
        (
            {"expect_column_values_to_be_between": {"column": "a", "min_value": [1]}},
            ["`min_value` must be a number or a date string"],
        ),
        (
            {"expect_column_values_to_be_between": {"column": "a"}},
            ["needs `min_value` or `max_value`"],
        ),
        (
            {"expect_column_values_to_be_between": {"column": "a", "min_value": 5, "max_value": 1}},
            ["greater than `max_value`"],
        ),
        (
            {"expect_column_values_to_match_regex": {"column": "a", "regex": "(unclosed"}},
            ["valid regular expression"],
        ),
        ({"expect_column_values_to_match_regex": {"column": "a", "regex": "a(?=b)"}}, ["RE2"]),
        (
            {"expect_column_values_to_be_of_type": {"column": "a", "type_": "integr"}},
            ["known type name"],
        ),
        (
            {"expect_column_values_to_be_unique": {"column": "a", "severity": "fatal"}},
            ["severity must be critical, warning or info"],
        ),
        (
            {
                "expect_column_values_to_be_unique": {
                    "column": "a",
                    "row_condition": 'col("a")=',
                    "condition_parser": "great_expectations",
                }
            },
            ["cannot translate row_condition"],
        ),
        (
            {"expect_column_values_to_be_unique": {"column": "a", "condition_parser": "sparkle"}},
            ["unknown condition_parser"],
        ),
        (
            {"expect_column_values_to_be_unique": {"column": "a", "result_format": "FULL"}},
            ["`result_format` must be"],
        ),
        (
            {"expect_column_values_to_be_unique": {"column": "a", "mostly": {"$PARAMETER": "m"}}},
            ["suite parameter"],
        ),
        (
            {
                "expect_column_quantile_values_to_be_between": {
                    "column": "a",
                    "quantile_ranges": {"quantiles": [0.5], "value_ranges": []},
                }
            },
            ["one value range per quantile"],
        ),
        ({"unexpected_rows_expectation": {"unexpected_rows_query": "select 1"}}, ["{batch}"]),
        ({"expect_column_values_to_be_unique": {"column": "a"}, "extra": 1}, ["exactly one key"]),
        (
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}, "kwarg": {}},
            ["unknown field `kwarg`", "did you mean `kwargs`"],
        ),
        (42, ["must be a mapping or a type name"]),
    ],
)
def test_bad_expectations_raise_helpful_errors(raw: object, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_expectation(raw, node="orders", location=Location("suite.yml", 3))
    text = str(info.value)
    assert text.startswith("suite.yml:3: [orders]") or "suite.yml" in text
    for fragment in fragments:
        assert fragment in text


def test_gx_suite_json_loads(tmp_path: Path) -> None:
    suite = {
        "name": "orders_suite",
        "id": "abc",
        "meta": {"great_expectations_version": "1.3.0"},
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "meta": {}, "id": "e1",
             "severity": "critical", "rendered_content": None},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0, "mostly": 0.95},
             "meta": {"notes": "x"}},
        ],
    }  # fmt: skip
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(suite))
    loaded = load_suite(path)
    assert loaded.name == "orders_suite"
    assert [e.type for e in loaded.expectations] == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
    ]
    assert loaded.expectations[0].id == "e1"
    legacy = {
        "expectation_suite_name": "old",
        "expectations": [{"expectation_type": "expect_column_to_exist", "kwargs": {"column": "a"}}],
    }
    assert parse_suite(legacy).name == "old"


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "name": "x",\n  "expectations": [,]\n}')
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert f"{path}:3" in str(info.value)


def test_yaml_suite_errors_point_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "suite.yml"
    path.write_text(
        "name: orders\n"
        "expectations:\n"
        "  - expect_column_values_to_not_be_null: {column: id}\n"
        "  - expect_column_values_to_be_between:\n"
        "      column: amount\n"
        "      min_valu: 0\n"
    )
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    text = str(info.value)
    assert f"{path}:6" in text and "did you mean `min_value`" in text
    path.write_text(
        "name: orders\nexpectations:\n  - expect_column_values_to_not_be_null: {column: id}\n  - expect_colum_to_exist: {column: a}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert f"{path}:4" in str(info.value) and "expect_column_to_exist" in str(info.value)
    path.write_text("name: orders\nexpectatons: []\n")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert f"{path}:2" in str(info.value) and "did you mean `expectations`" in str(info.value)


def test_yaml_suite_loads(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(
        "expectations:\n"
        "  - expect_table_row_count_to_be_between: {min_value: 1}\n"
        "  - type: expect_column_values_to_be_in_set\n"
        "    kwargs: {column: status, value_set: [a, b]}\n"
        "    severity: warning\n"
    )
    suite = load_suite(path)
    assert suite.name == "orders"
    assert suite.expectations[1].severity == "warning"
    assert suite.to_json_dict()["expectations"][1]["kwargs"]["value_set"] == ["a", "b"]


def test_missing_suite_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_suite("/nonexistent/suite.yml")
