"""Alerts against real servers: a local HTTP server for webhooks, aiosmtpd for e-mail (plain and
STARTTLS with a self-signed certificate), a closed port for a channel that is down."""

from __future__ import annotations

import datetime as dt
import email
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.context import Context
from headwater.errors import ConfigError
from headwater.observe import Bus, Signal
from headwater.observe.alerts import (
    AlertObserver,
    parse_alert_config,
    parse_duration,
    process_signals,
    signals_of_result,
)
from headwater.observe.channels import mask_url, scrub
from headwater.quality.evaluator import CheckResult
from headwater.runner.events import Run, UnitResult
from tests.conftest import BASE_PROJECT

TOKEN = "T0KEN-s3cret-abc123"


# -- servers -----------------------------------------------------------------------------------
class Hook:
    """A webhook receiver on 127.0.0.1: every POST's path, headers and JSON body."""

    def __init__(self, status: int = 200, hold: threading.Event | None = None) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hold is not None:
                    hold.wait(30)
                hook.posts.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict[str, Any]]:
        return [p["body"] for p in self.posts]


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def smtp_server(mailbox: Mailbox, **kwargs: Any) -> Any:
    from aiosmtpd.controller import Controller

    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (cryptography), as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


# -- helpers -----------------------------------------------------------------------------------
@pytest.fixture
def ctx(make_project: Callable[..., Path]) -> Iterator[Context]:
    root = make_project({"models/a.sql": "select 1 as x"})
    with Context(root) as c:
        yield c


def config(channels: list[dict[str, Any]], env: dict[str, str] | None = None, **alerts: Any) -> Any:
    return parse_alert_config({"channels": channels, **alerts}, environ=env or {})


def deliveries(ctx: Context, **where: Any) -> list[dict[str, Any]]:
    sql = "SELECT * FROM alert_deliveries" + (
        " WHERE " + " AND ".join(f"{k} = ?" for k in where) if where else ""
    )
    return ctx.state.read(sql + " ORDER BY rowid", list(where.values()))


def incident(ctx: Context, key: str) -> dict[str, Any]:
    return ctx.state.read("SELECT * FROM incidents WHERE incident_key = ?", [key])[0]


def fail(
    subject: str = "model.t.orders",
    message: str = "Catalog Error: Table missing_table does not exist",
) -> Signal:
    return Signal("node_failure", subject, "open", message)


def ok(subject: str = "model.t.orders") -> Signal:
    return Signal("node_failure", subject, "ok", "orders success", "info")


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("alerts", "needle"),
    [
        ({"channels": [{"name": "h", "type": "webhook", "url_env": "NOPE_URL"}]}, "NOPE_URL"),
        ({"channels": [{"name": "h", "type": "webhook", "url": "https://x/y"}]}, "url_env"),
        ({"channels": [{"name": "m", "type": "email", "host": "h", "from": "a@b", "to": ["c@d"],
                        "username_env": "U_SET", "password_env": "MISSING_PW"}]}, "MISSING_PW"),
        ({"channels": [{"name": "c", "type": "pager"}]}, "unknown channel type `pager`"),
        ({"triggers": ["node_failur"]}, "did you mean `node_failure`"),
        ({"channels": [{"name": "c", "type": "console"}], "routes": [{"channels": ["x"]}]}, "no channel named `x`"),
        ({"rate_limit": {"max": 0}}, "`max` must be a positive integer"),
        ({"renotify_after": "soon"}, "not a duration"),
        ({"channels": [{"name": "c", "type": "console"}, {"name": "c", "type": "log"}]}, "two channels are named `c`"),
        ({"chanels": []}, "did you mean `channels`"),
    ],
)  # fmt: skip
def test_invalid_config_names_file_key_and_fix(alerts: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_alert_config(alerts, environ={"U_SET": "u"})
    text = str(info.value)
    assert (
        needle in text
        and "headwater.yml" in text
        and "observability.alerts" in text
        and "hint:" in text
    )


def test_missing_secret_stops_the_run_at_start_with_exit_2(make_project, cli, monkeypatch) -> None:
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    yml = BASE_PROJECT + (
        "observability:\n  alerts:\n    channels:\n"
        "      - {name: team-hook, type: webhook, url_env: ALERT_WEBHOOK_URL}\n"
    )
    root = make_project({"models/a.sql": "select 1 as x"}, yml)
    result = cli("build", "--project-dir", root)
    assert result.code == 2
    assert (
        "ALERT_WEBHOOK_URL" in result.err
        and "headwater.yml" in result.err
        and "export ALERT_WEBHOOK_URL" in result.err
    )
    with Context(root) as c:  # nothing was built
        assert c.state.read("SELECT * FROM node_runs") == []


def test_defaults_and_durations() -> None:
    cfg = parse_alert_config(None)
    assert "check_warn" not in cfg.triggers and "node_failure" in cfg.triggers
    assert cfg.rate_limit == (20, 3600.0) and cfg.renotify_after is None and cfg.channels == []
    assert (
        parse_duration("1h") == 3600 and parse_duration("15m") == 900 and parse_duration(30) == 30
    )
    assert (
        parse_duration("2d") == 172800
        and parse_duration("0s") is None
        and parse_duration(True) is None
    )


@given(st.from_regex(r"[A-Za-z0-9_\-]{8,40}", fullmatch=True))
def test_masked_urls_and_scrubbed_errors_never_show_the_token(token: str) -> None:
    url = f"https://hooks.example.com/services/{token}?key={token}"
    assert token not in mask_url(url) and mask_url(url) == "https://hooks.example.com/***"
    assert token not in scrub(
        f"POST {url} failed: 403 for {token}", [url, f"/services/{token}?key={token}", token]
    )


# -- webhook -----------------------------------------------------------------------------------
def test_webhook_dedup_then_resolve(ctx: Context, hook: Hook) -> None:
    env = {"HOOK_URL": hook.url, "HOOK_TOKEN": "Bearer " + TOKEN}
    cfg = config([{"name": "team-hook", "type": "webhook", "url_env": "HOOK_URL",
                   "headers_env": {"Authorization": "HOOK_TOKEN"}}], env)  # fmt: skip
    first = process_signals(ctx, [fail()], "inv-1", config=cfg, now=1000.0)
    second = process_signals(ctx, [fail(message="still missing")], "inv-2", config=cfg, now=2000.0)
    assert first.opened == ["node_failure:model.t.orders"] and second.still_open == [
        "node_failure:model.t.orders"
    ]
    assert len(hook.posts) == 1  # the second failure updates the incident, it does not alert again
    row = incident(ctx, "node_failure:model.t.orders")
    assert (row["status"], row["occurrences"], row["last_seen_at"], row["last_alert_at"]) == (
        "open",
        2,
        2000.0,
        1000.0,
    )
    third = process_signals(ctx, [ok()], "inv-3", config=cfg, now=3000.0)
    assert third.resolved == ["node_failure:model.t.orders"]
    process_signals(ctx, [ok()], "inv-4", config=cfg, now=4000.0)  # nothing open: nothing to say
    assert [b["event"] for b in hook.bodies()] == ["open", "resolved"]
    opened, resolved = hook.bodies()
    assert set(opened) >= {
        "event",
        "trigger",
        "subject",
        "severity",
        "message",
        "project",
        "target",
        "invocation_id",
        "details",
    }
    assert (opened["trigger"], opened["subject"], opened["severity"]) == (
        "node_failure",
        "model.t.orders",
        "error",
    )
    assert (
        opened["message"].startswith("Catalog Error")
        and opened["project"] == "t"
        and opened["target"] == "dev"
    )
    assert opened["invocation_id"] == "inv-1" and resolved["invocation_id"] == "inv-3"
    assert hook.posts[0]["headers"]["Authorization"] == "Bearer " + TOKEN
    assert hook.posts[0]["headers"]["Content-Type"] == "application/json"
    row = incident(ctx, "node_failure:model.t.orders")
    assert (row["status"], row["resolved_at"]) == ("resolved", 3000.0)
    assert [(d["kind"], d["ok"], d["error"]) for d in deliveries(ctx)] == [
        ("open", 1, None),
        ("resolved", 1, None),
    ]
    # a new failure after the resolution is a new incident, and alerts again
    assert process_signals(ctx, [fail()], "inv-5", config=cfg, now=5000.0).opened == [
        "node_failure:model.t.orders"
    ]
    assert len(hook.posts) == 3 and incident(ctx, "node_failure:model.t.orders")["occurrences"] == 1


def test_slack_format(ctx: Context, hook: Hook) -> None:
    cfg = config(
        [{"name": "slack", "type": "webhook", "url_env": "HOOK_URL", "format": "slack"}],
        {"HOOK_URL": hook.url},
    )
    process_signals(
        ctx,
        [Signal("sla", "orders_by_7am", "open", "fct_orders not finished by 07:00", "error")],
        "inv",
        config=cfg,
    )
    (body,) = hook.bodies()
    assert set(body) == {"text", "blocks"}
    assert "FAILING" in body["text"] and "orders_by_7am" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "context"]
    assert (
        body["blocks"][0]["text"]["type"] == "plain_text"
        and len(body["blocks"][0]["text"]["text"]) <= 150
    )
    assert "not finished by 07:00" in body["blocks"][1]["text"]["text"]


def test_http_error_is_recorded_without_the_url_token(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Hook(status=500)
    try:
        cfg = config(
            [{"name": "h", "type": "webhook", "url_env": "HOOK_URL"}], {"HOOK_URL": broken.url}
        )
        with caplog.at_level(logging.WARNING, logger="headwater.alerts"):
            report = process_signals(ctx, [fail()], "inv", config=cfg)
    finally:
        broken.close()
    (d,) = report.deliveries
    assert not d.ok and d.error is not None and d.error.startswith("HTTP 500")
    row = incident(ctx, "node_failure:model.t.orders")
    assert (
        row["status"] == "open" and row["last_alert_at"] is None
    )  # not delivered: the next run tries again
    assert TOKEN not in caplog.text and "failed" in caplog.text


# -- a channel that is down ---------------------------------------------------------------------
def test_down_channel_is_recorded_and_others_still_deliver(
    ctx: Context, hook: Hook, caplog
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hooks/{TOKEN}"  # nothing listens there
    env = {"DEAD_URL": dead, "LIVE_URL": hook.url}
    cfg = config([{"name": "dead", "type": "webhook", "url_env": "DEAD_URL"},
                  {"name": "live", "type": "webhook", "url_env": "LIVE_URL"},
                  {"name": "mail", "type": "email", "host": "127.0.0.1", "port": free_port(), "starttls": False,
                   "from": "hw@example.com", "to": ["oncall@example.com"]}], env)  # fmt: skip
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="headwater.alerts"):
        report = process_signals(ctx, [fail("model.t.a"), fail("model.t.b")], "inv", config=cfg)
    assert time.monotonic() - started < 10
    assert len(hook.posts) == 2
    by_channel: dict[str, list[tuple[int, str | None]]] = {}
    for d in deliveries(ctx):
        by_channel.setdefault(d["channel"], []).append((d["ok"], d["error"]))
    assert by_channel["live"] == [(1, None), (1, None)]
    assert [ok for ok, _ in by_channel["dead"]] == [0, 0] and [
        ok for ok, _ in by_channel["mail"]
    ] == [0, 0]
    assert all(
        "Connection" in (e or "") or "refused" in (e or "")
        for _, e in by_channel["dead"] + by_channel["mail"]
    )
    assert (
        all(TOKEN not in (e or "") for _, e in by_channel["dead"])
        and "127.0.0.1" in by_channel["dead"][0][1]
    )
    assert TOKEN not in caplog.text
    assert sorted(report.opened) == ["node_failure:model.t.a", "node_failure:model.t.b"]


def test_a_hanging_channel_is_bounded_by_the_run_timeout(ctx: Context, hook: Hook) -> None:
    release = threading.Event()
    stuck = Hook(hold=release)
    try:
        cfg = config([{"name": "stuck", "type": "webhook", "url_env": "STUCK", "timeout": 20},
                      {"name": "live", "type": "webhook", "url_env": "LIVE"}],
                     {"STUCK": stuck.url, "LIVE": hook.url}, timeout="1s")  # fmt: skip
        started = time.monotonic()
        process_signals(ctx, [fail()], "inv", config=cfg)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        stuck.close()
    assert elapsed < 5
    rows = {d["channel"]: d for d in deliveries(ctx)}
    assert rows["live"]["ok"] == 1 and len(hook.posts) == 1
    assert rows["stuck"]["ok"] == 0 and "not delivered within 1s" in rows["stuck"]["error"]


# -- rate limit, reminders, routes ---------------------------------------------------------------
def test_rate_limit_per_channel(ctx: Context, hook: Hook) -> None:
    cfg = config(
        [{"name": "h", "type": "webhook", "url_env": "U"}],
        {"U": hook.url},
        rate_limit={"max": 2, "per": "1h"},
    )
    process_signals(
        ctx, [fail(f"model.t.m{i}") for i in range(5)], "inv-1", config=cfg, now=10_000.0
    )
    bodies = hook.bodies()
    assert [b["event"] for b in bodies] == [
        "open",
        "open",
        "rate_limited",
    ]  # two alerts and one note
    assert (
        "3 alert(s) not sent" in bodies[2]["message"]
        and len(bodies[2]["details"]["suppressed"]) == 3
    )
    rows = deliveries(ctx, channel="h")
    assert sum(r["error"] == "rate limited" for r in rows) == 3 and sum(r["ok"] for r in rows) == 3
    # same window: everything held back, no second note
    process_signals(ctx, [fail("model.t.other")], "inv-2", config=cfg, now=10_100.0)
    assert len(hook.posts) == 3 and deliveries(ctx, channel="h")[-1]["error"] == "rate limited"
    # the next window sends again; incidents that were never delivered are retried
    report = process_signals(
        ctx, [fail("model.t.m4"), fail("model.t.other")], "inv-3", config=cfg, now=10_000.0 + 3601
    )
    assert report.still_open == ["node_failure:model.t.m4", "node_failure:model.t.other"]
    assert [b["subject"] for b in hook.bodies()[3:]] == ["model.t.m4", "model.t.other"]


def test_renotify_after(ctx: Context, hook: Hook) -> None:
    cfg = config(
        [{"name": "h", "type": "webhook", "url_env": "U"}], {"U": hook.url}, renotify_after="1h"
    )
    process_signals(ctx, [fail()], "a", config=cfg, now=0.0 + 1)
    process_signals(ctx, [fail()], "b", config=cfg, now=1800.0)
    process_signals(ctx, [fail()], "c", config=cfg, now=3602.0)
    process_signals(ctx, [fail()], "d", config=cfg, now=3700.0)
    assert [(b["event"], b["reminder"], b["invocation_id"]) for b in hook.bodies()] == [
        ("open", False, "a"),
        ("open", True, "c"),
    ]
    assert hook.bodies()[1]["occurrences"] == 3


def test_routes_and_resolution_goes_where_the_failure_went(ctx: Context, hook: Hook) -> None:
    other = Hook()
    try:
        cfg = config(
            [
                {"name": "all", "type": "webhook", "url_env": "A"},
                {"name": "oncall", "type": "webhook", "url_env": "B"},
            ],
            {"A": hook.url, "B": other.url},
            routes=[
                {
                    "channels": ["oncall"],
                    "triggers": ["node_failure", "sla"],
                    "min_severity": "error",
                }
            ],
        )
        process_signals(ctx, [fail(), Signal("freshness", "source.t.raw.events", "open", "3h old", "error"),
                              Signal("sla", "nightly", "open", "late", "warn")], "inv-1", config=cfg)  # fmt: skip
        assert sorted(b["trigger"] for b in hook.bodies()) == ["freshness", "node_failure", "sla"]
        assert [b["trigger"] for b in other.bodies()] == ["node_failure"]  # sla was only a warning
        process_signals(
            ctx, [ok(), Signal("sla", "nightly", "ok", "", "info")], "inv-2", config=cfg
        )
        assert [(b["event"], b["trigger"]) for b in other.bodies()] == [
            ("open", "node_failure"),
            ("resolved", "node_failure"),
        ]
        assert sorted((b["event"], b["trigger"]) for b in hook.bodies()[3:]) == [
            ("resolved", "node_failure"),
            ("resolved", "sla"),
        ]
    finally:
        other.close()


def test_disabled_triggers_open_nothing(ctx: Context, hook: Hook) -> None:
    cfg = config(
        [{"name": "h", "type": "webhook", "url_env": "U"}], {"U": hook.url}, triggers=["sla"]
    )
    report = process_signals(
        ctx, [fail(), Signal("check_warn", "test.t.x", "open", "warn")], "inv", config=cfg
    )
    assert (
        report.opened == [] and hook.posts == [] and ctx.state.read("SELECT * FROM incidents") == []
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(["open", "ok", "none"]), min_size=1, max_size=12))
def test_one_failing_per_opening_and_one_resolved_per_closing(
    ctx: Context, runs: list[str]
) -> None:
    subject = f"model.t.p{time.monotonic_ns()}"  # a fresh incident key per example
    key = f"node_failure:{subject}"
    cfg = config([{"name": "log", "type": "log"}], rate_limit=False)
    expected = {"open": 0, "resolved": 0}
    is_open = False
    for i, status in enumerate(runs):
        signals = [] if status == "none" else [Signal("node_failure", subject, status)]
        process_signals(ctx, signals, f"inv-{i}", config=cfg, now=1000.0 + i)
        if status == "open" and not is_open:
            expected["open"] += 1
        if status == "ok" and is_open:
            expected["resolved"] += 1
        is_open = (status == "open") or (is_open and status == "none")
    sent = [d["kind"] for d in deliveries(ctx, incident_key=key)]
    assert {"open": sent.count("open"), "resolved": sent.count("resolved")} == expected
    rows = ctx.state.read("SELECT status FROM incidents WHERE incident_key = ?", [key])
    assert [r["status"] for r in rows] == (
        [("open" if is_open else "resolved")] if expected["open"] else []
    )


# -- e-mail ------------------------------------------------------------------------------------
def test_email_plain_one_message_per_alert(ctx: Context) -> None:
    box = Mailbox()
    server = smtp_server(box)
    try:
        cfg = config([{"name": "mail", "type": "email", "host": "127.0.0.1", "port": server.port, "starttls": False,
                       "from": "headwater@example.com", "to": ["oncall@example.com", "data@example.com"]}])  # fmt: skip
        process_signals(
            ctx,
            [fail(), Signal("freshness", "source.t.raw.events", "open", "6h old", "warn")],
            "inv",
            config=cfg,
        )
        process_signals(ctx, [ok()], "inv-2", config=cfg)
    finally:
        server.stop()
    subjects = sorted(m["Subject"] for m in box.messages)
    assert subjects == [
        "[headwater] FAILING: node failed model.t.orders",
        "[headwater] FAILING: stale data source.t.raw.events",
        "[headwater] RESOLVED: node failed model.t.orders",
    ]
    assert all(e.rcpt_tos == ["oncall@example.com", "data@example.com"] for e in box.envelopes)
    body = next(m for m in box.messages if "FAILING: node" in m["Subject"]).get_content()
    assert "Catalog Error" in body and "project: t" in body and "invocation: inv" in body
    assert box.messages[0]["From"] == "headwater@example.com"


def test_email_starttls_with_login(ctx: Context, tmp_path: Path) -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    box = Mailbox()

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"hw",
            TOKEN.encode(),
        )
        if ok:
            box.logins.append((data.login.decode(), mechanism))
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    server = smtp_server(
        box, tls_context=tls, require_starttls=True, auth_required=True, authenticator=authenticator
    )
    try:
        spec = {"name": "mail", "type": "email", "host": "127.0.0.1", "port": server.port, "starttls": True,
                "username_env": "SMTP_USER", "password_env": "SMTP_PASSWORD", "from": "hw@example.com",
                "to": "oncall@example.com", "ca_file": str(cert)}  # fmt: skip
        good = config([spec], {"SMTP_USER": "hw", "SMTP_PASSWORD": TOKEN})
        report = process_signals(ctx, [fail()], "inv", config=good)
        bad = config([spec], {"SMTP_USER": "hw", "SMTP_PASSWORD": "wrong-password"})
        refused = process_signals(ctx, [fail("model.t.other")], "inv-2", config=bad)
        untrusted = config([{**spec, "ca_file": None}], {"SMTP_USER": "hw", "SMTP_PASSWORD": TOKEN})
        unverified = process_signals(ctx, [fail("model.t.third")], "inv-3", config=untrusted)
    finally:
        server.stop()
    assert [d.ok for d in report.deliveries] == [True] and box.logins == [("hw", "PLAIN")]
    assert [m["Subject"] for m in box.messages] == [
        "[headwater] FAILING: node failed model.t.orders"
    ]
    (denied,) = refused.deliveries
    assert (
        not denied.ok
        and "SMTPAuthenticationError" in (denied.error or "")
        and "wrong-password" not in (denied.error or "")
    )
    (no_trust,) = unverified.deliveries
    assert not no_trust.ok and "CERTIFICATE_VERIFY_FAILED" in (no_trust.error or "")


# -- signals of a run ----------------------------------------------------------------------------
def unit(status: str, checks: list[CheckResult] | None = None, name: str = "orders") -> UnitResult:
    return UnitResult(f"model.t.{name}", name, "model", "table", f"main.{name}", status, checks=checks or [],
                      node_id=f"model.t.{name}", message="boom" if status == "error" else "")  # fmt: skip


def check(name: str, status: str, severity: str = "error", kind: str = "unique") -> CheckResult:
    return CheckResult(
        f"test.t.{name}",
        name,
        kind,
        "model.t.orders",
        "id",
        severity,
        status,
        failures=3,
        message="3 rows",
    )


def test_signals_of_results() -> None:
    assert signals_of_result(unit("skipped")) == []
    (s,) = signals_of_result(unit("error"))
    assert (s.key, s.status, s.message) == ("node_failure:model.t.orders", "open", "boom")
    assert [(s.key, s.status) for s in signals_of_result(unit("success"))] == [
        ("node_failure:model.t.orders", "ok")
    ]
    # a node that failed its checks: the check alerts, the node does not alert a second time
    failed = signals_of_result(unit("fail", [check("unique_id", "fail")]))
    assert [(s.key, s.status) for s in failed if s.status == "open"] == [
        ("check_error:test.t.unique_id", "open")
    ]
    # ... unless check alerts are turned off
    only_nodes = signals_of_result(unit("fail", [check("unique_id", "fail")]), ["node_failure"])
    assert ("node_failure:model.t.orders", "open") in [(s.key, s.status) for s in only_nodes]
    warned = {
        (s.trigger, s.status)
        for s in signals_of_result(unit("warn", [check("nn", "warn", "warn")]))
    }
    assert warned == {("check_warn", "open"), ("check_error", "ok"), ("node_failure", "ok")}
    anomaly = signals_of_result(
        unit("fail", [check("row_count_anomaly", "fail", kind="anomaly_row_count")])
    )
    assert [(s.trigger, s.status, s.severity) for s in anomaly] == [("anomaly", "open", "error")]
    schema = signals_of_result(unit("success", [check("contract", "pass", kind="schema_change")]))
    assert {(s.trigger, s.status) for s in schema} == {
        ("schema_change", "ok"),
        ("node_failure", "ok"),
    }


def test_observer_dedupes_check_signals_against_the_bus(ctx: Context, hook: Hook) -> None:
    cfg = config([{"name": "h", "type": "webhook", "url_env": "U"}], {"U": hook.url})
    bus = Bus()
    observer = AlertObserver(ctx, "inv", bus, cfg)
    bus.emit(Signal("anomaly", "model.t.orders:row_count", "open", "row_count 3 is far below 1,000 ± 40",
                    details={"check": "test.t.row_count_anomaly"}))  # fmt: skip
    result = unit("fail", [check("row_count_anomaly", "fail", kind="anomaly_row_count")])
    observer.unit_finished(None, result, 1, 1)
    observer.run_finished(Run("inv", "build", "dev"), [result], "failed")
    assert [b["subject"] for b in hook.bodies()] == ["model.t.orders:row_count"]
    assert observer.report is not None and observer.report.opened == [
        "anomaly:model.t.orders:row_count"
    ]


# -- end to end --------------------------------------------------------------------------------
E2E_YML = (
    BASE_PROJECT
    + """\
observability:
  alerts:
    channels:
      - {name: team-hook, type: webhook, url_env: HW_TEST_HOOK}
      - {name: ops-console, type: console}
      - {name: run-log, type: log}
"""
)


def test_build_alerts_once_then_resolves(make_project, hook: Hook, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HW_TEST_HOOK", hook.url)
    root = make_project({"models/marts/good.sql": "select 1 as id", "models/marts/bad.sql": "select * from missing_table"},
                        E2E_YML)  # fmt: skip
    runs = []
    for _ in range(2):
        with Context(root) as c:
            runs.append(c.build())
    assert [r.exit_code for r in runs] == [1, 1]
    bodies = hook.bodies()
    assert [(b["event"], b["trigger"], b["subject"]) for b in bodies] == [
        ("open", "node_failure", "model.t.bad")
    ]
    assert (
        "missing_table" in bodies[0]["message"]
        and bodies[0]["invocation_id"] == runs[0].invocation_id
    )
    err = capsys.readouterr().err
    assert err.count("ALERT FAILING") == 1 and "model.t.bad" in err
    (root / "models/marts/bad.sql").write_text("select 2 as id")
    with Context(root) as c:
        assert c.build().exit_code == 0
        rows = c.state.read("SELECT incident_key, status, occurrences FROM incidents")
        sent = c.state.read("SELECT channel, kind, ok FROM alert_deliveries ORDER BY rowid")
    assert rows == [
        {"incident_key": "node_failure:model.t.bad", "status": "resolved", "occurrences": 2}
    ]
    assert [b["event"] for b in hook.bodies()] == ["open", "resolved"]
    assert sorted((s["channel"], s["kind"]) for s in sent if s["ok"]) == sorted(
        [
            (ch, kind)
            for ch in ("team-hook", "ops-console", "run-log")
            for kind in ("open", "resolved")
        ]
    )
    assert "ALERT RESOLVED" in capsys.readouterr().err
    log_text = (root / ".headwater/logs/headwater.log").read_text()
    assert "alert FAILING: node failed model.t.bad" in log_text and "alert RESOLVED" in log_text
    assert TOKEN not in log_text


def test_log_channel_uses_python_logging(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config([{"name": "log", "type": "log"}])
    with caplog.at_level(logging.INFO, logger="headwater.alerts"):
        process_signals(
            ctx,
            [fail(), Signal("freshness", "source.t.raw.e", "open", "2h old", "warn")],
            "inv",
            config=cfg,
        )
        process_signals(ctx, [ok()], "inv-2", config=cfg)
    levels = sorted(
        (r.levelname, r.getMessage().split(" [")[0])
        for r in caplog.records
        if r.name == "headwater.alerts"
    )
    assert levels == [
        ("ERROR", "alert FAILING: node failed model.t.orders"),
        ("INFO", "alert RESOLVED: node failed model.t.orders"),
        ("WARNING", "alert FAILING: stale data source.t.raw.e"),
    ]
