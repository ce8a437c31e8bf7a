"""An empty source must not replace a full table (issue 11, item 6), and a ragged CSV in the
simple `files:` form reports the CSV problem (item 12c).

A header-only CSV used to turn a 1,000-row table and everything downstream into 0 rows with exit
0. Now the node fails (exit 1) naming the table, both row counts and the opt-out key, the old table
and its downstream stay; `allow_empty: true` accepts it, `max_row_drop` also refuses a big drop.
Both with `connector: files` + `write_disposition: replace` and with `files:`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.errors import ExecutionError
from headwater.extract.base import connector_class
from headwater.extract.load import Loader, LoadResult
from headwater.project.definition import Relation
from tests.conftest import query

REL = Relation("raw", "orders")
FULL = "id,amount\n" + "".join(f"{i},{i}\n" for i in range(1, 1001))
HEADER_ONLY = "id,amount\n"


def load(engine: DuckDBEngine, base: Path, **config: Any) -> LoadResult:
    cfg = {"path": "orders.csv", "base_dir": str(base), "write_disposition": "replace", **config}
    return Loader(engine, REL, connector_class("files")("shop", "orders", cfg, env={})).run()


def _count(engine: DuckDBEngine) -> int:
    return int(engine.execute("SELECT count(*) FROM raw.orders")[0][0])


def test_replace_with_an_empty_source_is_refused_and_the_table_stays(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    (tmp_path / "orders.csv").write_text(FULL)
    assert load(engine, tmp_path).rows == 1000
    (tmp_path / "orders.csv").write_text(HEADER_ONLY)
    with pytest.raises(
        ExecutionError,
        match=r"refusing to replace raw.orders \(1,000 rows\) with an empty table \(0 rows\)",
    ) as err:
        load(engine, tmp_path)
    assert "allow_empty: true" in (err.value.hint or "")
    assert _count(engine) == 1000
    assert not engine.execute(
        "SELECT * FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name != 'orders'"
    )
    # the opt-out: the source is meant to be empty
    assert load(engine, tmp_path, allow_empty=True).rows == 0
    assert _count(engine) == 0


def test_max_row_drop_refuses_a_big_drop(engine: DuckDBEngine, tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(FULL)
    load(engine, tmp_path, max_row_drop=0.5)
    (tmp_path / "orders.csv").write_text("id,amount\n" + "".join(f"{i},{i}\n" for i in range(400)))
    with pytest.raises(
        ExecutionError,
        match=r"raw.orders \(1,000 rows\) with 400 rows: a drop of 60%, more than max_row_drop \(0.5\)",
    ):
        load(engine, tmp_path, max_row_drop=0.5)
    assert _count(engine) == 1000
    (tmp_path / "orders.csv").write_text("id,amount\n" + "".join(f"{i},{i}\n" for i in range(600)))
    assert load(engine, tmp_path, max_row_drop=0.5).rows == 600  # a 40% drop is within the limit
    assert load(engine, tmp_path).rows == 600  # off by default: any non-empty replace is taken


# -- end to end: exit codes, downstream, and the simple `files:` form -----------------------------------
CONNECTOR = """\
version: 2
sources:
  - name: shop
    schema: raw
    connector: files
    tables:
      - name: orders
        extract: {{path: orders.csv, write_disposition: replace{extra}}}
"""
SIMPLE = """\
version: 2
sources:
  - name: shop
    schema: raw
    tables:
      - name: orders
        files: {{path: orders.csv{extra}}}
"""
MART = "{{ config(materialized='table') }}\nselect id, amount from {{ source('shop', 'orders') }}\n"


@pytest.mark.parametrize("form", [CONNECTOR, SIMPLE], ids=["connector", "files"])
def test_an_empty_source_fails_the_node_and_keeps_the_tables(
    make_project: Callable[..., Path], cli, form: str
) -> None:
    root = make_project(
        {
            "sources.yml": form.format(extra=""),
            "data/raw/orders.csv": FULL,
            "models/marts/mart.sql": MART,
        }
    )
    assert cli("build", "--project-dir", root).code == 0
    (root / "data/raw/orders.csv").write_text(HEADER_ONLY)
    res = cli("build", "--project-dir", root)
    out = res.out + res.err
    assert res.code == 1, out
    assert (
        "refusing to replace raw.orders (1,000 rows) with an empty table (0 rows)" in out
        and "allow_empty: true" in out
    )
    assert "SKIP" in out and "upstream `shop.orders` failed" in out
    assert query(
        root, "select (select count(*) from raw.orders), (select count(*) from main.mart)"
    ) == [(1000, 1000)]
    # allowed: the empty source goes through, downstream too
    (root / "sources.yml").write_text(form.format(extra=", allow_empty: true"))
    res = cli("build", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    assert query(
        root, "select (select count(*) from raw.orders), (select count(*) from main.mart)"
    ) == [(0, 0)]


@pytest.mark.parametrize("form", [CONNECTOR, SIMPLE], ids=["connector", "files"])
@pytest.mark.parametrize(("extra", "message"), [
    (", allow_empty: 'yes'", "`allow_empty` must be true or false"),
    (", max_row_drop: 2", "`max_row_drop` must be a fraction above 0 and at most 1"),
    (", alow_empty: true", "did you mean `allow_empty`?"),
])  # fmt: skip
def test_the_guard_keys_are_checked_when_the_project_is_read(
    make_project: Callable[..., Path], cli, form: str, extra: str, message: str
) -> None:
    root = make_project({"sources.yml": form.format(extra=extra), "data/raw/orders.csv": FULL})
    res = cli("compile", "--project-dir", root)
    assert res.code == 2, res.out + res.err
    line = next(i for i, text in enumerate(form.splitlines(), 1) if "{extra}" in text)
    assert f"sources.yml:{line}:" in res.err and message in res.err


# -- item 12c: a ragged CSV in the simple form ------------------------------------------------------------
RAGGED = (
    "id,name,amount,city\n"
    + "".join(f"{i},n{i},{i}.5,c\n" for i in range(1, 6))
    + "6,x,1,c,EXTRA\n7,n,2,c\n"
)


def test_a_ragged_csv_in_the_simple_form_names_the_file_line_and_problem(
    make_project: Callable[..., Path], cli
) -> None:
    mart = "{{ config(materialized='table') }}\nselect id, amount from {{ source('shop', 'orders') }}\n"
    root = make_project(
        {
            "sources.yml": SIMPLE.format(extra=""),
            "data/raw/orders.csv": RAGGED,
            "models/marts/mart.sql": mart,
        }
    )
    res = cli("build", "--project-dir", root)
    out = res.out + res.err
    assert res.code == 1, out
    assert "data/raw/orders.csv line 7 has 5 fields, expected 4" in out
    assert "connector: files" in out and "fix the file" in out
    assert "Binder" not in out and "upstream `shop.orders` failed" in out
    # the fix: the bad line goes away, the load and the model go through
    (root / "data/raw/orders.csv").write_text(RAGGED.replace(",EXTRA", ""))
    assert cli("build", "--project-dir", root).code == 0
    assert query(root, "select count(*), sum(amount) from main.mart") == [(7, 20.5)]


def test_a_bad_value_in_the_simple_form_names_its_line_and_column_and_cuts_a_huge_value(
    make_project: Callable[..., Path], cli
) -> None:
    """Item 12d too: the 10,000-character value is cut in the message."""
    files = SIMPLE.format(extra=", options: {types: {amount: INTEGER}}")
    csv = "id,amount\n1,2\n2," + "x" * 10_000 + "\n3,4\n"
    root = make_project({"sources.yml": files, "data/raw/orders.csv": csv})
    res = cli("build", "--project-dir", root)
    out = res.out + res.err
    assert res.code == 1, out
    assert "data/raw/orders.csv line 3 cannot be read" in out and 'column "amount"' in out
    assert "(9,800 more characters)" in out and len(out) < 2_000
