"""Property: whatever lines of a CSV / NDJSON file are corrupted, every input line comes back exactly
once — as a good row or as a rejected record with its own line number and raw text."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.extract.base import ExtractState, arrow_batches
from headwater.extract.files import FilesConnector

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 _-", min_size=0, max_size=8)
GOOD = st.tuples(st.integers(-(10**12), 10**12), WORDS, st.integers(-1000, 1000)).map(
    lambda t: ("good", t)
)
# corruptions: a missing field, an extra field (DuckDB tolerates an *empty* trailing one), a value
# that is not an integer
BAD = st.one_of(
    st.tuples(st.integers(0, 10**6), WORDS).map(lambda t: ("missing", t)),
    st.tuples(st.integers(0, 10**6), WORDS, st.integers(), WORDS.filter(bool)).map(
        lambda t: ("extra", t)
    ),
    st.tuples(st.integers(0, 10**6), WORDS, st.from_regex(r"[a-z]{1,5}", fullmatch=True)).map(
        lambda t: ("cast", t)
    ),
)


def extract(tmp: str, name: str, content: bytes, config: dict) -> list:
    Path(tmp, name).write_bytes(content)
    conn = FilesConnector("src", "t", {"path": name, "base_dir": tmp, **config}, env={})
    return list(arrow_batches(conn.extract(ExtractState())))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(GOOD, GOOD, BAD), min_size=1, max_size=60))
def test_csv_good_plus_rejected_is_every_line(records):
    lines = ["id|name|n"]
    for _, values in records:
        lines.append("|".join(str(v) for v in values))
    content = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        [batch] = extract(
            tmp, "a.csv", content,
            {"delimiter": "|", "quote": '"', "column_types": {"id": "BIGINT", "name": "VARCHAR", "n": "INTEGER"}},
        )  # fmt: skip
    expected_good = [
        {"id": v[0], "name": v[1] or None, "n": v[2]} for kind, v in records if kind == "good"
    ]  # fmt: skip
    expected_bad = [(i + 2, lines[i + 1]) for i, (kind, _) in enumerate(records) if kind != "good"]
    assert batch.table.to_pylist() == expected_good
    assert [(r.line, r.raw) for r in batch.rejected] == expected_bad
    assert batch.table.num_rows + len(batch.rejected) == len(records)
    assert all(r.source_file == "a.csv" and r.reason for r in batch.rejected)


JSON_BAD = st.sampled_from(
    ['{"id": 1', "nope", "[1, 2]", '{"id": 2} x', "42", '"text"', "{'id': 1}"]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("good"), st.integers(-(10**9), 10**9), WORDS),
            st.tuples(st.just("bad"), JSON_BAD, st.just("")),
            st.tuples(st.just("blank"), st.just(""), st.just("")),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_ndjson_good_plus_rejected_is_every_line(records):
    lines = []
    for kind, a, b in records:
        lines.append(json.dumps({"id": a, "name": b}) if kind == "good" else a)
    content = "\n".join(lines).encode()
    with tempfile.TemporaryDirectory() as tmp:
        [batch] = extract(tmp, "a.ndjson", content, {})
    good = [{"id": a, "name": b} for kind, a, b in records if kind == "good"]
    bad = [
        (i + 1, line)
        for i, (line, (kind, _, _)) in enumerate(zip(lines, records, strict=True))
        if kind == "bad"
    ]
    got = batch.table.to_pylist()
    if good:
        assert [{"id": r["id"], "name": r["name"]} for r in got] == good
    else:
        assert got == []
    assert [(r.line, r.raw) for r in batch.rejected] == bad
