"""Generic tests get dbt's names, so `test -s <name>` and `store_failures` tables match dbt's."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from headwater.project.definition import Node
from headwater.project.test_specs import dbt_test_names


def _model(name: str = "m") -> Node:
    return Node(
        unique_id=f"model.p.{name}",
        name=name,
        resource_type="model",
        path="models/m.sql",
        package="p",
        fqn=["p", name],
    )


def test_names_match_dbt() -> None:
    # each name below is what dbt-core 1.11 gave for the same YAML
    m = _model()
    assert (
        dbt_test_names(m, "accepted_values", {"values": ["a", "b"]}, "status")[0]
        == "accepted_values_m_status__a__b"
    )
    full, short = dbt_test_names(
        m,
        "accepted_values",
        {"values": ["a", "b", "c_long_value_1", "c_long_value_2", "c_long_value_3"]},
        "status",
    )
    assert full == "accepted_values_m_status__a__b__c_long_value_1__c_long_value_2__c_long_value_3"
    assert short == "accepted_values_m_" + hashlib.md5(full.encode()).hexdigest()
    assert dbt_test_names(
        m,
        "dbt_utils.unique_combination_of_columns",
        {"combination_of_columns": ["id", "status"]},
        None,
    )[0] == ("dbt_utils_unique_combination_of_columns_m_id__status")
    assert dbt_test_names(m, "not_null", {}, "id")[0] == "not_null_m_id"
    source = Node(unique_id="source.p.raw.orders", name="orders", resource_type="source", path="s.yml", package="p",
                  fqn=["p", "raw", "orders"], source_name="raw")  # fmt: skip
    assert dbt_test_names(source, "unique", {}, "id")[0] == "source_unique_raw_orders_id"
    versioned = _model()
    versioned.version = "2"
    assert dbt_test_names(versioned, "relationships", {"to": "ref('c')", "field": "id"}, "cid")[
        0
    ] == ("relationships_m_v2_cid__id__ref_c_")


@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8),
    st.text(alphabet="abc_", min_size=1, max_size=20),
)
def test_names_are_identifiers_and_short_forms_fit(values: list[str], column: str) -> None:
    full, short = dbt_test_names(_model(), "accepted_values", {"values": values}, column)
    assert all(ch.isalnum() or ch == "_" for ch in full if ord(ch) < 128)
    assert len(short) < 64 or short == full
    assert (short == full) == (len(full) < 64)
