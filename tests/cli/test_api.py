"""Commands are API: `Context.lineage` and `Context.validate` return typed results and print
nothing; the CLI renders the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.context import Context
from headwater.observe.lineage_tree import LineageNode, LineageResult
from headwater.quality.validate import ValidationResult
from headwater.runner.events import RunListener
from tests.conftest import BASE_PROJECT

SUITE = """\
name: orders_suite
expectations:
  - expect_column_values_to_not_be_null: {column: id}
  - expect_column_values_to_be_unique: {column: id}
  - expect_column_values_to_be_between: {column: amount, min_value: 0, severity: warning}
"""


@pytest.fixture
def project(make_project) -> Path:
    return make_project(
        {
            "models/staging/stg.sql": (
                "select * from (values (1, 10.0), (2, -1.0), (2, 5.0)) v(id, amount)"
            ),
            "models/marts/fct.sql": (
                "select id, sum(amount) as total from {{ ref('stg') }} group by id"
            ),
            "models/marts/by_var.sql": "{{ config(alias=var('table_name')) }} select 1 as id",
            "suite.yml": SUITE,
        },
        BASE_PROJECT + "vars: {table_name: by_var_default}\n",
    )


def test_context_defaults_to_a_listener_that_hears_nothing(project: Path, capsys) -> None:
    with Context(project) as ctx:
        assert type(ctx.console) is RunListener
        assert ctx.build().exit_code == 0
    assert capsys.readouterr() == ("", "")


def test_lineage_returns_a_tree_and_prints_nothing(project: Path, cli, capsys) -> None:
    with Context(project) as ctx:
        up = ctx.lineage("fct")
        down = ctx.lineage("stg", downstream=True, depth=1)
        col = ctx.lineage("fct", column="TOTAL")
    assert capsys.readouterr() == ("", "")
    assert isinstance(up, LineageResult) and isinstance(up.tree, LineageNode)
    assert (up.node, up.column, up.direction) == ("model.t.fct", None, "upstream")
    assert [c.name for c in up.tree.children] == ["stg"]
    assert up.tree.relation == "main.fct" and up.tree.children[0].materialized == "view"
    assert down.direction == "downstream" and [c.name for c in down.tree.children] == ["fct"]
    assert down.tree.children[0].truncated is False  # at the depth limit, nothing below
    assert col.column == "total"  # as the node spells it
    [source] = col.tree.children
    assert (source.name, source.column, source.transformation) == ("stg", "amount", "AGGREGATION")
    # the CLI prints the same result
    for args, result in (
        (["fct"], up),
        (["stg", "--downstream", "--depth", "1"], down),
        (["fct", "--column", "TOTAL"], col),
    ):
        res = cli("lineage", *args, "--json", "--project-dir", project)
        assert res.code == 0, res.err
        assert json.loads(res.out) == result.to_dict()


def test_lineage_json_shape(project: Path) -> None:
    with Context(project) as ctx:
        doc = ctx.lineage("fct", column="id", depth=1).to_dict()
        table = ctx.lineage("fct").to_dict()
    assert list(doc) == ["node", "column", "direction", "tree"]
    assert list(doc["tree"]) == [
        "unique_id", "name", "resource_type", "materialized", "relation", "column",
        "transformation", "children",
    ]  # fmt: skip
    assert list(doc["tree"]["children"][0])[-2:] == ["children", "truncated"]
    assert list(table["tree"]) == [
        "unique_id", "name", "resource_type", "materialized", "relation", "children",
    ]  # fmt: skip
    assert table["column"] is None


def test_lineage_errors_are_usage_errors(project: Path) -> None:
    from headwater.errors import UsageError

    with Context(project) as ctx:
        with pytest.raises(UsageError, match="no model, seed, snapshot or source named `nope`"):
            ctx.lineage("nope")
        with pytest.raises(UsageError, match="has no column `nope`"):
            ctx.lineage("fct", column="nope")
        with pytest.raises(UsageError, match="depth must be 1 or more"):
            ctx.lineage("fct", depth=0)


def test_validate_files_needs_no_project(tmp_path: Path, project: Path, capsys) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("id,amount\n1,10\n2,-1\n2,5\n", encoding="utf-8")
    result = Context(tmp_path / "no_project").validate(str(data), project / "suite.yml")
    assert capsys.readouterr() == ("", "")
    assert isinstance(result, ValidationResult)
    assert (result.data, result.suite) == (str(data), "orders_suite")
    assert [r["success"] for r in result.results] == [True, False, False]
    assert result.blocking and not result.success and result.exit_code == 1
    assert result.statistics["evaluated_expectations"] == 3


def test_validate_a_frame_and_a_suite_object(tmp_path: Path, project: Path) -> None:
    import pyarrow as pa

    from headwater.quality.expectations import load_suite

    suite = load_suite(project / "suite.yml")
    table = pa.table({"id": [1, 2, 3], "amount": [1.0, 2.0, -3.0]})
    result = Context(tmp_path).validate(table, suite)
    assert result.data == "Table"
    assert not result.blocking and not result.success  # only the warning failed
    assert result.exit_code == 0


def test_validate_a_warehouse_table(project: Path, cli) -> None:
    assert cli("build", "--project-dir", project).code == 0
    with Context(project) as ctx:
        result = ctx.validate("stg", project / "suite.yml", result_format="SUMMARY")
    assert result.data == "stg"
    assert [r["success"] for r in result.results] == [True, False, False]
    res = cli(
        "validate", "stg", "--suite", project / "suite.yml", "--json",
        "--result-format", "SUMMARY", "--project-dir", project,
    )  # fmt: skip
    assert res.code == 1
    cli_doc, api_doc = json.loads(res.out), result.to_dict()
    for doc in (cli_doc, api_doc):
        doc["meta"].pop("duration_seconds")
        doc["meta"].pop("validation_time")
    assert cli_doc == api_doc


def test_validate_uses_the_contexts_vars(project: Path, cli) -> None:
    """--vars reaches the Context validate runs in (a relation named by a var)."""
    vars_ = "{table_name: by_var_v2}"
    assert cli("run", "--project-dir", project, "--vars", vars_).code == 0
    suite = project / "rows.yml"
    suite.write_text(
        "name: rows\nexpectations:\n  - expect_table_row_count_to_equal: {value: 1}\n",
        encoding="utf-8",
    )
    with Context(project, vars={"table_name": "by_var_v2"}) as ctx:
        assert ctx.validate("by_var", suite).exit_code == 0
    with Context(project) as ctx:  # by_var_default: never built
        assert ctx.validate("by_var", suite).exit_code == 1
    args = ("validate", "by_var", "--suite", suite, "--project-dir", project)
    res = cli(*args, "--vars", vars_)
    assert res.code == 0, res.out + res.err
    assert "by_var: 1 of 1 expectations met (100%)" in res.out
    assert cli(*args).code == 1


def test_validate_errors(tmp_path: Path, project: Path) -> None:
    from headwater.errors import UsageError

    with Context(project) as ctx:
        with pytest.raises(UsageError, match=r"suite file `.*nope\.yml` does not exist"):
            ctx.validate("stg", tmp_path / "nope.yml")
        with pytest.raises(UsageError, match=r"data file `missing\.parquet` does not exist"):
            ctx.validate("missing.parquet", project / "suite.yml")
        with pytest.raises(UsageError, match="is neither a file nor a relation name"):
            ctx.validate("a.b.c.d", project / "suite.yml")
        with pytest.raises(UsageError, match="does not exist yet"):  # not built
            ctx.validate("stg", project / "suite.yml")
