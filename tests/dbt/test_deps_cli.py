"""`headwater deps` installs what packages.yml declares; the project then builds with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from tests.conftest import write_files


def test_deps_installs_a_local_package_and_build_uses_it(
    tmp_path: Path, cli: Callable[..., object]
) -> None:
    write_files(
        tmp_path / "libs" / "greeter",
        {
            "dbt_project.yml": "name: greeter\nversion: '1.0.0'\nconfig-version: 2\n",
            "macros/hello.sql": "{% macro hello(x) %}'hello ' || {{ x }}{% endmacro %}\n",
        },
    )
    root = tmp_path / "proj"
    write_files(
        root,
        {
            "dbt_project.yml": "name: proj\nversion: '1.0'\nconfig-version: 2\n",
            "packages.yml": "packages:\n  - local: ../libs/greeter\n",
            "models/m.sql": "select {{ greeter.hello(\"'ann'\") }} as greeting\n",
        },
    )
    res = cli("build", "--project-dir", root)
    assert res.code == 2 and "headwater deps" in res.err  # type: ignore[attr-defined]
    res = cli("deps", "--project-dir", root)
    assert res.code == 0, res.err  # type: ignore[attr-defined]
    assert "installed 1 package(s)" in res.out  # type: ignore[attr-defined]
    assert (root / "package-lock.yml").is_file()
    assert (root / "dbt_packages" / "greeter" / "macros" / "hello.sql").is_file()
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err  # type: ignore[attr-defined]
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    assert con.sql("select greeting from main.m").fetchall() == [("hello ann",)]
