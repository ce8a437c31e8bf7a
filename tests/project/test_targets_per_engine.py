"""Targets are per engine: a postgres target has its own keys, checked against its engine's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from headwater.errors import ConfigError, UnknownKeyError
from headwater.project.definition import Target
from headwater.project.project_file import (
    TARGET_KEYS,
    TARGET_KEYS_BY_ENGINE,
    read_project_config,
    target_keys,
)
from tests.conftest import write_files

PG = """\
name: shop
default_target: pg
targets:
  pg:
{body}
"""

FULL_PG = """\
    engine: postgres
    host: 127.0.0.1
    port: 5432
    user: postgres
    password_env: PGPASSWORD
    database: shop
    schema: analytics
    threads: 4
    sslmode: require
    connect_timeout: 3.5
    lock_timeout: 7
    state: warehouse
    settings: {statement_timeout: 60000}
"""


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "proj"
    write_files(root, files)
    return root


def pg_project(tmp_path: Path, body: str) -> Path:
    return project(tmp_path, {"headwater.yml": PG.format(body=body.rstrip("\n"))})


def read_error(root: Path, kind: type[Exception] = ConfigError) -> str:
    with pytest.raises(kind) as exc:
        read_project_config(root)
    assert exc.value.exit_code == 2  # type: ignore[attr-defined]
    return str(exc.value)


def test_postgres_target_reads_every_field(tmp_path: Path) -> None:
    target = read_project_config(pg_project(tmp_path, FULL_PG)).targets["pg"]
    assert target == Target(
        name="pg", engine="postgres", path=None, schema="analytics", threads=4,
        settings={"statement_timeout": 60000}, lock_timeout=7.0, host="127.0.0.1", port=5432, user="postgres",
        password_env="PGPASSWORD", database="shop", sslmode="require", connect_timeout=3.5, state="warehouse",
    )  # fmt: skip


def test_postgres_defaults_schema_public_no_duckdb_path(tmp_path: Path) -> None:
    target = read_project_config(
        pg_project(tmp_path, "    engine: postgres\n    dbname: shop\n")
    ).targets["pg"]
    assert target.schema == "public"
    assert target.path is None
    assert target.database == "shop"  # `dbname` is an alias of `database`
    assert (target.host, target.port, target.user, target.password_env) == (None, None, None, None)
    assert (target.connect_timeout, target.state, target.threads) == (10.0, "sqlite", 4)


def test_type_is_an_alias_of_engine(tmp_path: Path) -> None:
    target = read_project_config(
        pg_project(tmp_path, "    type: postgres\n    host: db\n")
    ).targets["pg"]
    assert (target.engine, target.host, target.schema) == ("postgres", "db", "public")


def test_unknown_key_suggests_and_names_engine(tmp_path: Path) -> None:
    root = pg_project(tmp_path, "    engine: postgres\n    hots: db\n")
    with pytest.raises(UnknownKeyError) as exc:
        read_project_config(root)
    message = str(exc.value)
    assert "unknown key `hots` in target `pg` (engine postgres)" in message
    assert "did you mean `host`?" in message
    assert exc.value.location is not None and exc.value.location.line == 6


def test_duckdb_key_on_postgres_target_is_refused(tmp_path: Path) -> None:
    message = read_error(
        pg_project(tmp_path, "    engine: postgres\n    path: x.duckdb\n"), UnknownKeyError
    )
    assert "unknown key `path` in target `pg` (engine postgres)" in message
    assert "duckdb" in message.split("(engine postgres)", 1)[1]


def test_postgres_key_on_duckdb_target_is_refused(tmp_path: Path) -> None:
    message = read_error(
        pg_project(tmp_path, "    engine: duckdb\n    host: db\n"), UnknownKeyError
    )
    assert "unknown key `host` in target `pg` (engine duckdb)" in message
    assert "postgres" in message.split("(engine duckdb)", 1)[1]


def test_unknown_engine_is_read_with_every_known_key(tmp_path: Path) -> None:
    root = pg_project(tmp_path, "    engine: postgress\n    host: db\n    path: x.duckdb\n")
    target = read_project_config(root).targets["pg"]
    assert (target.engine, target.host, target.path) == ("postgress", "db", "x.duckdb")
    message = read_error(
        pg_project(tmp_path, "    engine: postgress\n    hots: db\n"), UnknownKeyError
    )
    assert "(engine postgress)" in message and "did you mean `host`?" in message


@pytest.mark.parametrize("key", ["password", "pass"])
def test_literal_password_is_refused(tmp_path: Path, key: str) -> None:
    message = read_error(pg_project(tmp_path, f"    engine: postgres\n    {key}: hunter2\n"))
    assert "secrets come only from the environment: use `password_env: NAME`" in message
    assert "hunter2" not in message


def test_password_in_settings_is_refused(tmp_path: Path) -> None:
    message = read_error(
        pg_project(tmp_path, "    engine: postgres\n    settings: {password: hunter2}\n")
    )
    assert "password_env" in message and "hunter2" not in message


def test_password_env_must_name_a_variable(tmp_path: Path) -> None:
    message = read_error(
        pg_project(tmp_path, "    engine: postgres\n    password_env: 's3cr3t!pw'\n")
    )
    assert "environment variable" in message and "s3cr3t!pw" not in message


def test_state_must_be_sqlite_or_warehouse(tmp_path: Path) -> None:
    message = read_error(pg_project(tmp_path, "    engine: postgres\n    state: warehous\n"))
    assert "`state` of target `pg`" in message and "did you mean `warehouse`?" in message


def test_state_warehouse_needs_a_server_engine(tmp_path: Path) -> None:
    message = read_error(pg_project(tmp_path, "    engine: duckdb\n    state: warehouse\n"))
    assert "needs a server engine" in message
    target = read_project_config(
        pg_project(tmp_path, "    engine: duckdb\n    state: sqlite\n")
    ).targets["pg"]
    assert (target.engine, target.state) == ("duckdb", "sqlite")


@pytest.mark.parametrize("port", ["0", "65536", "'5432'", "true"])
def test_port_is_an_integer_in_range(tmp_path: Path, port: str) -> None:
    message = read_error(pg_project(tmp_path, f"    engine: postgres\n    port: {port}\n"))
    assert "`port` of target `pg` must be an integer from 1 to 65535" in message


def test_database_and_dbname_together_are_refused(tmp_path: Path) -> None:
    message = read_error(
        pg_project(tmp_path, "    engine: postgres\n    database: a\n    dbname: b\n")
    )
    assert "`dbname` is another name for `database`" in message


def test_sslmode_typo(tmp_path: Path) -> None:
    message = read_error(pg_project(tmp_path, "    engine: postgres\n    sslmode: requir\n"))
    assert "did you mean `require`?" in message


def test_duckdb_targets_read_as_before(tmp_path: Path) -> None:
    yml = (
        "name: t\ntargets:\n  dev:\n    engine: duckdb\n    path: w.duckdb\n    threads: 2\n"
        "    memory_limit: 1GB\n    extensions: [json]\n  bare: {}\n"
    )
    targets = read_project_config(project(tmp_path, {"headwater.yml": yml})).targets
    assert targets["dev"] == Target(
        name="dev", path="w.duckdb", threads=2, memory_limit="1GB", extensions=["json"]
    )
    assert targets["bare"] == Target(name="bare", path=".headwater/warehouse.duckdb")
    assert (targets["bare"].schema, targets["bare"].state, targets["bare"].host) == (
        "main",
        "sqlite",
        None,
    )
    assert TARGET_KEYS == TARGET_KEYS_BY_ENGINE["duckdb"] == target_keys("duckdb")
    assert "host" not in target_keys("duckdb") and "path" not in target_keys("postgres")
    assert target_keys("nope") >= target_keys("duckdb") | target_keys("postgres")


def test_new_target_fields_have_documented_defaults() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Target)}
    assert fields["connect_timeout"] == 10 and fields["state"] == "sqlite"
    for name in ("host", "port", "user", "password_env", "database", "sslmode"):
        assert fields[name] is None


DBT_PROJECT = "name: shop\nversion: '1.0'\nprofile: shop\n"
PROFILE = """\
shop:
  target: pg
  outputs:
    pg:
      type: postgres
      host: db.internal
      port: 6543
      user: analyst
      password: "{{{{ env_var('SHOP_PG_PW') }}}}"
      dbname: warehouse
      schema: marts
      threads: 8
      sslmode: verify-full
      connect_timeout: 20
      keepalives_idle: 0
    literal:
      type: postgres
      host: db.internal
      user: analyst
      {literal_key}: not-in-env
      database: warehouse
    other:
      type: snowflake
      account: x
      schema: s
"""


def dbt_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, literal_key: str = "password"
) -> Path:
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    profile = PROFILE.format(literal_key=literal_key)
    return project(tmp_path, {"dbt_project.yml": DBT_PROJECT, "profiles.yml": profile})


def test_profiles_postgres_output_becomes_a_postgres_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PG_PW", "pw-from-env")
    root = dbt_project(tmp_path, monkeypatch)
    config = read_project_config(root)
    assert config.default_target == "pg"
    assert config.targets["pg"] == Target(
        name="pg", engine="postgres", path=None, schema="marts", threads=8, host="db.internal", port=6543,
        user="analyst", password_env="SHOP_PG_PW", database="warehouse", sslmode="verify-full", connect_timeout=20,
    )  # fmt: skip
    assert "pw-from-env" not in repr(config.targets["pg"].settings)


@pytest.mark.parametrize("key", ["password", "pass"])
def test_profiles_literal_password_is_a_secret_in_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    from headwater import secrets

    monkeypatch.setenv("SHOP_PG_PW", "x")
    root = dbt_project(tmp_path, monkeypatch, key)
    target = read_project_config(root).targets["literal"]
    assert (target.engine, target.schema, target.threads, target.port) == (
        "postgres",
        "public",
        1,
        None,
    )
    assert target.password_env is None
    assert target.settings == {"password": "not-in-env"}
    assert secrets.mask("connecting with not-in-env") == "connecting with ***"


def test_profiles_env_var_default_used_is_a_literal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOP_PG_PW", raising=False)
    profile = PROFILE.format(literal_key="password").replace(
        "env_var('SHOP_PG_PW')", "env_var('SHOP_PG_PW', 'fallback-pw')"
    )
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    root = project(tmp_path, {"dbt_project.yml": DBT_PROJECT, "profiles.yml": profile})
    target = read_project_config(root).targets["pg"]
    assert target.password_env is None
    assert target.settings == {"password": "fallback-pw"}


def test_profiles_other_types_keep_their_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PG_PW", "x")
    root = dbt_project(tmp_path, monkeypatch)
    target = read_project_config(root).targets["other"]
    assert (target.engine, target.schema, target.threads) == ("snowflake", "s", 1)
    assert target.settings == {"type": "snowflake", "account": "x", "schema": "s"}
    assert target.host is None and target.database is None
