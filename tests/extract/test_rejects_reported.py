"""Rejected records are reported, not silent (issue 11, item 7): a load that sets records aside
in `<table>__rejected` is a WARN — on the node's console line, in the run summary, in `headwater
status` and in the `--json` result (`rejected`) — with exit 0 unless `max_rejected` is exceeded.
A reject's reason names its column and, where the source has lines, its line; an echoed record
or value is cut (item 12d)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.engines.duckdb import DuckDBEngine
from tests.extract.conftest import load

BAD = "id,name,amount\n1,ann,1.5\n2,bob\n3,cy,2.5,extra\n4,dee,4\n5,eve,notanumber\n6,fay,6\n"
SOURCES = """\
version: 2
sources:
  - name: shop
    schema: raw
    connector: files
    tables:
      - name: orders
        extract: {{path: "*.csv", column_types: {{amount: DOUBLE}}{extra}}}
"""


def _project(make_project: Callable[..., Path], extra: str = "") -> Path:
    return make_project({"sources.yml": SOURCES.format(extra=extra), "data/raw/a.csv": BAD})


def test_rejects_warn_on_the_node_line_in_the_summary_and_exit_0(
    make_project: Callable[..., Path], cli
) -> None:
    root = _project(make_project)
    res = cli("extract", "--project-dir", root)
    assert res.code == 0, res.out + res.err
    node_line = next(
        line for line in res.out.splitlines() if "shop.orders" in line and "[1/1]" in line
    )
    assert "WARN" in node_line and "3 rows, 3 rejected" in node_line
    assert (
        "3 rows loaded, 3 rejected → raw.orders__rejected (first: a.csv line 3: MISSING COLUMNS"
        in res.out
    )
    summary = res.out[res.out.index("Done in") :]
    assert "1 warn" in summary and "3 records rejected" in summary and "WARN raw.orders" in summary
    # `headwater status` shows the load and its rejects table
    res = cli("status", "--project-dir", root)
    assert res.code == 0 and "raw.orders__rejected" in res.out and "3 rejected" in res.out
    res = cli("status", "--project-dir", root, "--json")
    [load] = json.loads(res.out)["rejected"]
    assert (
        load["relation"] == "raw.orders" and "3 rejected → raw.orders__rejected" in load["message"]
    )


def test_the_json_result_has_a_rejected_field(make_project: Callable[..., Path], cli) -> None:
    root = _project(make_project)
    res = cli("extract", "--project-dir", root, "--json")
    assert res.code == 0, res.out + res.err
    data = json.loads(res.out)
    [node] = data["results"]
    assert node["status"] == "warn" and node["rejected"] == 3 and node["rows"] == 3
    assert data["success"] is True and data["summary"]["nodes"] == {"warn": 1}


def test_max_rejected_exceeded_is_still_a_failure(make_project: Callable[..., Path], cli) -> None:
    root = _project(make_project, extra=", max_rejected: 0.25")
    res = cli("extract", "--project-dir", root)
    assert (
        res.code == 1
        and "3 of 6 records in a.csv were rejected, more than max_rejected" in res.out + res.err
    )


# -- reasons: the column, the line, and no 10 KB echo ---------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "first", "second", "line", "reason"),
    [
        # CSV: the reader itself converts to the table's type, so DuckDB reports the line
        ("csv", "id,amount\n1,2\n", "id,amount\n\n2,3\n3,abc\n4,5\n", 4, 'converting column "amount"'),
        # NDJSON: the line in the file (blank lines count)
        ("ndjson", '{"id": 1, "amount": 2}\n', '{"id": 2, "amount": "3"}\n\n{"id": 3, "amount": "abc"}\n{"id": 4, "amount": "5"}\n',
         3, "column `amount`: cannot convert abc to BIGINT"),
        # a JSON array: the record's number
        ("json", '[{"id": 1, "amount": 2}]', '[{"id": 2, "amount": "3"}, {"id": 3, "amount": "abc"}, {"id": 4, "amount": "5"}]',
         2, "column `amount`: cannot convert abc to BIGINT"),
    ],
)  # fmt: skip
def test_a_value_that_does_not_fit_the_table_names_its_column_and_line(
    engine: DuckDBEngine, tmp_path: Path, ext: str, first: str, second: str, line: int, reason: str
) -> None:
    (tmp_path / f"a.{ext}").write_text(first)
    load(engine, tmp_path, f"*.{ext}")  # amount is a BIGINT column now
    (tmp_path / f"b.{ext}").write_text(second)
    result = load(engine, tmp_path, f"*.{ext}")
    assert result.rows == 2 and result.rejected == 1
    [(got_line, got_reason, source_file, raw)] = engine.execute(
        "SELECT line, reason, source_file, raw FROM raw.orders__rejected"
    )
    assert (got_line, source_file) == (line, f"b.{ext}") and reason in got_reason and "abc" in raw
    assert "__hw_row" not in raw
    assert engine.execute("SELECT id FROM raw.orders ORDER BY id") == [(1,), (2,), (4,)]


def test_ndjson_lines_are_right_in_sliced_batches(engine: DuckDBEngine, tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_text('{"id": 1, "amount": 2}\n')
    load(engine, tmp_path, "*.ndjson")
    (tmp_path / "b.ndjson").write_text(
        "".join(f'{{"id": {i}, "amount": "{"bad" if i in (5, 9) else i}"}}\n' for i in range(2, 12))
    )
    assert load(engine, tmp_path, "*.ndjson", batch_size=3).rejected == 2
    assert engine.execute("SELECT line FROM raw.orders__rejected ORDER BY line") == [(4,), (8,)]


def test_a_huge_value_is_cut_in_the_reason_and_kept_whole_in_raw(
    make_project: Callable[..., Path], cli
) -> None:
    csv = "id,amount\n1,2\n2," + "x" * 10_000 + "\n"
    root = make_project({"sources.yml": SOURCES.format(extra=""), "data/raw/a.csv": csv})
    res = cli("extract", "--project-dir", root)
    assert res.code == 0 and "WARN" in res.out
    assert (
        "(9,800 more characters)" in res.out
        and max(len(line) for line in res.out.splitlines()) < 600
    )
    from tests.conftest import query

    [(raw, reason)] = query(root, "select raw, reason from raw.orders__rejected")
    # (DuckDB's rejects table keeps the line's first 10,000 characters)
    assert (
        raw.startswith("2,xxx")
        and len(raw) >= 10_000
        and len(reason) < 400
        and reason.endswith("to 'DOUBLE'")
    )


def test_a_huge_value_is_cut_in_the_loaders_own_reason(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    (tmp_path / "a.ndjson").write_text('{"id": 1}\n')
    load(engine, tmp_path, "*.ndjson")
    (tmp_path / "b.ndjson").write_text('{"id": "' + "y" * 10_000 + '"}\n')
    result = load(engine, tmp_path, "*.ndjson")
    assert result.rejected == 1
    [(reason, raw)] = engine.execute("SELECT reason, raw FROM raw.orders__rejected")
    assert (
        reason.startswith("column `id`: cannot convert yyy")
        and "… (9,800 more characters) to BIGINT" in reason
    )
    assert len(reason) < 300 and "y" * 10_000 in raw
    assert result.first_rejected is not None and len(result.first_rejected) < 300
