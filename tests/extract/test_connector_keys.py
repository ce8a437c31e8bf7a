"""Typos in a connector's keys are found when the project is read (issue 11, item 12b): every key of
`connection:` and `extract:` — nested ones such as the http connector's `auth:` too — is checked
against the keys the connector declares, with file:line, "did you mean …?" and exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.extract.base import connector_class

PROJECT = "version: 2\nsources:\n  - name: src\n    connector: {kind}\n{connection}    tables:\n      - name: t\n{extract}"


def _sources(kind: str, connection: str = "", extract: str = "") -> str:
    conn = f"    connection:\n{connection}" if connection else ""
    ext = f"        extract:\n{extract}" if extract else ""
    return PROJECT.format(kind=kind, connection=conn, extract=ext)


@pytest.mark.parametrize(
    ("kind", "connection", "extract", "line", "message"),
    [
        ("postgres", "      host: 127.0.0.1\n      pasword_env: PW\n", "", 7,
         "connector `postgres` does not take `pasword_env` (did you mean `password_env`?)"),
        ("mysql", "", "          table: t\n          chunksize: 10\n", 9, "did you mean `chunk_size`"),
        ("files", "", "          path: a.csv\n          delimter: ';'\n", 9, "did you mean `delimiter`?"),
        ("s3", "", "          path: s3://b/a.csv\n          endpoint: http://x\n", 9, "did you mean `endpoint_url`"),
        ("http", "      url: http://127.0.0.1:1/x\n      auth: {type: basic, username: u, pasword_env: PW}\n", "", 7,
         "`auth` (basic) of connector `http` does not take `pasword_env` (did you mean `password_env`?)"),
        ("http", "", "          url: http://x\n          pagination: {type: page_number, page_parm: p}\n", 9,
         "`pagination` (page_number) of connector `http` does not take `page_parm` (did you mean `page_param`"),
        ("http", "", "          url: http://x\n          retry: {max_atempts: 2}\n", 9, "did you mean `max_attempts`?"),
        ("postgres", "", "          table: t\n          parallel: {key: id, wrkers: 2}\n", 9, "did you mean `workers`?"),
        ("dlt", "", "          source: m:f\n          arg: {}\n", 9, "did you mean `args`"),
        ("postgres", "", "          table: t\n          write_disposition: upsert\n", 9, "unknown write_disposition `upsert`"),
        ("postgress", "", "", 4, "unknown connector `postgress` (did you mean `postgres`?)"),
    ],
)  # fmt: skip
def test_a_typo_fails_when_the_project_is_read_with_its_line(
    make_project: Callable[..., Path],
    cli,
    kind: str,
    connection: str,
    extract: str,
    line: int,
    message: str,
) -> None:
    root = make_project({"sources.yml": _sources(kind, connection, extract)})
    res = cli("compile", "--project-dir", root)  # reading the project is enough: nothing runs
    assert res.code == 2, res.out + res.err
    assert f"sources.yml:{line}: " in res.err and message in res.err, res.err


def test_a_project_using_the_declared_keys_reads(make_project: Callable[..., Path], cli) -> None:
    connection = "      host: 127.0.0.1\n      port: 5432\n      user: u\n      password_env: PW\n      database: d\n"
    extract = "          table: t\n          cursor: updated_at\n          lag: 1 hour\n          allow_empty: true\n"
    root = make_project({"sources.yml": _sources("postgres", connection, extract)})
    assert cli("ls", "--project-dir", root).code == 0


@pytest.mark.parametrize("kind", ["files", "s3", "postgres", "mysql", "mariadb", "http", "dlt"])
def test_the_keys_come_from_the_connector_classes(kind: str) -> None:
    """One declaration per connector: what the project check accepts is what the class takes."""
    from headwater.extract.keys import COMMON_KEYS, connector_keys, key_problems

    cls = connector_class(kind)
    declared = set(cls.required) | set(cls.optional) | COMMON_KEYS
    assert connector_keys(cls) == declared
    assert key_problems(cls, [dict.fromkeys(sorted(declared - {"write_disposition", "schema_contract",
                                                                "allow_empty", "max_row_drop"}))]) == []  # fmt: skip
    [problem] = key_problems(cls, [{"no_such_key": 1}])
    assert problem.key == "no_such_key" and problem.unknown
