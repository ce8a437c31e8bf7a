"""What an alert says and where it goes: the `Alert` message and its channels (console, log,
webhook — JSON or Slack — and SMTP e-mail), with secrets masked in every error text. Incidents,
dedup, routes and rate limits are `headwater.observe.alerts`'."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from headwater.secrets import mask, mask_value

log = logging.getLogger("headwater.alerts")

SEVERITY_RANK = {"info": 0, "warn": 1, "warning": 1, "error": 2, "critical": 3}

_LABELS = {
    "node_failure": "node failed", "check_error": "check failed", "check_warn": "check warning",
    "freshness": "stale data", "sla": "SLA missed", "anomaly": "anomaly", "schema_change": "schema changed",
    "rate_limit": "alerts suppressed",
}  # fmt: skip
_STATES = {
    "open": "FAILING",
    "reminder": "STILL FAILING",
    "resolved": "RESOLVED",
    "summary": "RATE LIMITED",
}


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(str(severity).lower(), SEVERITY_RANK["error"])


# -- alerts ----------------------------------------------------------------------------------------
@dataclass
class Alert:
    """One message about one incident: ``kind`` is open, reminder, resolved or summary."""

    kind: str
    key: str
    trigger: str
    subject: str
    severity: str
    message: str
    project: str = ""
    target: str = ""
    invocation_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    occurrences: int = 1
    opened_at: float | None = None

    @property
    def state(self) -> str:
        return _STATES.get(self.kind, self.kind.upper())

    @property
    def title(self) -> str:
        return f"{self.state}: {_LABELS.get(self.trigger, self.trigger)} {self.subject}"

    def text(self) -> str:
        """The plain-text body (e-mail, log)."""
        lines = [self.title, ""]
        if self.message:
            lines += [self.message, ""]
        lines.append(
            f"project: {self.project}   target: {self.target}   invocation: {self.invocation_id}"
        )
        lines.append(
            f"severity: {self.severity}   trigger: {self.trigger}   occurrences: {self.occurrences}"
        )
        if self.opened_at:
            lines.append(
                "open since: "
                + time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.opened_at))
            )
        for k, value in self.details.items():
            lines.append(f"{k}: {value}")
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The JSON body of a webhook (``format: json``)."""
        event = {
            "open": "open",
            "reminder": "open",
            "resolved": "resolved",
            "summary": "rate_limited",
        }.get(self.kind, self.kind)
        return {
            "event": event, "reminder": self.kind == "reminder", "trigger": self.trigger, "subject": self.subject,
            "severity": self.severity, "message": self.message, "title": self.title, "project": self.project,
            "target": self.target, "invocation_id": self.invocation_id, "occurrences": self.occurrences,
            "opened_at": self.opened_at, "details": self.details,
        }  # fmt: skip

    def slack(self) -> dict[str, Any]:
        """A Slack-compatible body: ``text`` (notifications) and ``blocks`` (the message)."""
        icon = {
            "open": ":red_circle:",
            "reminder": ":large_orange_circle:",
            "resolved": ":large_green_circle:",
        }.get(self.kind, ":warning:")
        body = f"*{_LABELS.get(self.trigger, self.trigger)}* `{self.subject}`"
        if self.message:
            body += "\n" + self.message[:2900]
        context = f"{self.project} · {self.target} · severity {self.severity} · invocation {self.invocation_id[:8]}"
        if self.occurrences > 1:
            context += f" · seen {self.occurrences} times"
        return {
            "text": f"{icon} {self.title}"[:3000],
            "blocks": [
                {
                    "type": "header",
                    "text": {
                        "type": "plain_text",
                        "text": f"{self.state}: {_LABELS.get(self.trigger, self.trigger)}"[:150],
                    },
                },
                {"type": "section", "text": {"type": "mrkdwn", "text": body}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }


# -- channels --------------------------------------------------------------------------------------
Report = Callable[[int, "str | None"], None]
"""``report(index of the alert, error text or None)``: what a channel says about each alert."""


class Channel:
    """Where alerts go. `deliver` sends a batch and reports each alert; it may raise (the caller
    records the error for what was not reported)."""

    type = "channel"
    timeout: float = 5.0

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self) -> str:
        return f"{self.type} `{self.name}`"

    def secrets(self) -> list[str]:
        return []

    def deliver(self, alerts: list[Alert], report: Report) -> None:
        raise NotImplementedError


class ConsoleChannel(Channel):
    type = "console"

    def deliver(self, alerts: list[Alert], report: Report) -> None:
        import sys

        from rich.console import Console
        from rich.text import Text

        console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        for i, alert in enumerate(alerts):
            style = (
                "green"
                if alert.kind == "resolved"
                else ("yellow" if severity_rank(alert.severity) < 2 else "red")
            )
            line = Text()
            line.append(f"ALERT {alert.state}", style=f"bold {style}")
            line.append(f"  {_LABELS.get(alert.trigger, alert.trigger)} {alert.subject}")
            console.print(line)
            if alert.message:
                console.print(Text("      " + alert.message.replace("\n", "\n      "), style="dim"))
            report(i, None)


class LogChannel(Channel):
    """Python logging (`headwater.alerts`) and, during a run, the project's log file."""

    type = "log"

    def __init__(self, name: str, file_logger: logging.Logger | None = None) -> None:
        super().__init__(name)
        self.file_logger = file_logger

    def deliver(self, alerts: list[Alert], report: Report) -> None:
        for i, alert in enumerate(alerts):
            level = (
                logging.INFO
                if alert.kind == "resolved"
                else (logging.WARNING if severity_rank(alert.severity) < 2 else logging.ERROR)
            )
            text = alert.message.replace("\n", " ")[:1000]
            # python logging when someone listens (else its last-resort handler would echo to stderr)
            loggers = [log] if log.hasHandlers() or self.file_logger is None else []
            for logger in (*loggers, self.file_logger):
                if logger is not None:
                    logger.log(
                        level, "alert %s [%s] %s", alert.title, alert.invocation_id[:8], text
                    )
            report(i, None)


class WebhookChannel(Channel):
    """A JSON POST per alert (urllib); ``format: slack`` posts Slack's text-and-blocks shape."""

    type = "webhook"

    def __init__(self, name: str, url: str, fmt: str = "json", timeout: float = 5.0,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(name)
        self.url = url
        self.format = fmt
        self.timeout = timeout
        self.headers = dict(headers or {})

    def describe(self) -> str:
        return f"webhook `{self.name}` ({mask_url(self.url)})"

    def secrets(self) -> list[str]:
        out = [self.url, *self.headers.values()]
        m = re.match(r"^[a-z]+://[^/?#]+(.*)$", self.url)
        if m and len(m.group(1)) > 1:
            out.append(m.group(1))  # path and query: where webhook tokens live
        return out

    def deliver(self, alerts: list[Alert], report: Report) -> None:
        import urllib.error  # here, not at the top: every run imports this module, few send
        import urllib.request

        unreachable: str | None = None
        for i, alert in enumerate(alerts):
            if unreachable:  # one timeout per channel and run, not one per alert
                report(i, unreachable)
                continue
            payload = alert.slack() if self.format == "slack" else alert.payload()
            body = json.dumps(mask_value(payload), default=str).encode()
            request = urllib.request.Request(self.url, data=body, method="POST", headers={
                "Content-Type": "application/json", "User-Agent": "headwater-alerts", **self.headers})  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read(65536)
                report(i, None)
            except urllib.error.HTTPError as exc:
                detail = exc.read(300).decode("utf-8", "replace").strip() if exc.fp else ""
                report(i, f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else ""))
            except (urllib.error.URLError, OSError) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                unreachable = (
                    f"cannot reach {mask_url(self.url)}: {type(reason).__name__}: {reason}"
                )
                report(i, unreachable)


class EmailChannel(Channel):
    """One e-mail per alert over one SMTP connection (smtplib): STARTTLS unless ``starttls: false``,
    login when credentials are given."""

    type = "email"

    def __init__(self, name: str, host: str, port: int, starttls: bool, username: str | None, password: str | None,
                 sender: str, to: list[str], timeout: float = 10.0, ca_file: Path | None = None) -> None:  # fmt: skip
        super().__init__(name)
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password = username, password
        self.sender, self.to = sender, list(to)
        self.timeout = timeout
        self.ca_file = ca_file

    def describe(self) -> str:
        return f"email `{self.name}` ({self.host}:{self.port})"

    def secrets(self) -> list[str]:
        return [s for s in (self.password,) if s]

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = mask(f"[headwater] {alert.title}")[:250]
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain="headwater")
        msg["X-Headwater-Incident"] = alert.key[:200]
        msg.set_content(mask(alert.text()))
        return msg

    def deliver(self, alerts: list[Alert], report: Report) -> None:
        import smtplib  # here, not at the top: every run imports this module, few send
        import ssl

        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                context = ssl.create_default_context(
                    cafile=str(self.ca_file) if self.ca_file else None
                )
                smtp.starttls(context=context)
            if self.username is not None and self.password is not None:
                smtp.login(self.username, self.password)
            for i, alert in enumerate(alerts):
                try:
                    smtp.send_message(self.message(alert))
                    report(i, None)
                except smtplib.SMTPServerDisconnected:
                    raise
                except smtplib.SMTPException as exc:
                    report(i, f"{type(exc).__name__}: {exc}")


def mask_url(url: str) -> str:
    """``https://hooks.example.com/***``: the host without the path and query that carry tokens."""
    m = re.match(r"^([a-z]+://)(?:[^@/?#]*@)?([^/?#]+)(.*)$", url)
    if not m:
        return "***"
    return m.group(1) + m.group(2) + ("/***" if m.group(3) not in ("", "/") else "")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked as a whole token (see `headwater.secrets`)."""
    from headwater import secrets as registry

    for secret in secrets:
        registry.register(secret)
    return registry.mask(text)
