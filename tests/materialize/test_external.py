"""`materialized: external`: the model's rows in a file, the relation a view over it, written
beside the target and swapped in only after the node's checks pass.

What dbt-duckdb 1.11.1 does, observed on a scratch project and asserted here: the view is
``SELECT * FROM read_parquet('<file>', union_by_name = false)`` (`read_csv` / `read_json` with
`auto_detect = true`); the default location is `{external_root}/{alias or name}.{format}`; a csv
file has a header; `options.partition_by` writes `<root>/<name>/<col>=<value>/.../data_0.parquet`
read back through `<root>/<name>/*/*.parquet` (one `*` per column); an empty SELECT is written as
one row of NULLs that the view filters out.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest

from headwater.context import Context
from headwater.errors import ConfigError
from headwater.materialize import known_materializations, materialization_for
from headwater.materialize.external import ExternalMaterialization, ExternalSpec
from headwater.project.definition import Node, ProjectConfig, Relation
from tests.conftest import write_files

PROJECT = """\
name: t
default_target: dev
targets:
  dev:
    engine: duckdb
    path: .headwater/warehouse.duckdb
    threads: 2
"""

ROWS = "select 1 as id, 'a,b' as name union all select 2, 'c'"


def model(config: str, sql: str = ROWS) -> str:
    return f"{{{{ config(materialized='external'{', ' + config if config else ''}) }}}}\n{sql}\n"


def project(tmp_path: Path, files: dict[str, str], project_yml: str = PROJECT) -> Path:
    root = tmp_path / "p"
    write_files(root, {"headwater.yml": project_yml, **files})
    return root


def build(root: Path) -> dict[str, Any]:
    with Context(root) as ctx:
        result = ctx.build()
    return {r.name: r for r in result.results}


def ok(results: dict[str, Any]) -> None:
    bad = {
        n: (r.status, r.message) for n, r in results.items() if r.status not in ("success", "pass")
    }
    assert not bad, bad


def query(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def view_sql(root: Path, name: str) -> str:
    rows = query(root, f"SELECT sql FROM duckdb_views() WHERE view_name = '{name}'")
    assert rows, f"`{name}` is not a view"
    return str(rows[0][0])


def read_back(sql: str) -> list[tuple]:
    return duckdb.sql(sql).fetchall()


def test_parquet_by_default_at_external_root_and_a_view_over_it(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "models/exp.sql": model("", ROWS + "  -- a comment at the end"),
            "models/down.sql": "select count(*) as n from {{ ref('exp') }}",
        },
    )
    results = build(root)
    ok(results)
    assert results["exp"].rows == 2
    path = root / "exp.parquet"  # external_root defaults to the project folder
    assert read_back(f"SELECT * FROM read_parquet('{path}') ORDER BY id") == [(1, "a,b"), (2, "c")]
    sql = view_sql(root, "exp")
    assert f"read_parquet('{path}', (union_by_name = false))" in sql
    assert query(root, "SELECT * FROM main.exp ORDER BY id") == [(1, "a,b"), (2, "c")]
    assert query(root, "SELECT n FROM main.down") == [(2,)]
    assert [p.name for p in root.iterdir() if p.name.startswith(".hw-")] == []


def test_csv_with_delimiter_and_json(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "models/as_csv.sql": model("format='csv', delimiter='|'"),
            "models/as_json.sql": model(
                "format='json'", "select 1 as id, 'a' as name, [1, 2] as l"
            ),
        },
        PROJECT + "    external_root: out\n",
    )
    ok(build(root))
    assert (root / "out" / "as_csv.csv").read_text() == "id|name\n1|a,b\n2|c\n"
    assert "read_csv(" in view_sql(root, "as_csv") and "auto_detect = true" in view_sql(
        root, "as_csv"
    )
    assert query(root, "SELECT * FROM main.as_csv ORDER BY id") == [(1, "a,b"), (2, "c")]
    lines = (root / "out" / "as_json.json").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"id": 1, "name": "a", "l": [1, 2]}]
    assert "read_json(" in view_sql(root, "as_json")
    assert query(root, "SELECT id, name, l FROM main.as_json") == [(1, "a", [1, 2])]


def test_format_from_the_location_extension_with_compression(tmp_path: Path) -> None:
    root = project(tmp_path, {"models/gz.sql": model("location='files/gz.csv.gz'")})
    ok(build(root))
    path = root / "files" / "gz.csv.gz"
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert read_back(f"SELECT * FROM read_csv('{path}') ORDER BY id") == [(1, "a,b"), (2, "c")]
    assert query(root, "SELECT count(*) FROM main.gz") == [(2,)]


def test_partition_by_writes_a_hive_folder_read_through_a_glob(tmp_path: Path) -> None:
    sql = "select 1 as id, 'eu' as region, 2024 as yr union all select 2, 'us', 2024 union all select 3, 'eu', 2023"
    root = project(
        tmp_path, {"models/parts.sql": model("options={'partition_by': 'region, yr'}", sql)}
    )
    results = build(root)
    ok(results)
    folder = root / "parts"  # no extension with partition_by
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        "region=eu/yr=2023/data_0.parquet",
        "region=eu/yr=2024/data_0.parquet",
        "region=us/yr=2024/data_0.parquet",
    ]
    assert read_back(
        f"SELECT id FROM read_parquet('{folder}/region=eu/*/*.parquet') ORDER BY id"
    ) == [(1,), (3,)]
    assert f"read_parquet('{folder}/*/*/*.parquet'" in view_sql(root, "parts")
    # the partition columns come back last, as with dbt-duckdb
    assert query(root, "SELECT * FROM main.parts ORDER BY id") == [
        (1, "eu", 2024),
        (2, "us", 2024),
        (3, "eu", 2023),
    ]
    assert results["parts"].rows == 3


def test_options_go_to_copy(tmp_path: Path) -> None:
    root = project(
        tmp_path, {"models/z.sql": model("options={'compression': 'zstd', 'row_group_size': 1}")}
    )
    ok(build(root))
    meta = read_back(f"SELECT DISTINCT compression FROM parquet_metadata('{root / 'z.parquet'}')")
    assert meta == [("ZSTD",)]
    assert read_back(
        f"SELECT count(*) FROM parquet_metadata('{root / 'z.parquet'}') WHERE column_id = 0"
    ) == [(2,)]


def test_location_template_alias_and_external_root(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            "models/templ.sql": model("location='exports/{{ this.identifier }}_v1.parquet'"),
            "models/named.sql": model("alias='renamed'"),
        },
        PROJECT + "    external_root: data/out\n",
    )
    ok(build(root))
    assert read_back(f"SELECT count(*) FROM '{root / 'exports' / 'templ_v1.parquet'}'") == [(2,)]
    assert (root / "data" / "out" / "renamed.parquet").is_file()
    assert query(root, "SELECT count(*) FROM main.renamed") == [(2,)]


def test_an_empty_select_keeps_its_columns(tmp_path: Path) -> None:
    empty = "select 1 as id, 'x' as name where false  -- none"
    root = project(
        tmp_path,
        {"models/e_csv.sql": model("format='csv'", empty), "models/e_pq.sql": model("", empty)},
    )
    results = build(root)
    ok(results)
    assert results["e_csv"].rows == 0
    assert (
        root / "e_csv.csv"
    ).read_text() == "id,name\n,\n"  # one row of NULLs, filtered by the view
    assert query(root, "SELECT count(*) FROM main.e_csv") == [(0,)]
    assert [r[:2] for r in query(root, "DESCRIBE main.e_pq")] == [
        ("id", "INTEGER"),
        ("name", "VARCHAR"),
    ]
    assert query(root, "SELECT count(*) FROM main.e_pq") == [(0,)]


FAILING = """
version: 2
models:
  - name: exp
    columns:
      - name: id
        data_tests: [unique]
"""


def test_a_failing_check_keeps_the_previous_file_and_view(tmp_path: Path) -> None:
    root = project(tmp_path, {"models/exp.sql": model(""), "models/props.yml": FAILING})
    ok(build(root))
    path = root / "exp.parquet"
    before = path.read_bytes()
    # the new rows break `unique`: the check reads them (through the view, before the swap)
    write_files(
        root, {"models/exp.sql": model("", "select 1 as id, 'x' as name union all select 1, 'y'")}
    )
    results = build(root)
    assert results["exp"].status == "fail"
    assert "previous file stays" in results["exp"].message
    assert path.read_bytes() == before
    assert query(root, "SELECT * FROM main.exp ORDER BY id") == [(1, "a,b"), (2, "c")]
    assert [p.name for p in root.iterdir() if p.name.startswith(".hw-")] == []


def test_a_failing_check_keeps_the_previous_partitioned_folder(tmp_path: Path) -> None:
    config = "options={'partition_by': 'name'}"
    root = project(tmp_path, {"models/exp.sql": model(config), "models/props.yml": FAILING})
    ok(build(root))
    write_files(
        root,
        {"models/exp.sql": model(config, "select 1 as id, 'x' as name union all select 1, 'y'")},
    )
    assert build(root)["exp"].status == "fail"
    assert sorted(p.name for p in (root / "exp").iterdir()) == ["name=a%2Cb", "name=c"]
    # a passing rebuild replaces the folder as a whole
    write_files(root, {"models/exp.sql": model(config, "select 5 as id, 'z' as name")})
    ok(build(root))
    assert sorted(p.name for p in (root / "exp").iterdir()) == ["name=z"]
    assert query(root, "SELECT * FROM main.exp") == [(5, "z")]


def test_switching_kinds_file_folder_and_table(tmp_path: Path) -> None:
    root = project(tmp_path, {"models/m.sql": "{{ config(materialized='table') }}\n" + ROWS})
    ok(build(root))
    assert query(
        root, "SELECT table_type FROM information_schema.tables WHERE table_name = 'm'"
    ) == [("BASE TABLE",)]
    write_files(root, {"models/m.sql": model("location='m_out'")})  # no extension: parquet
    ok(build(root))
    assert query(
        root, "SELECT table_type FROM information_schema.tables WHERE table_name = 'm'"
    ) == [("VIEW",)]
    assert (root / "m_out").is_file()
    write_files(root, {"models/m.sql": model("location='m_out', options={'partition_by': 'id'}")})
    # warns: `id` comes back from the folder names as BIGINT (a schema change, as with dbt-duckdb)
    assert build(root)["m"].status == "warn"
    assert (root / "m_out").is_dir() and query(root, "SELECT count(*) FROM main.m") == [(2,)]


def test_leftovers_of_a_killed_build_are_cleaned_and_a_moved_output_restored(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, {"models/exp.sql": model(""), "models/props.yml": FAILING})
    stale = root / ".hw-tmp-0123456789ab-exp.parquet"
    other = root / ".hw-tmp-0123456789ab-other.parquet"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half")
    other.write_bytes(b"not ours")
    ok(build(root))
    assert not stale.exists() and other.exists()
    # killed between moving the old output aside and renaming the new one in: put back first
    path = root / "exp.parquet"
    before = path.read_bytes()
    path.rename(root / ".hw-old-0123456789ab-exp.parquet")
    write_files(
        root, {"models/exp.sql": model("", "select 1 as id, 'x' as name union all select 1, 'y'")}
    )
    assert build(root)["exp"].status == "fail"
    assert path.read_bytes() == before


# -- configuration -------------------------------------------------------------------------------
def node(config: dict[str, Any], name: str = "m") -> Node:
    return Node(
        f"model.t.{name}", name, "model", f"models/{name}.sql", "t", ["t", name],
        config={"materialized": "external", **config}, relation=Relation("main", config.get("alias") or name),
        compiled_sql="select 1 as id",
    )  # fmt: skip


def spec(tmp_path: Path, config: dict[str, Any], root: str = ".") -> ExternalSpec:
    return ExternalSpec.of(node(config), ProjectConfig(name="t", root=str(tmp_path)), root)


def test_default_locations_and_formats(tmp_path: Path) -> None:
    s = spec(tmp_path, {})
    assert (s.location, s.path, s.format) == ("./m.parquet", tmp_path / "m.parquet", "parquet")
    s = spec(tmp_path, {"format": "csv", "alias": "a"}, "out/")
    assert (s.location, s.format, s.write_options["header"]) == ("out/a.csv", "csv", 1)
    s = spec(tmp_path, {"options": {"partition_by": ["x", "y"]}}, "/abs")
    assert (s.path, s.read_location(s.path)) == (Path("/abs/m"), "/abs/m/*/*/*.parquet")
    s = spec(tmp_path, {"options": {"per_thread_output": True, "format": "CSV"}})
    assert (s.format, s.read_location(Path("/d"))) == ("csv", "/d/*.csv")
    assert spec(tmp_path, {"delimiter": ";", "location": "x"}).format == "csv"
    assert spec(tmp_path, {"location": "x.json"}).format == "json"
    assert (
        spec(tmp_path, {"location": "{{ this.schema }}/{{ model.name }}.parquet"}).location
        == "main/m.parquet"
    )


def test_copy_options_are_literals_and_quoted_columns(tmp_path: Path) -> None:
    s = spec(
        tmp_path, {"options": {"compression": "it's", "row_group_size": 10, "partition_by": "a, b"}}
    )
    sql = s.copy_sql("select 1", Path("/o"))
    assert sql == (
        "COPY (\nselect 1\n) TO '/o' (compression 'it''s', row_group_size 10, partition_by (\"a\", \"b\"), format 'parquet')"
    )


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"options": {"compression) TO 'x' (": "zstd"}}, "not an option name"),
        ({"options": {"compression": None}}, "expected a string, number"),
        ({"options": {"kv": {1: "a"}}}, "non-text key"),
        ({"options": "compression zstd"}, "must be a mapping"),
        ({"format": "xml"}, "unknown `format: xml`"),
        ({"location": "out.txt"}, "written as `txt`"),
        ({"glue_register": True}, "not supported"),
        ({"plugin": "unity"}, "not supported"),
        ({"location": "s3://bucket/x.parquet"}, "remote locations are not supported"),
        ({"options": {"partition_by": " , "}}, "names no column"),
        ({"location": "{{ nope.x }}"}, "cannot render"),
    ],
)
def test_bad_configs_are_config_errors(tmp_path: Path, config: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        spec(tmp_path, config)


def test_a_bad_option_fails_the_node_and_writes_nothing(tmp_path: Path) -> None:
    root = project(
        tmp_path, {"models/bad.sql": model("options={'row_group_size; drop table x': 1}")}
    )
    results = build(root)
    assert results["bad"].status == "error" and "not an option name" in results["bad"].message
    assert not (root / "bad.parquet").exists()


def test_registered_as_a_stateful_model_materialization() -> None:
    assert "external" in known_materializations()
    mat = materialization_for(node({}))
    assert isinstance(mat, ExternalMaterialization) and mat.kind == "view"


def test_the_view_sql_filters_the_null_row_of_an_empty_output(tmp_path: Path) -> None:
    s = spec(tmp_path, {"format": "json", "json_read_options": {"format": "newline_delimited"}})
    assert s.view_sql(Path("/f.json"), ["id", 'we"ird']) == textwrap.dedent(
        """\
        SELECT * FROM read_json('/f.json', format = 'newline_delimited') WHERE 1 AND "id" IS NOT NULL AND "we""ird" IS NOT NULL"""
    )


def test_a_foreign_folder_is_never_replaced(tmp_path: Path, cli) -> None:
    """A `location` (a var, a typo) naming an existing folder: refused, the folder kept."""
    root = tmp_path / "p"
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep", encoding="utf-8")
    from tests.conftest import write_files

    write_files(root, {
        "dbt_project.yml": "name: p\nversion: '1.0'\nconfig-version: 2\n",
        "models/m.sql": "{{ config(materialized='external', location=var('out', 'out.parquet')) }} select 1 as a",
    })  # fmt: skip
    res = cli("run", "--project-dir", root, "--vars", f"{{out: {precious}}}")
    assert res.code != 0 and "not a partitioned output" in res.out + res.err
    assert (precious / "keep.txt").read_text(encoding="utf-8") == "keep"
