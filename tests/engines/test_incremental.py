"""Conformance: incremental models on each engine — every strategy, merge column choices,
incremental_predicates, on_schema_change, microbatch through `headwater backfill`, full refresh
and rollback when an error-level check fails.

The source is a seed, rewritten between builds; rows are compared as multisets.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engines.test_materializations import build, column_types, rows

Project = Callable[..., Path]
D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
HEADER = "id,grp,amount,updated_at\n"
V1 = [(1, "a", 10, D1), (2, "b", 20, D1)]
V2 = [(1, "a", 11, D2), (2, "b", 20, D1), (3, "a", 30, D2)]
NEWER = "where updated_at > (select coalesce(max(updated_at), cast('1900-01-01' as date)) from {{ this }})"


def csv(data: list[tuple]) -> str:
    return HEADER + "".join(",".join(str(v) for v in row) + "\n" for row in data)


def model(
    config: str,
    where: str = NEWER,
    select: str = "id, grp, amount, cast(updated_at as date) as updated_at",
) -> str:
    return (
        f"{{{{ config(materialized='incremental', {config}) }}}}\n"
        f"select {select} from {{{{ ref('src') }}}}\n"
        f"{{% if is_incremental() %}} {where} {{% endif %}}\n"
    )


def project(engine_project: Project, config: str, data: list[tuple], **kw: str) -> Path:
    return engine_project({"seeds/src.csv": csv(data), "models/m.sql": model(config, **kw)})


def set_source(root: Path, data: list[tuple]) -> None:
    (root / "seeds/src.csv").write_text(csv(data), encoding="utf-8")


def ok(root: Path, **options: object) -> object:
    result = build(root, **options)
    assert result.exit_code == 0, [(r.name, r.status, r.message) for r in result.results]
    return result


def test_append_adds_the_new_rows(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = project(engine_project, "incremental_strategy='append'", V1)
    ok(root)
    set_source(root, V2)
    ok(root)
    assert rows(engine_name, schema_name, root, "m") == Counter(
        [*V1, (1, "a", 11, D2), (3, "a", 30, D2)]
    )


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_upserts_by_key_and_reruns_change_nothing(
    engine_name: str, engine_project: Project, schema_name: str, strategy: str
) -> None:
    root = project(engine_project, f"incremental_strategy='{strategy}', unique_key='id'", V1)
    ok(root)
    set_source(root, V2)
    ok(root)
    assert rows(engine_name, schema_name, root, "m") == Counter(V2)
    ok(root)  # nothing newer: the same table
    assert rows(engine_name, schema_name, root, "m") == Counter(V2)


@pytest.mark.parametrize(
    "choice", ["merge_update_columns=['updated_at']", "merge_exclude_columns=['amount', 'grp']"]
)
def test_merge_updates_only_the_chosen_columns(
    engine_name: str, engine_project: Project, schema_name: str, choice: str
) -> None:
    root = project(
        engine_project, f"incremental_strategy='merge', unique_key=['id', 'grp'], {choice}", V1
    )
    ok(root)
    set_source(root, V2)
    ok(root)
    # (1, a): updated_at follows the source, amount keeps its first value; (3, a) is inserted whole
    assert rows(engine_name, schema_name, root, "m") == Counter(
        [(1, "a", 10, D2), (2, "b", 20, D1), (3, "a", 30, D2)]
    )


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_incremental_predicates_narrow_the_match(
    engine_name: str, engine_project: Project, schema_name: str, strategy: str
) -> None:
    config = (
        f"incremental_strategy='{strategy}', unique_key='id', "
        "incremental_predicates=['DBT_INTERNAL_DEST.amount < 100', 'DBT_INTERNAL_SOURCE.amount > 0']"
    )
    root = project(
        engine_project, config, [(1, "a", 10, D1), (2, "b", 200, D1)], where="where true"
    )
    ok(root)
    set_source(root, [(1, "a", 11, D2), (2, "b", 201, D2)])
    ok(root)
    # id 2's stored row (amount 200) is outside the predicate: it is not matched, so kept, and the
    # new version of id 2 is added beside it (dbt's semantics for both strategies)
    assert rows(engine_name, schema_name, root, "m") == Counter(
        [(1, "a", 11, D2), (2, "b", 200, D1), (2, "b", 201, D2)]
    )


@pytest.mark.parametrize("partition", ["'grp'", "{'field': 'updated_at', 'granularity': 'month'}"])
def test_insert_overwrite_replaces_whole_partitions(
    engine_name: str, engine_project: Project, schema_name: str, partition: str
) -> None:
    data = [(1, "a", 10, D1), (2, "b", 20, dt.date(2025, 12, 31))]
    root = project(engine_project, f"incremental_strategy='insert_overwrite', partition_by={partition}", data,
                   where="where grp = 'a'")  # fmt: skip
    ok(root)
    set_source(root, [(3, "a", 30, D2), (2, "b", 21, dt.date(2025, 12, 31))])
    ok(root)
    # the partition of the new rows (grp a / January 2026) is replaced; the other one stays
    assert rows(engine_name, schema_name, root, "m") == Counter(
        [(3, "a", 30, D2), (2, "b", 20, dt.date(2025, 12, 31))]
    )


# -- on_schema_change -------------------------------------------------------------------------------------
CHANGED = "id, grp, cast(amount as bigint) as amount, cast(updated_at as date) as updated_at, 'x' as extra"


def _changed(root: Path, mode: str) -> None:
    (root / "models/m.sql").write_text(
        model(
            f"incremental_strategy='append', on_schema_change='{mode}'",
            select=CHANGED.replace("grp, ", ""),
        ),
        encoding="utf-8",
    )


@pytest.mark.parametrize("mode", ["ignore", "fail", "append_new_columns", "sync_all_columns"])
def test_on_schema_change(
    engine_name: str, engine_project: Project, schema_name: str, mode: str
) -> None:
    root = project(engine_project, f"incremental_strategy='append', on_schema_change='{mode}'", V1)
    ok(root)
    before = column_types(engine_name, schema_name, root, "m")
    set_source(root, V2)
    _changed(root, mode)  # drops grp, retypes amount to bigint, adds extra
    result = build(root)
    table = rows(engine_name, schema_name, root, "m")
    after = column_types(engine_name, schema_name, root, "m")
    names = [n for n, _ in after]
    if mode == "fail":
        assert result.exit_code == 1 and "on_schema_change is `fail`" in result.results[-1].message
        assert after == before and table == Counter(V1)
        return
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    new = [(1, 11, D2), (3, 30, D2)]  # the rows newer than the table's
    if mode == "ignore":
        assert after == before
        assert table == Counter([*V1, *((i, None, a, d) for i, a, d in new)])
    elif mode == "append_new_columns":
        assert names == ["id", "grp", "amount", "updated_at", "extra"]
        assert table == Counter(
            [*((*r, None) for r in V1), *((i, None, a, d, "x") for i, a, d in new)]
        )
    else:  # sync_all_columns
        assert names == ["id", "amount", "updated_at", "extra"]
        amount = dict(after)["amount"]
        assert amount.lower() == "bigint", after
        assert table == Counter(
            [(1, 10, D1, None), (2, 20, D1, None), *((i, a, d, "x") for i, a, d in new)]
        )


# -- full refresh and rollback ----------------------------------------------------------------------------
CHECKED = """\
version: 2
models:
  - name: m
    columns:
      - name: amount
        data_tests: [not_null]
"""


@pytest.mark.parametrize("strategy", ["merge", "delete+insert", "append"])
def test_a_failing_check_leaves_the_previous_version(
    engine_name: str, engine_project: Project, schema_name: str, strategy: str
) -> None:
    key = ", unique_key='id'" if strategy != "append" else ""
    root = engine_project({"seeds/src.csv": csv(V1), "models/m.sql": model(f"incremental_strategy='{strategy}'{key}"),
                           "models/props.yml": CHECKED})  # fmt: skip
    ok(root)
    set_source(root, [(1, "a", "", D2), (3, "c", 30, D2)])  # id 1 loses its amount: not_null fails
    result = build(root)
    assert result.exit_code == 1
    [node] = [r for r in result.results if r.name == "m"]
    assert node.status == "fail" and "the previous version stays" in node.message
    assert rows(engine_name, schema_name, root, "m") == Counter(V1)
    # and a full refresh that fails its checks keeps it too
    result = build(root, full_refresh=True)
    assert result.exit_code == 1
    assert rows(engine_name, schema_name, root, "m") == Counter(V1)


def test_full_refresh_rebuilds_under_a_dependent_view(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({
        "seeds/src.csv": csv(V1),
        "models/m.sql": model("incremental_strategy='append'"),
        "models/v.sql": "{{ config(materialized='view') }}\nselect id, amount from {{ ref('m') }}",
    })  # fmt: skip
    ok(root)
    set_source(root, V2)
    ok(
        root, select=["src", "m"], full_refresh=True
    )  # not v: the view over m must survive the rebuild
    assert rows(engine_name, schema_name, root, "m") == Counter(V2)
    assert rows(engine_name, schema_name, root, "v") == Counter([(1, 11), (2, 20), (3, 30)])


def test_full_refresh_with_new_columns_under_a_dependent_view(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project({
        "seeds/src.csv": csv(V1),
        "models/m.sql": model("incremental_strategy='append'"),
        "models/v.sql": "{{ config(materialized='view') }}\nselect id, amount from {{ ref('m') }}",
    })  # fmt: skip
    ok(root)
    (root / "models/m.sql").write_text(
        model("incremental_strategy='append'", select=CHANGED), encoding="utf-8"
    )
    ok(root, select=["m"], full_refresh=True)
    assert [n for n, _ in column_types(engine_name, schema_name, root, "m")][-1] == "extra"
    assert rows(engine_name, schema_name, root, "v") == Counter([(1, 10), (2, 20)])


# -- microbatch -------------------------------------------------------------------------------------------
EVENTS = "id,ts,v\n1,2024-01-01 10:00:00,1\n2,2024-01-02 09:00:00,2\n3,2024-01-02 23:59:59,3\n4,2024-01-03 00:00:00,4\n5,2024-01-05 12:00:00,5\n"
MICROBATCH = """\
{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='ts', batch_size='day',
          begin='2024-01-01', lookback=1) }}
select id, ts, v * 10 as v from {{ ref('events') }}
"""


def test_microbatch_backfill_and_idempotent_reruns(
    engine_name: str, engine_project: Project, schema_name: str, cli: Callable[..., object]
) -> None:
    root = engine_project({"seeds/events.csv": EVENTS, "models/m.sql": MICROBATCH})
    assert cli("seed", "--project-dir", root).code == 0  # type: ignore[attr-defined]

    def backfill(*args: str) -> None:
        res = cli(
            "backfill",
            "m",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-04",
            *args,
            "--project-dir",
            root,
        )
        assert res.code == 0, (res.out, res.err)  # type: ignore[attr-defined]

    backfill()
    expected = Counter([
        (1, dt.datetime(2024, 1, 1, 10), 10), (2, dt.datetime(2024, 1, 2, 9), 20),
        (3, dt.datetime(2024, 1, 2, 23, 59, 59), 30), (4, dt.datetime(2024, 1, 3), 40),
    ])  # fmt: skip
    assert rows(engine_name, schema_name, root, "m") == expected  # 5 Jan is outside the range
    backfill("--rerun", "all")  # every interval rebuilt: the same rows, none doubled
    assert rows(engine_name, schema_name, root, "m") == expected

    (root / "seeds/events.csv").write_text(
        EVENTS.replace(",2\n", ",7\n").replace("1,2024-01-01 10:00:00,1", "1,2024-01-01 10:00:00,6")
    )
    assert cli("seed", "--project-dir", root).code == 0  # type: ignore[attr-defined]
    res = cli(
        "backfill",
        "m",
        "--start",
        "2024-01-02",
        "--end",
        "2024-01-03",
        "--rerun",
        "all",
        "--project-dir",
        root,
    )
    assert res.code == 0, (res.out, res.err)  # type: ignore[attr-defined]
    # only 2 January was replaced: id 2 has its new value, id 1 (1 January) keeps the old one
    expected[(2, dt.datetime(2024, 1, 2, 9), 20)] -= 1
    expected[(2, dt.datetime(2024, 1, 2, 9), 70)] += 1
    assert rows(engine_name, schema_name, root, "m") == +expected


@pytest.mark.differs({"postgres": "a model's unique_key matches with `=` (as dbt-postgres): a NULL key never matches, "
                      "so the row is inserted again (Functions.key_equal, README's known differences)"})  # fmt: skip
@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_a_null_unique_key_matches_itself(
    engine_name: str, engine_project: Project, schema_name: str, strategy: str
) -> None:
    # no is_incremental() filter: every build sends the same rows, one of them with a NULL key
    root = engine_project({"seeds/src.csv": "id,grp,amount,updated_at\n,a,1,2026-01-01\n2,b,2,2026-01-01\n",
                           "models/m.sql": model(f"incremental_strategy='{strategy}', unique_key='id'", where="")})  # fmt: skip
    ok(root)
    ok(root)
    assert rows(engine_name, schema_name, root, "m") == Counter(
        [(None, "a", 1, D1), (2, "b", 2, D1)]
    )
