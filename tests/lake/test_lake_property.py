"""Property: any sequence of batches merged (or deleted+inserted, or appended) into a Delta table
leaves exactly the rows a plain Python model of the strategy gives, read back by delta-rs."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.context import Context
from tests.conftest import BASE_PROJECT, write_files

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")

batch = st.dictionaries(st.integers(0, 30), st.integers(-5, 5), min_size=1, max_size=12)


def _seed(rows: dict[int, int]) -> str:
    return "id,val\n" + "".join(f"{k},{v}\n" for k, v in sorted(rows.items()))


def _model(strategy: str) -> str:
    key = "" if strategy == "append" else ", unique_key='id'"
    return (f"{{{{ config(materialized='delta', incremental_strategy='{strategy}'{key}, "
            "partition_by=['part']) }}\n"
            "select id, val, id % 3 as part from {{ ref('src') }}\n")  # fmt: skip


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["merge", "delete+insert", "append"]), st.lists(batch, min_size=1, max_size=3)
)
def test_strategies_match_a_python_model(strategy: str, batches: list[dict[int, int]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="hw-lake-prop-"))
    try:
        write_files(root, {"headwater.yml": BASE_PROJECT, "models/m.sql": _model(strategy)})
        expected: dict[int, int] = {}
        appended: list[tuple[int, int]] = []
        for rows in batches:
            write_files(root, {"seeds/src.csv": _seed(rows)})
            with Context(root) as ctx:
                assert ctx.build().exit_code == 0
            expected.update(rows)
            appended += sorted(rows.items())
            data = deltalake.DeltaTable(str(root / "lake" / "main" / "m")).to_pyarrow_table()
            got = sorted((r["id"], r["val"]) for r in data.to_pylist())
            assert all(r["part"] == r["id"] % 3 for r in data.to_pylist())
            want = sorted(appended) if strategy == "append" else sorted(expected.items())
            assert got == want
    finally:
        shutil.rmtree(root, ignore_errors=True)
