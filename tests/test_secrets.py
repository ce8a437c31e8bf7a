"""Secrets never reach an output: whole-token masking, both DSN forms, URLs, and one end-to-end
run that plants eight secrets and greps every channel (console, --json, status, headwater.log,
state.db, OpenLineage events, alert webhooks) for them."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater import secrets


def test_one_letter_secret_is_masked_as_a_whole_token_only() -> None:
    secrets.register("a")
    assert secrets.mask("after a while") == "after *** while"
    assert secrets.mask("password=a;") == "password=***;"


def test_url_userinfo_and_secret_query_parameters() -> None:
    text = "cannot reach https://bob:hunter2@api.example.com/v1/items?page=3&api_key=k3y&X-Amz-Signature=ab12"
    assert (
        secrets.mask(text)
        == "cannot reach https://***@api.example.com/v1/items?page=3&api_key=***&X-Amz-Signature=***"
    )
    assert (
        secrets.mask("see https://example.com/docs?q=keyboard")
        == "see https://example.com/docs?q=keyboard"
    )


def test_key_value_dsn_passwords_are_masked_even_unregistered() -> None:
    text = "connect to host=db port=5432 user=etl password='x y' dbname=shop failed"
    assert "x y" not in secrets.mask(text)
    assert "user=etl" in secrets.mask(text)


_dsn_value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
)


@given(password=_dsn_value, user=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True))
def test_parse_dsn_key_value_round_trips(password: str, user: str) -> None:
    quoted = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    parts = secrets.parse_dsn(f"host=db user={user} password={quoted} dbname=shop")
    assert parts == {"host": "db", "user": user, "password": password, "dbname": "shop"}


@given(password=_dsn_value)
def test_parse_dsn_url_round_trips(password: str) -> None:
    from urllib.parse import quote

    parts = secrets.parse_dsn(
        f"postgresql://etl:{quote(password, safe='')}@db:5432/shop?sslmode=require"
    )
    assert parts["password"] == password
    assert parts["user"] == "etl" and parts["dbname"] == "shop" and parts["sslmode"] == "require"


@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!#%-_", min_size=6, max_size=24)
)
def test_registered_secret_never_survives_in_any_encoding(secret: str) -> None:
    from urllib.parse import quote

    secrets.register(secret)
    for form in (secret, quote(secret, safe="")):
        assert secret not in secrets.mask(f"error: {form} was rejected")


# -- end to end ------------------------------------------------------------------------------------
PLANTED = {
    "PG_KV_DSN": "kvPass-7Hq2x",
    "PG_URL_DSN": "urlPass-9Wm4z",
    "MYSQL_PASSWORD": "myPass-3Rt8k",
    "API_TOKEN": "bearerTok-5Jd1q",
    "API_KEY": "queryKey-2Lp6v",
    "DBT_ENV_SECRET_TOKEN": "jinjaSecret-8Nc3b",
    "HW_HOOK": "hookTok-4Xe7m",
    "OL_KEY": "olKey-6Gs9t",
}


class Echo:
    """A local HTTP server that fails every request but OpenLineage's and echoes what it was sent
    (path, headers): the worst case, an API repeating the credentials in its error."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def _fail(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    echo.bodies.append(self.rfile.read(length).decode("utf-8", "replace"))
                body = f"rejected {self.path} auth={self.headers.get('Authorization')}".encode()
                self.send_response(200 if self.path.startswith("/lineage") else 500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _fail

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _services_up() -> bool:
    for port in (5432, 3306):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
    return True


def _project(root: Path, echo: Echo) -> dict[str, str]:
    files = {
        "headwater.yml": f"""\
            name: leaky
            targets:
              dev: {{engine: duckdb, path: .headwater/warehouse.duckdb, threads: 2}}
            observability:
              alerts:
                channels: [{{name: team, type: webhook, url_env: HW_HOOK}}]
              openlineage: {{transport: http, url: "{echo.url}/lineage", api_key_env: OL_KEY, timeout: 2}}
            """,
        "sources.yml": f"""\
            version: 2
            sources:
              - name: pg_kv
                connector: postgres
                connection: {{dsn_env: PG_KV_DSN}}
                tables: [{{name: t, extract: {{table: no_such_table_hw}}}}]
              - name: pg_url
                connector: postgres
                connection: {{dsn_env: PG_URL_DSN}}
                tables: [{{name: t, extract: {{table: no_such_table_hw}}}}]
              - name: my
                connector: mysql
                connection: {{host: 127.0.0.1, port: 3306, user: root, password_env: MYSQL_PASSWORD, database: test}}
                tables: [{{name: t, extract: {{table: no_such_table_hw}}}}]
              - name: api_bearer
                connector: http
                connection: {{url: "{echo.url}/items", auth: {{type: bearer, token_env: API_TOKEN}}, retry: {{max_attempts: 1}}}}
                tables: [{{name: t}}]
              - name: api_key
                connector: http
                connection: {{url: "{echo.url}/items", auth: {{type: api_key, name: api_key, in: query, value_env: API_KEY}}, retry: {{max_attempts: 1}}}}
                tables: [{{name: t}}]
            """,
        "models/uses_secret.sql": "select '{{ env_var(\"DBT_ENV_SECRET_TOKEN\") }}' as token from no_such_table_hw\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    env = {
        "PG_KV_DSN": f"host=127.0.0.1 port=5432 user=postgres password={PLANTED['PG_KV_DSN']} dbname=test",
        "PG_URL_DSN": f"postgresql://postgres:{PLANTED['PG_URL_DSN']}@127.0.0.1:{_free_port()}/test",
        "HW_HOOK": f"{echo.url}/hook/{PLANTED['HW_HOOK']}",
    }
    return {**PLANTED, **env}


def _headwater(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args, "--project-dir", str(root)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )  # fmt: skip


def _state_text(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


@pytest.mark.skipif(
    not _services_up() and os.environ.get("CI") != "true", reason="needs PostgreSQL and MariaDB"
)
def test_eight_planted_secrets_reach_no_output_channel(tmp_path: Path, echo: Echo) -> None:
    root = tmp_path / "leaky"
    env = _project(root, echo)
    runs = [
        _headwater(root, env, "build"),
        _headwater(root, env, "build", "--json"),
        _headwater(root, env, "status"),
    ]
    assert runs[0].returncode == 1, runs[0].stdout + runs[0].stderr
    channels = {
        f"{' '.join(r.args[3:-2])} {stream}": text
        for r in runs
        for stream, text in (("stdout", r.stdout), ("stderr", r.stderr))
    }
    channels["headwater.log"] = (root / ".headwater" / "logs" / "headwater.log").read_text(
        encoding="utf-8"
    )
    channels["state.db"] = _state_text(root / ".headwater" / "state.db")
    channels["webhook and OpenLineage bodies"] = "\n".join(echo.bodies)
    # the run really went through every channel: each failing node is reported in each of them
    for name in ("pg_kv", "pg_url", "my", "api_bearer", "api_key", "uses_secret"):
        assert (
            name in runs[0].stdout
            and name in channels["state.db"]
            and name in channels["headwater.log"]
        )
    assert '"eventType": "FAIL"' in channels["webhook and OpenLineage bodies"]
    assert (
        'INSERT INTO "alert_deliveries"' in channels["state.db"]
    )  # the webhook was tried (and failed)
    leaks = {
        (var, channel)
        for var, secret in PLANTED.items()
        for channel, text in channels.items()
        if secret in text
    }
    assert not leaks, f"secrets found: {sorted(leaks)}"


def test_an_unexpected_exception_is_printed_masked_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug's traceback goes through the masking stderr, not Python's default handler."""
    import importlib

    from headwater import secrets

    cli_main = importlib.import_module(
        "headwater.cli.main"
    )  # the module (the package exports main)
    secrets.register("hunter2secret")
    parser_and_handlers = cli_main._build

    def build() -> tuple[Any, dict[str, Any]]:
        parser, handlers = parser_and_handlers()

        def broken(args: Any) -> int:
            raise TypeError("unexpected keyword argument 'hunter2secret'")

        return parser, {**handlers, "ls": broken}

    monkeypatch.setattr(cli_main, "_build", build)
    code = cli_main.main(["ls"])
    err = capsys.readouterr().err
    assert code == 1
    assert "hunter2secret" not in err
    assert "internal error: TypeError: unexpected keyword argument '***'" in err
    assert "Traceback" in err
