"""Query lint (`headwater lint`, `Context.lint`, `build --lint`): each rule fires and stays quiet
where it should, inline `-- noqa`, configuration, the CLI's text and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.context import Context
from headwater.errors import ConfigError, UnknownKeyError
from headwater.lint import LintReport
from tests.conftest import BASE_PROJECT

PARTITIONED = {
    "models/staging/events.sql": (
        "{{ config(materialized='table', partition_by='event_date') }}\n"
        "select date '2025-01-01' as event_date, 1 as id\n"
    ),
}


def lint(root: Path, select: list[str] | None = None) -> LintReport:
    with Context(root) as ctx:
        return ctx.lint(select)


def rules(report: LintReport) -> list[tuple[str, str, int]]:
    return [(f.rule, Path(f.path).name, f.line) for f in report.findings]


@pytest.fixture
def one_model(make_project: Callable[..., Path]) -> Callable[..., LintReport]:
    """Lint one model (at ``path``) beside a partitioned `events` table."""

    count = iter(range(1_000_000))

    def run(
        sql: str, path: str = "models/staging/m.sql", project: str = BASE_PROJECT
    ) -> LintReport:
        root = make_project({**PARTITIONED, path: sql}, project, name=f"p{next(count)}")
        return lint(root, [Path(path).stem])

    return run


# -- HW101 select_star_in_marts ------------------------------------------------------------------
def test_select_star_in_a_mart_fires(one_model) -> None:
    report = one_model(
        "with x as (select * from (select 1 as a) t)\nselect\n    *\nfrom x\n", "models/marts/m.sql"
    )
    assert rules(report) == [("HW101", "m.sql", 3)]
    assert report.findings[0].severity == "warn" and report.findings[0].located
    assert report.exit_code == 0


def test_select_star_exclude_and_qualified_star_are_stars(one_model) -> None:
    sql = "select * exclude (id) from {{ ref('events') }} where event_date > date '2025-01-01'\n"
    assert [f.rule for f in one_model(sql, "models/marts/m.sql").findings] == ["HW101"]
    sql = "select e.* from {{ ref('events') }} e where e.event_date > date '2025-01-01'\n"
    assert [f.rule for f in one_model(sql, "models/marts/m.sql").findings] == ["HW101"]


def test_no_select_star_finding_outside_marts_or_for_count_star(one_model) -> None:
    assert one_model("select * from (select 1 as a) t\n").findings == []
    sql = "select count(*) as n from (select 1 as a) t\n"
    assert one_model(sql, "models/marts/m.sql").findings == []


def test_marts_paths_is_configurable(one_model) -> None:
    project = BASE_PROJECT + "lint:\n  marts_paths: ['models/gold/*']\n"
    sql = "select * from (select 1 as a) t\n"
    assert [f.rule for f in one_model(sql, "models/gold/m.sql", project).findings] == ["HW101"]
    assert one_model(sql, "models/marts/m.sql", project).findings == []


# -- HW102 cartesian_join -------------------------------------------------------------------------
def test_comma_join_without_condition_is_an_error(one_model) -> None:
    sql = "select a.x, b.y\nfrom (select 1 as x) a,\n     (select 2 as y) b\n"
    report = one_model(sql)
    assert rules(report) == [("HW102", "m.sql", 3)]
    assert report.findings[0].severity == "error" and report.exit_code == 1


def test_explicit_cross_join_and_joins_with_conditions_pass(one_model) -> None:
    assert (
        one_model("select * from (select 1 as x) a cross join (select 2 as y) b\n").findings == []
    )
    sql = "select * from (select 1 as x) a join (select 1 as x) b on a.x = b.x\n"
    assert one_model(sql).findings == []
    sql = "select * from (select 1 as x) a join (select 1 as x) b using (x)\n"
    assert one_model(sql).findings == []
    sql = "select * from (select 1 as x) a, (select 1 as x) b where a.x = b.x\n"
    assert one_model(sql).findings == []
    assert one_model("select u from (select [1] as l) t, unnest(t.l) as u(u)\n").findings == []


# -- HW103 order_by_without_limit -----------------------------------------------------------------
def test_order_by_without_limit_fires_at_the_top_level_only(one_model) -> None:
    assert rules(one_model("select 1 as a\norder by a\n")) == [("HW103", "m.sql", 2)]
    assert one_model("select 1 as a order by a limit 5\n").findings == []
    sql = "select a, row_number() over (order by a) as r from (select 1 as a) t\n"
    assert one_model(sql).findings == []
    sql = "select * from (select 1 as a order by a limit 1) t\n"
    assert one_model(sql).findings == []


# -- HW104 unused_cte -----------------------------------------------------------------------------
def test_unused_cte_fires(one_model) -> None:
    sql = "with used as (select 1 as a),\nunused as (select 2 as b)\nselect * from used\n"
    assert rules(one_model(sql)) == [("HW104", "m.sql", 2)]


def test_cte_read_in_a_subquery_or_another_cte_is_used(one_model) -> None:
    sql = (
        "with a as (select 1 as x), b as (select x from a)\n"
        "select * from (select 1 as x) t where x in (select x from b)\n"
    )
    assert one_model(sql).findings == []


# -- HW105 non_sargable_partition_predicate / HW106 missing_partition_filter ----------------------
def test_function_on_a_partition_column_is_not_sargable(one_model) -> None:
    sql = (
        "select id from {{ ref('events') }}\n"
        "where date_trunc('month', event_date) = date '2025-01-01'\n"
    )
    assert rules(one_model(sql)) == [("HW105", "m.sql", 2)]


def test_bare_partition_column_range_is_sargable(one_model) -> None:
    sql = (
        "select id from {{ ref('events') }} e\n"
        "where e.event_date >= date '2025-01-01' and e.event_date < date '2025-02-01'\n"
        "  and upper(cast(e.id as varchar)) = '1'\n"
    )
    assert one_model(sql).findings == []


def test_reading_a_partitioned_input_without_filter(one_model) -> None:
    report = one_model("select id\nfrom {{ ref('events') }}\nwhere id > 0\n")
    assert rules(report) == [("HW106", "m.sql", 2)]
    assert "event_date" in report.findings[0].message
    # an unpartitioned input is not checked
    assert one_model("select a from (select 1 as a) t\n").findings == []


# -- configuration and silencing ------------------------------------------------------------------
def test_inline_noqa_silences_the_line(one_model) -> None:
    sql = "select 1 as a\norder by a -- noqa: HW103\n"
    assert one_model(sql).findings == []
    sql = "select 1 as a\norder by a -- noqa: HW104\n"
    assert [f.rule for f in one_model(sql).findings] == ["HW103"]
    assert one_model("select 1 as a\norder by a  -- noqa\n").findings == []


def test_config_sets_severity_and_turns_rules_off(one_model) -> None:
    sql = "select 1 as a order by a\n"
    report = one_model(sql, project=BASE_PROJECT + "lint:\n  rules:\n    HW103: error\n")
    assert [f.severity for f in report.findings] == ["error"] and report.exit_code == 1
    project = BASE_PROJECT + "lint:\n  rules:\n    order_by_without_limit: off\n"
    assert one_model(sql, project=project).findings == []


def test_model_config_disables_rules(one_model) -> None:
    sql = "{{ config(lint={'disable': ['HW103']}) }}\nselect 1 as a order by a\n"
    assert one_model(sql).findings == []


def test_unknown_rule_id_is_an_error_with_file_line(one_model) -> None:
    project = BASE_PROJECT + "lint:\n  rules:\n    HW013: error\n"
    with pytest.raises(UnknownKeyError) as info:
        one_model("select 1 as a\n", project=project)
    text = str(info.value)
    assert "headwater.yml:15" in text and "HW103" in text, text


def test_bad_severity_is_an_error(one_model) -> None:
    project = BASE_PROJECT + "lint:\n  rules:\n    HW103: fatal\n"
    with pytest.raises(ConfigError, match="warn, error or off"):
        one_model("select 1 as a\n", project=project)


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_text_and_json(make_project, cli) -> None:
    root = make_project({"models/staging/m.sql": "select 1 as a\norder by a\n"})
    res = cli("lint", "--project-dir", root)
    assert res.code == 0, res.err
    assert "models/staging/m.sql:2: HW103 [warn] " in res.out
    assert "(drop the ORDER BY" in res.out and "1 warnings" in res.out
    res = cli("lint", "--project-dir", root, "--json")
    doc = json.loads(res.out)
    assert doc["counts"] == {"error": 0, "warn": 1} and doc["exit_code"] == 0
    assert doc["findings"][0]["rule"] == "HW103" and doc["findings"][0]["line"] == 2


def test_build_lint_stops_on_an_error_before_anything_runs(make_project, cli) -> None:
    root = make_project(
        {"models/staging/m.sql": "select * from (select 1 as x) a, (select 2 as y) b\n"}
    )
    res = cli("build", "--project-dir", root, "--lint")
    assert res.code == 1
    assert "HW102 [error]" in res.out and "build stopped" in res.err
    assert not (root / ".headwater" / "warehouse.duckdb").exists()
    assert cli("build", "--project-dir", root).code == 0  # without --lint it builds
    fixed = make_project({"models/staging/m.sql": "select 1 as x\n"}, name="fixed")
    assert cli("build", "--project-dir", fixed, "--lint").code == 0


# -- property -------------------------------------------------------------------------------------
BODIES = st.lists(
    st.sampled_from(
        [
            "select * from (select 1 as a) x, (select 2 as b) y",
            "select 1 as a order by a",
            "with u as (select 1 as a) select 2 as b",
            "select id from {{ ref('events') }} where year(event_date) = 2025",
            "select *\nfrom {{ ref('events') }}\norder by id",
        ]
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bodies=BODIES)
def test_noqa_on_every_line_silences_everything(one_model, bodies: list[str]) -> None:
    sql = "\nunion all\n".join(f"select * from ({b}\n) q" for b in bodies) + "\n"
    noisy = one_model(sql, "models/marts/m.sql")
    assert noisy.findings
    quiet = "".join(line + " -- noqa\n" for line in sql.splitlines())
    assert one_model(quiet, "models/marts/m.sql").findings == []


def test_lines_are_file_lines_when_jinja_changes_line_counts(make_project) -> None:
    sql = "{% set cols = [\n  'a',\n  'b',\n] %}\nselect 1 as a\n-- note\norder by a\n"
    root = make_project({"models/staging/m.sql": sql})
    assert rules(lint(root)) == [("HW103", "m.sql", 7)]
    # text a macro writes is not in the file: the model's first line, marked not located
    root = make_project(
        {
            "macros/o.sql": "{% macro o() %}order by a{% endmacro %}\n",
            "models/staging/m.sql": "select 1 as a\n{{ o() }}\n",
        },
        name="macro",
    )
    (finding,) = lint(root).findings
    assert (finding.rule, finding.line, finding.located) == ("HW103", 1, False)
