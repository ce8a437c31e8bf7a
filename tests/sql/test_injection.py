"""Every generated statement is exactly one statement: a column name, a `where`, a `--vars` value
or a model body cannot smuggle in a second one. Each attack drops a canary table if it runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import ConfigError
from headwater.sql.safety import check_expression, statement_count
from tests.conftest import query

CANARY = {"models/canary.sql": "{{ config(materialized='table') }}\nselect 1 as x\n"}
M = "{{ config(materialized='table') }}\nselect 1 as x, 'a' as s\n"


def _tables(root: Path) -> set[str]:
    return {r[0] for r in query(root, "select table_name from information_schema.tables")}


def _built(make_project: Callable[..., Path], cli, files: dict[str, str]) -> Path:
    root = make_project({**CANARY, "models/m.sql": M})
    assert cli("build", "--project-dir", root).code == 0
    from tests.conftest import write_files

    write_files(root, files)
    return root


YAML_ATTACKS = {
    "column": '      - name: "x) AS c0 FROM main.canary; DROP TABLE main.canary; SELECT count(x"\n        data_tests: [not_null]\n',
    "comment": '      - name: "x IS NULL OR true --"\n        data_tests: [not_null]\n',
    "where": (
        "      - name: x\n        data_tests:\n          - not_null:\n              config:\n"
        '                where: "1=1) AS c0 FROM main.canary; DROP TABLE main.canary; SELECT count(*) FILTER (WHERE 1=1"\n'
    ),
    "expression": (
        "      - name: x\n        data_tests:\n          - expression_is_true:\n              arguments:\n"
        '                expression: "true; DROP TABLE main.canary"\n'
    ),
}


@pytest.mark.parametrize("attack", YAML_ATTACKS.values(), ids=YAML_ATTACKS.keys())
def test_yaml_fragments_are_one_expression(
    make_project: Callable[..., Path], cli, attack: str
) -> None:
    root = _built(
        make_project,
        cli,
        {"models/m.yml": "version: 2\nmodels:\n  - name: m\n    columns:\n" + attack},
    )
    res = cli("build", "--project-dir", root)
    assert res.code == 2, res.out + res.err
    assert "models/m.yml:" in res.err and "is refused" in res.err
    assert "canary" in _tables(root)


def test_a_var_cannot_add_a_statement(make_project: Callable[..., Path], cli) -> None:
    root = _built(
        make_project,
        cli,
        {
            "models/m.sql": "{{ config(materialized='table') }}\nselect '{{ var(\"v\", \"a\") }}' as s\n"
        },
    )
    attack = "{v: \"a' as s); DROP TABLE main.canary; CREATE TABLE main.m AS (select 'a\"}"
    res = cli("build", "--project-dir", root, "--vars", attack)
    assert res.code == 2, res.out + res.err
    assert "models/m.sql:2" in res.err and "statements" in res.err
    assert "canary" in _tables(root)
    assert cli("build", "--project-dir", root, "--vars", "{v: fine; really}").code == 0
    assert query(root, "select s from main.m") == [("fine; really",)]


def test_a_model_body_is_one_statement(make_project: Callable[..., Path], cli) -> None:
    root = _built(make_project, cli, {"models/m.sql": "select 1 as x;\n\ndrop table main.canary\n"})
    res = cli("build", "--project-dir", root)
    assert res.code == 2, res.out + res.err
    assert "models/m.sql:3" in res.err and "2 statements" in res.err
    assert "canary" in _tables(root)
    # a trailing `;` and semicolons inside strings and comments are fine
    (root / "models" / "m.sql").write_text("select 'a;b' as s -- c;d\n;\n", encoding="utf-8")
    assert cli("build", "--project-dir", root).code == 0


def test_an_incremental_variant_is_one_statement(make_project: Callable[..., Path], cli) -> None:
    body = (
        "{{ config(materialized='incremental') }}\nselect 1 as x\n"
        "{% if is_incremental() %}; drop table main.canary{% endif %}\n"
    )
    root = _built(make_project, cli, {"models/m.sql": body})
    res = cli("build", "--project-dir", root)
    assert res.code == 2 and "statements" in res.err
    assert "canary" in _tables(root)


@given(
    st.lists(
        st.sampled_from(["select 1", "select ';'", "select 2 -- ;", "/* ; */ select 3", ""]),
        min_size=1,
        max_size=5,
    )
)
def test_statement_count_ignores_strings_comments_and_empty_statements(parts: list[str]) -> None:
    sql = "\n;\n".join(parts)
    assert len(statement_count(sql)) == sum(1 for p in parts if p.strip())


@pytest.mark.parametrize(
    "text",
    [
        "x; drop table t",
        "x -- rest",
        "x /* c */",
        "(select 1); select 2",
        "1) from t; drop table t; select (1",
    ],
)
def test_check_expression_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="is refused"):
        check_expression(text, what="column")


@pytest.mark.parametrize(
    "text", ["lower(email)", "coalesce(a, b) || ';'", '"weird name"', "a + 1 > 2 and b is null"]
)
def test_check_expression_accepts(text: str) -> None:
    assert check_expression(text, what="column") == text
