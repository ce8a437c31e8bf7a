"""Conformance: model contracts (column types and constraints) and quarantine (bad rows set aside in
`<model>__quarantine`) on each engine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engines.test_materializations import build, kind, read, rows

Project = Callable[..., Path]

MODEL = """\
{{ config(materialized='table') }}
select * from (values
  (1, cast('a' as varchar(10)), cast(2.5 as numeric(10,2))),
  (2, cast('b' as varchar(10)), cast(AMOUNT as numeric(10,2)))
) as t(id, name, amount)
"""
CONTRACT = """\
version: 2
models:
  - name: c
    config: {contract: {enforced: true}}
    columns:
      - {name: id, data_type: ID_TYPE, constraints: [{type: not_null}, {type: unique}]}
      - {name: name, data_type: varchar(10)}
      - {name: amount, data_type: 'numeric(10,2)', constraints: [{type: check, expression: "amount > 0"}]}
"""


def contract_project(engine_project: Project, id_type: str = "int", amount: str = "3") -> Path:
    return engine_project({
        "models/c.sql": MODEL.replace("AMOUNT", amount),
        "models/props.yml": CONTRACT.replace("ID_TYPE", id_type),
    })  # fmt: skip


def write(root: Path, id_type: str = "int", amount: str = "3") -> None:
    (root / "models/c.sql").write_text(MODEL.replace("AMOUNT", amount), encoding="utf-8")
    (root / "models/props.yml").write_text(CONTRACT.replace("ID_TYPE", id_type), encoding="utf-8")


def test_a_matching_contract_publishes(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = contract_project(engine_project, id_type="integer")
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    assert [r[0] for r in rows(engine_name, schema_name, root, "c", "id")] == [1, 2]


def test_a_type_mismatch_is_not_published(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = contract_project(engine_project)
    assert build(root).exit_code == 0
    write(root, id_type="bigint", amount="4")
    result = build(root)
    [node] = result.results
    assert result.exit_code == 1 and node.status == "error"
    assert (
        "does not match its contract" in node.message
        and "`id`: contract says bigint (BIGINT), the model returns" in node.message
    )
    assert (
        "`name`" not in node.message and "`amount`" not in node.message
    )  # the same types in other spellings
    assert rows(engine_name, schema_name, root, "c", "amount") == Counter(
        [(2.5,), (3,)]
    )  # the previous version


def test_missing_and_extra_columns(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = contract_project(engine_project)
    (root / "models/props.yml").write_text(
        CONTRACT.replace("ID_TYPE", "int").replace("name: name", "name: label")
    )
    [node] = build(root).results
    assert node.status == "error"
    assert "missing column `label`" in node.message and "extra column `name`" in node.message
    assert kind(engine_name, schema_name, root, "c") is None


def test_broken_constraints_are_not_published(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = contract_project(engine_project, amount="-1")
    [node] = build(root).results
    assert node.status == "error" and "breaks its contract's constraints" in node.message
    assert "check `amount > 0`: 1 rows" in node.message and "not_null" not in node.message
    assert kind(engine_name, schema_name, root, "c") is None
    write(root, amount="5")
    (root / "models/c.sql").write_text(
        MODEL.replace("AMOUNT", "5").replace("(2, cast('b'", "(1, cast('b'"), encoding="utf-8"
    )
    [node] = build(root).results
    assert node.status == "error" and "unique on `id` (duplicate rows): 1 rows" in node.message


def test_an_unknown_contract_type_is_named(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = contract_project(engine_project, id_type="no_such_type")
    [node] = build(root).results
    assert node.status == "error" and "no_such_type" in node.message


@pytest.mark.differs({"postgres": "text and varchar are two types on PostgreSQL (one on DuckDB): a contract saying "
                      "text does not match a varchar column"})  # fmt: skip
def test_text_and_varchar_are_one_type(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = contract_project(engine_project)
    (root / "models/props.yml").write_text(
        CONTRACT.replace("ID_TYPE", "int").replace("data_type: varchar(10)", "data_type: text")
    )
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]


# -- quarantine ------------------------------------------------------------------------------------------
ORDERS = """\
{{ config(materialized='table') }}
select * from (values
  (1, 10, 'paid', 5.0),
  (2, 11, 'paid', 7.5),
  (3, null, 'paid', 3.0),
  (4, 12, 'refunded', 9.0),
  (4, 12, 'refunded', 9.0),
  (5, 13, 'paid', -2.0),
  (6, 14, 'lost', 1.0),
  (7, 10, 'paid', 4.0)
) as t(id, customer_id, status, amount)
"""
QUARANTINE = """\
version: 2
models:
  - name: orders
    config: {max_quarantined: MAX}
    columns:
      - name: id
        data_tests: [{unique: {config: {on_failure: quarantine}}}]
      - name: customer_id
        data_tests: [{not_null: {config: {on_failure: quarantine}}}]
      - name: amount
        data_tests: [{accepted_range: {min_value: 0, on_failure: quarantine}}]
"""


def test_quarantine_sets_bad_rows_aside(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project(
        {"models/orders.sql": ORDERS, "models/props.yml": QUARANTINE.replace("MAX", "'50%'")}
    )
    result = build(root)
    assert result.exit_code == 0, [(r.name, r.message) for r in result.results]
    [node] = result.results
    assert node.status == "warn" and node.rows == 4
    assert Counter(r[0] for r in rows(engine_name, schema_name, root, "orders", "id")) == Counter(
        [1, 2, 6, 7]
    )
    bad = read(engine_name, schema_name, root,
               f'SELECT id, _hw_failed_checks, _hw_reasons, _hw_invocation_id FROM "{schema_name}"."orders__quarantine"')  # fmt: skip
    assert Counter(r[0] for r in bad) == Counter([3, 4, 4, 5])
    by_id = {r[0]: r for r in bad}
    assert (
        by_id[3][1] == "not_null_orders_customer_id"
        and "`customer_id` failed not_null" in by_id[3][2]
    )
    assert by_id[5][1].startswith("accepted_range_orders_amount")
    assert {r[3] for r in bad} == {result.invocation_id}
    checks = {c.name: c for c in node.checks}
    assert checks["unique_orders_id"].quarantined == 2
    assert (
        f"2 rows quarantined in {schema_name}.orders__quarantine"
        in checks["unique_orders_id"].message
    )


def test_quarantine_over_the_limit_publishes_nothing(
    engine_name: str, engine_project: Project, schema_name: str
) -> None:
    root = engine_project(
        {"models/orders.sql": ORDERS, "models/props.yml": QUARANTINE.replace("MAX", "3")}
    )
    [node] = build(root).results
    assert (
        node.status == "error"
        and "4 rows of `orders` failed checks, more than max_quarantined (3)" in node.message
    )
    assert kind(engine_name, schema_name, root, "orders") is None
    assert kind(engine_name, schema_name, root, "orders__quarantine") is None
