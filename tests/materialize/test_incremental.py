"""Incremental models: every strategy on a real DuckDB file, idempotency, schema changes, atomicity."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.context import Context
from tests.conftest import query, write_files

# The source is a seed so tests can change it between runs.
SEED_HEADER = "id,grp,amount,updated_at\n"


def _rows(rows: list[tuple[int, str, int, str]]) -> str:
    return SEED_HEADER + "".join(f"{i},{g},{a},{u}\n" for i, g, a, u in rows)


def _model(
    config: str,
    where: str = "where updated_at > (select coalesce(max(updated_at), '1900-01-01') from {{ this }})",
) -> str:
    return f"""
{{{{ config(materialized='incremental', {config}) }}}}
select id, grp, amount, cast(updated_at as date) as updated_at from {{{{ ref('src') }}}}
{{% if is_incremental() %}} {where} {{% endif %}}
"""


def _build(root: Path, command: str = "run", **options):
    with Context(root) as ctx:
        return getattr(ctx, command)(**options)


def _table(root: Path) -> list[tuple]:
    return query(root, "select * from main.m order by all")


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Callable[[str, list], Path]:
    def make(config: str, rows: list, model: str | None = None) -> Path:
        return make_project(
            {"seeds/src.csv": _rows(rows), "models/m.sql": model or _model(config)},
        )

    return make


def _set_source(root: Path, rows: list) -> None:
    write_files(root, {"seeds/src.csv": _rows(rows)})


V1 = [(1, "a", 10, "2026-01-01"), (2, "b", 20, "2026-01-01")]
V2 = [(1, "a", 11, "2026-01-02"), (2, "b", 20, "2026-01-01"), (3, "a", 30, "2026-01-02")]


def test_append_adds_only_new_rows(project) -> None:
    root = project("incremental_strategy='append'", V1)
    assert _build(root).exit_code == 0
    assert len(_table(root)) == 2
    _set_source(root, V2)
    result = _build(root)
    assert result.exit_code == 0 and "append: 2 rows" in result.results[-1].message
    assert len(_table(root)) == 4  # append keeps the old version of id 1


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_upsert_strategies(project, strategy: str) -> None:
    root = project(f"incremental_strategy='{strategy}', unique_key='id'", V1)
    _build(root)
    _set_source(root, V2)
    assert _build(root).exit_code == 0
    assert [(r[0], r[2]) for r in _table(root)] == [(1, 11), (2, 20), (3, 30)]
    before = _table(root)
    assert _build(root).exit_code == 0  # nothing new: same table
    assert _table(root) == before


def test_merge_update_columns_and_composite_key(project) -> None:
    root = project(
        "incremental_strategy='merge', unique_key=['id', 'grp'], merge_update_columns=['updated_at']",
        V1,
    )
    _build(root)
    _set_source(root, V2)
    _build(root)
    # amount of (1, a) is not updated (not in merge_update_columns), updated_at is
    assert _table(root)[0][:4] == (1, "a", 10, __import__("datetime").date(2026, 1, 2))


def test_merge_rejects_duplicate_keys_and_keeps_the_table(project) -> None:
    root = project("incremental_strategy='merge', unique_key='id'", V1)
    _build(root)
    _set_source(root, [*V2, (3, "b", 31, "2026-01-02")])
    result = _build(root)
    assert result.exit_code == 1 and "repeat 1 values of unique_key" in result.results[-1].message
    assert len(_table(root)) == 2


def test_insert_overwrite_replaces_partitions(project) -> None:
    root = project("incremental_strategy='insert_overwrite', partition_by='grp'", V1, _model(
        "incremental_strategy='insert_overwrite', partition_by='grp'", "where grp = 'a'"))  # fmt: skip
    _build(root)
    _set_source(root, [(5, "a", 50, "2026-01-03"), (2, "b", 99, "2026-01-03")])
    _build(root)
    # partition a replaced by the new rows of a; partition b untouched
    assert [(r[0], r[1], r[2]) for r in _table(root)] == [(2, "b", 20), (5, "a", 50)]


def test_full_refresh_rebuilds(project) -> None:
    root = project("incremental_strategy='append'", V1)
    _build(root)
    _set_source(root, V2)
    _build(root)
    assert len(_table(root)) == 4
    _build(root, full_refresh=True)
    assert len(_table(root)) == 3


@pytest.mark.parametrize(
    ("mode", "expect_columns", "ok"),
    [
        ("ignore", ["id", "grp", "amount", "updated_at"], True),
        ("append_new_columns", ["id", "grp", "amount", "updated_at", "extra"], True),
        ("sync_all_columns", ["id", "amount", "updated_at", "extra"], True),
        ("fail", ["id", "grp", "amount", "updated_at"], False),
    ],
)
def test_on_schema_change(project, mode: str, expect_columns: list[str], ok: bool) -> None:
    root = project(f"incremental_strategy='append', on_schema_change='{mode}'", V1)
    _build(root)
    _set_source(root, V2)
    new_model = f"""
{{{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='{mode}') }}}}
select id, amount, cast(updated_at as date) as updated_at, 'x' as extra from {{{{ ref('src') }}}}
{{% if is_incremental() %}} where updated_at > (select max(updated_at) from {{{{ this }}}}) {{% endif %}}
"""
    write_files(root, {"models/m.sql": new_model})
    result = _build(root)
    assert (result.exit_code == 0) == ok, result.results[-1].message
    cols = [
        r[0]
        for r in query(
            root,
            "select column_name from information_schema.columns where table_name = 'm' order by ordinal_position",
        )
    ]
    assert cols == expect_columns
    if not ok:
        assert "on_schema_change is `fail`" in result.results[-1].message
        assert len(_table(root)) == 2


def test_failing_check_rolls_back_the_merge(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "seeds/src.csv": _rows(V1),
            "models/m.sql": _model("incremental_strategy='append'"),
            "models/m.yml": "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: amount\n"
            "        data_tests: [{accepted_range: {min_value: 0}}]\n",
        }
    )
    assert _build(root, "build").exit_code == 0
    _set_source(root, [*V1, (9, "a", -5, "2026-02-01")])
    result = _build(root, "build")
    model = next(r for r in result.results if r.name == "m")
    assert model.status == "fail" and "previous version stays" in model.message
    assert len(_table(root)) == 2  # the appended bad row was rolled back


def test_missing_unique_key_for_merge_is_a_clear_error(project) -> None:
    root = project("incremental_strategy='merge'", V1)
    _build(root)
    result = _build(root)
    assert "has no `unique_key`" in result.results[-1].message


@settings(max_examples=15, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(1, 6), st.integers(0, 50)), min_size=0, max_size=6),
        min_size=1,
        max_size=4,
    )
)
def test_merge_in_batches_equals_one_big_merge(tmp_path_factory, batches) -> None:
    """Upserting changes batch by batch gives the table that upserting them all at once gives."""
    root = tmp_path_factory.mktemp("prop")
    write_files(
        root,
        {
            "headwater.yml": "name: t\ntargets: {dev: {engine: duckdb}}\n"
            "seeds:\n  +column_types: {seq: integer, id: integer, amount: integer}\n"
        },
    )
    model = """
{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}
select id, last(amount order by seq) as amount from {{ ref('src') }}
{% if is_incremental() %} where seq > (select coalesce(max(t.seq_seen), 0) from {{ this }} as t) {% endif %}
group by id
"""
    # each row remembers the highest sequence number merged so far, so a batch only brings new changes
    model = model.replace(
        "last(amount order by seq) as amount",
        "last(amount order by seq) as amount, max(seq) as seq_seen",
    )
    write_files(root, {"models/m.sql": model})
    seq, all_rows = 0, []
    for batch in batches:
        for key, amount in batch:
            seq += 1
            all_rows.append((seq, key, amount))
        write_files(
            root,
            {
                "seeds/src.csv": "seq,id,amount\n"
                + "".join(f"{s},{k},{a}\n" for s, k, a in all_rows)
            },
        )
        assert _build(root).exit_code == 0
    incremental = query(root, "select id, amount from main.m order by id") if all_rows else []
    expected: dict[int, int] = {}
    for _, key, amount in all_rows:
        expected[key] = amount
    assert incremental == sorted(expected.items())
