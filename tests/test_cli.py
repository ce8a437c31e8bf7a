"""The command line: exit codes, output formats, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASE_PROJECT


@pytest.fixture
def project(make_project) -> Path:
    return make_project(
        {
            "models/staging/stg.sql": "select * from (values (1, 'a'), (2, 'b')) v(id, name)",
            "models/marts/fct.sql": "select id, upper(name) as name from {{ ref('stg') }}",
            "models/marts/props.yml": (
                "version: 2\nmodels:\n  - name: fct\n    description: the fact\n    columns:\n"
                "      - name: id\n        data_tests: [unique]\n"
            ),
        }
    )


def test_version_and_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "headwater", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("headwater ")


def test_help_does_not_import_heavy_modules() -> None:
    code = "import sys; from headwater.cli import build_parser; build_parser(); print(sorted(m for m in ('duckdb','pyarrow','sqlglot','jinja2','rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_build_then_query_formats(project: Path, cli) -> None:
    res = cli("build", "--project-dir", project)
    assert res.code == 0, res.out + res.err
    assert "Done in" in res.out
    res = cli(
        "query",
        "select id, name from main.fct order by id",
        "--project-dir",
        project,
        "--format",
        "json",
    )
    assert json.loads(res.out) == [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}]
    res = cli(
        "query",
        "select id, name from main.fct order by id",
        "--project-dir",
        project,
        "--format",
        "csv",
    )
    assert res.out.splitlines() == ["id,name", "1,A", "2,B"]
    res = cli("query", "select id from main.fct order by id", "--project-dir", project)
    assert "(2 rows)" in res.out


def test_build_json_output(project: Path, cli) -> None:
    res = cli("build", "--project-dir", project, "--json")
    data = json.loads(res.out)
    assert data["success"] is True
    assert {r["name"] for r in data["results"]} == {"stg", "fct"}
    fct = next(r for r in data["results"] if r["name"] == "fct")
    assert fct["rows"] == 2 and fct["checks"][0]["status"] == "pass"


def test_ls_json_shape(project: Path, cli) -> None:
    res = cli("ls", "--project-dir", project, "--json")
    assert res.code == 0
    nodes = {n["name"]: n for n in json.loads(res.out)}
    assert nodes["fct"]["resource_type"] == "model"
    assert nodes["fct"]["materialized"] == "table"
    assert nodes["fct"]["relation"] == "main.fct"
    assert nodes["fct"]["depends_on"] == ["model.t.stg"]
    assert nodes["unique_fct_id"]["resource_type"] == "test"
    res = cli("ls", "--project-dir", project, "--resource-type", "model", "-s", "fct+")
    assert res.out.split() == ["model", "fct"]


def test_compile_writes_files(project: Path, cli) -> None:
    res = cli("compile", "--project-dir", project)
    assert res.code == 0
    compiled = project / ".headwater" / "compiled" / "models" / "marts" / "fct.sql"
    assert compiled.read_text().strip() == 'select id, upper(name) as name from "main"."stg"'
    assert (project / ".headwater" / "compiled" / "models" / "marts" / "unique_fct_id.sql").exists()


def test_failing_check_exits_1(project: Path, cli) -> None:
    (project / "models" / "staging" / "stg.sql").write_text(
        "select * from (values (1, 'a'), (1, 'b')) v(id, name)"
    )
    res = cli("build", "--project-dir", project)
    assert res.code == 1
    assert "not published" in res.out


@pytest.mark.parametrize(
    ("files", "yml", "needle"),
    [
        ({"models/a.sql": "select * from {{ ref('nope') }}"}, BASE_PROJECT, "`nope`"),
        ({"models/a.sql": "select 1"}, BASE_PROJECT + "colour: red\n", "unknown key `colour`"),
        ({"models/a.sql": "select 1 from from"}, BASE_PROJECT, "SQL does not parse"),
        ({"models/a.sql": "select 1"}, "name: [unclosed\n", "invalid YAML"),
    ],
)
def test_config_errors_exit_2_without_traceback(make_project, cli, files, yml, needle) -> None:
    root = make_project(files, yml)
    res = cli("build", "--project-dir", root)
    assert res.code == 2
    assert needle in res.err
    assert "Traceback" not in res.err


def test_usage_errors_exit_2(project: Path, cli) -> None:
    res = cli("build", "--project-dir", project, "-s", "nopez")
    assert res.code == 2 and "no node matches" in res.err
    res = cli("build", "--project-dir", project, "--target", "prod")
    assert res.code == 2 and "target `prod`" in res.err
    with pytest.raises(SystemExit) as exc:
        cli("build", "--no-such-flag")
    assert exc.value.code == 2
    res = cli("build", "--project-dir", project / "missing")
    assert res.code == 2 and "headwater init" in res.err


def test_verbose_shows_traceback(project: Path, cli) -> None:
    res = cli("-v", "build", "--project-dir", project, "-s", "nopez")
    assert res.code == 2 and "Traceback" in res.err


def test_init_creates_a_buildable_skeleton(tmp_path: Path, cli) -> None:
    res = cli("init", tmp_path / "new")
    assert res.code == 0
    assert (tmp_path / "new" / "headwater.yml").is_file()
    assert cli("build", "--project-dir", tmp_path / "new").code == 0
    res = cli("init", tmp_path / "new")
    assert res.code == 2 and "not empty" in res.err


def test_vars_flag(make_project, cli) -> None:
    root = make_project(
        {"models/a.sql": "select {{ var('n') }} as n"}, BASE_PROJECT + "vars: {n: 1}\n"
    )
    assert cli("run", "--project-dir", root, "--vars", "{n: 5}").code == 0
    assert json.loads(
        cli("query", "select n from main.a", "--project-dir", root, "--format", "json").out
    ) == [{"n": 5}]
    res = cli("run", "--project-dir", root, "--vars", "[1]")
    assert res.code == 2
