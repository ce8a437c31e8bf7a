from __future__ import annotations

from pathlib import Path

import pytest

from headwater.errors import ConfigError, ProjectNotFoundError, UnknownKeyError, YamlError
from headwater.manifest import load_manifest
from headwater.project.loader import ProjectReader
from headwater.project.project_file import read_project_config
from tests.conftest import BASE_PROJECT


def load(root: Path, target: str | None = None, vars: dict | None = None):
    return load_manifest(root, target, vars or {})


def test_reads_targets_vars_and_folder_config(make_project) -> None:
    root = make_project(
        {
            "models/staging/stg_a.sql": "select 1 as id",
            "models/marts/fct_a.sql": "select * from {{ ref('stg_a') }}",
        },
        project_yml=BASE_PROJECT + "vars:\n  start: '2025-01-01'\n" + "  # comment\n",
    )
    config = read_project_config(root)
    assert config.name == "t"
    assert config.targets["dev"].threads == 2
    assert config.vars == {"start": "2025-01-01"}
    nodes = load(root).nodes
    assert nodes["model.t.stg_a"].materialized == "view"
    assert nodes["model.t.fct_a"].materialized == "table"
    assert nodes["model.t.fct_a"].fqn == ["t", "marts", "fct_a"]
    assert nodes["model.t.fct_a"].depends_on == ["model.t.stg_a"]


def test_project_name_level_in_models_tree_is_accepted(make_project) -> None:
    yml = "name: shop\nmodels:\n  shop:\n    +materialized: table\n    staging:\n      +materialized: view\n"
    root = make_project(
        {"models/staging/a.sql": "select 1 as x", "models/b.sql": "select 2 as y"}, yml
    )
    nodes = load(root).nodes
    assert nodes["model.shop.a"].materialized == "view"
    assert nodes["model.shop.b"].materialized == "table"


def test_sql_config_overrides_yml_overrides_folder(make_project) -> None:
    root = make_project(
        {
            "models/staging/a.sql": "{{ config(materialized='table') }}\nselect 1 as x",
            "models/staging/b.sql": "select 1 as x",
            "models/staging/props.yml": """
                version: 2
                models:
                  - name: b
                    config: {materialized: ephemeral, tags: [nightly]}
                  - name: a
                    config: {materialized: ephemeral}
            """,
        }
    )
    nodes = load(root).nodes
    assert nodes["model.t.a"].materialized == "table"
    assert nodes["model.t.b"].materialized == "ephemeral"
    assert nodes["model.t.b"].tags == ["nightly"]


def test_no_project_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match="headwater init"):
        load(tmp_path)


def test_unknown_top_level_key_suggests_fix(make_project) -> None:
    root = make_project({}, project_yml=BASE_PROJECT + "modles: {}\n")
    with pytest.raises(UnknownKeyError) as exc:
        load(root)
    assert "did you mean `models`" in str(exc.value)
    assert exc.value.location.path == "headwater.yml"
    assert exc.value.location.line == BASE_PROJECT.count("\n") + 1
    assert exc.value.exit_code == 2


def test_unknown_target_key_has_line(make_project) -> None:
    root = make_project({}, project_yml=BASE_PROJECT.replace("threads: 2", "thread: 2"))
    with pytest.raises(UnknownKeyError) as exc:
        load(root)
    assert exc.value.location.line == 7
    assert "`threads`" in str(exc.value)


def test_unknown_model_folder_in_config(make_project) -> None:
    root = make_project(
        {"models/staging/a.sql": "select 1"}, BASE_PROJECT.replace("  staging:", "  stagin:")
    )
    with pytest.raises(UnknownKeyError, match="did you mean `staging`"):
        load(root)


def test_misspelled_config_key(make_project) -> None:
    root = make_project({"models/a.sql": "select 1"}, BASE_PROJECT + "  +materialised: table\n")
    with pytest.raises(UnknownKeyError, match="`materialized`"):
        load(root)


def test_bad_yaml_names_file_line_and_column(make_project) -> None:
    root = make_project(
        {
            "models/a.sql": "select 1",
            "models/a.yml": "version: 2\nmodels:\n  - name: a\n   description: x\n",
        }
    )
    with pytest.raises(YamlError) as exc:
        load(root)
    assert exc.value.location.path == "models/a.yml"
    assert exc.value.location.line == 4
    assert "description: x" in str(exc.value)


def test_duplicate_yaml_key(make_project) -> None:
    root = make_project(
        {"models/a.sql": "select 1", "models/a.yml": "version: 2\nmodels: []\nmodels: []\n"}
    )
    with pytest.raises(YamlError, match="duplicate key `models`"):
        load(root)


def test_properties_for_missing_model(make_project) -> None:
    # a warning, as in dbt: a stale properties entry does not stop the project
    root = make_project(
        {"models/orders.sql": "select 1", "models/p.yml": "version: 2\nmodels:\n  - name: order\n"}
    )
    manifest = load(root)
    assert any("did you mean `orders`" in w and "models/p.yml:3" in w for w in manifest.warnings), (
        manifest.warnings
    )


def test_duplicate_model_names_across_folders(make_project) -> None:
    root = make_project({"models/a/x.sql": "select 1", "models/b/x.sql": "select 2"})
    with pytest.raises(ConfigError, match="two models are named `x`"):
        load(root)


def test_sources_yml_with_files_and_tests(make_project) -> None:
    root = make_project(
        {
            "sources.yml": """
                version: 2
                sources:
                  - name: shop
                    schema: raw
                    loaded_at_field: _loaded_at
                    freshness: {warn_after: {count: 1, period: day}}
                    tables:
                      - name: orders
                        description: all orders
                        files: {path: "orders/*.parquet", options: {hive_partitioning: true}}
                        columns:
                          - name: id
                            data_tests: [unique, not_null]
                      - name: customers
            """,
        }
    )
    nodes = load(root).nodes
    orders = nodes["source.t.shop.orders"]
    assert orders.relation.render(quote=False) == "raw.orders"
    assert orders.files.format == "parquet"
    assert orders.files.options == {"hive_partitioning": True}
    assert orders.loaded_at_field == "_loaded_at"
    assert orders.freshness["warn_after"]["count"] == 1
    assert not nodes["source.t.shop.customers"].is_executable
    tests = [n for n in nodes.values() if n.resource_type == "test"]
    assert {t.name for t in tests} == {
        "source_unique_shop_orders_id",
        "source_not_null_shop_orders_id",
    }
    assert all(t.depends_on == ["source.t.shop.orders"] for t in tests)


def test_unknown_file_format(make_project) -> None:
    root = make_project(
        {
            "sources.yml": "version: 2\nsources:\n  - name: s\n    tables:\n      - name: t\n        files: {path: a.x, format: parket}\n"
        }
    )
    with pytest.raises(ConfigError, match="did you mean `parquet`"):
        load(root)


def test_test_forms_dbt_old_and_new(make_project) -> None:
    root = make_project(
        {
            "models/a.sql": "select 1 as id, 'x' as s",
            "models/a.yml": """
                version: 2
                models:
                  - name: a
                    columns:
                      - name: s
                        tests:
                          - accepted_values:
                              values: [x, y]
                              severity: warn
                          - accepted_values:
                              arguments: {values: [x]}
                              config: {where: "id > 0", error_if: ">5"}
            """,
        }
    )
    tests = sorted(
        (n for n in load(root).nodes.values() if n.resource_type == "test"), key=lambda n: n.name
    )
    assert [t.test.kwargs for t in tests] == [{"values": ["x"]}, {"values": ["x", "y"]}]
    assert tests[0].config["where"] == "id > 0"
    assert tests[0].config["error_if"] == ">5"
    assert tests[1].severity == "warn"


def test_unknown_check_type(make_project) -> None:
    root = make_project(
        {
            "models/a.sql": "select 1 as id",
            "models/a.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [uniqe]\n",
        }
    )
    with pytest.raises(ConfigError) as exc:
        load(root)
    assert "did you mean `unique`" in str(exc.value)
    assert exc.value.location.path == "models/a.yml"
    assert exc.value.location.line == 6


def test_missing_check_argument(make_project) -> None:
    root = make_project(
        {
            "models/a.sql": "select 1 as id",
            "models/a.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [relationships]\n",
        }
    )
    with pytest.raises(ConfigError, match="needs `to`, `field`"):
        load(root)


def test_seeds_with_column_types(make_project) -> None:
    root = make_project(
        {
            "seeds/codes.csv": "code,name\n01,a\n",
            "seeds/props.yml": "version: 2\nseeds:\n  - name: codes\n    config:\n      column_types: {code: varchar}\n",
        }
    )
    seed = load(root).nodes["seed.t.codes"]
    assert seed.config["column_types"] == {"code": "varchar"}
    assert seed.relation.render(quote=False) == "main.codes"


def test_dbt_project_yml_is_a_project(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text(
        "name: jaffle\nversion: '1.0'\nconfig-version: 2\nprofile: jaffle\nmodel-paths: [models]\n"
        "models:\n  jaffle:\n    +materialized: table\n"
    )
    (tmp_path / "models" / "a.sql").write_text("select 1 as x")
    manifest = load(tmp_path)
    assert manifest.nodes["model.jaffle.a"].materialized == "table"
    assert manifest.target.engine == "duckdb"


def test_reader_collects_file_hashes(make_project) -> None:
    root = make_project(
        {"models/a.sql": "select 1", "macros/m.sql": "{% macro m() %}1{% endmacro %}"}
    )
    config = read_project_config(root)
    project = ProjectReader(config, config.targets["dev"]).read()
    assert set(project.files) == {"models/a.sql", "macros/m.sql"}
