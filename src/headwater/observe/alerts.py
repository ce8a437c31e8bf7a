"""Alerts: turn a run's signals into incidents, and tell people when an incident opens or resolves.

An incident is one (trigger, subject) pair, e.g. ``node_failure:model.shop.orders``. The first open
signal opens it and alerts ("FAILING"); later open signals only count occurrences (a reminder
goes out after ``renotify_after``); an ok signal resolves it and says so ("RESOLVED") to the
channels that heard about it. Delivery never blocks or fails a run: short timeouts, channels in
parallel under one total time bound, every attempt recorded in ``alert_deliveries``.

headwater.yml::

    observability:
      alerts:
        channels:
          - {name: ops-console, type: console}         # rich, to stderr
          - {name: run-log, type: log}                 # logger `headwater.alerts` and the run's log file
          - {name: team-hook, type: webhook, url_env: ALERT_WEBHOOK_URL, format: slack,
             timeout: 5, headers_env: {Authorization: HOOK_TOKEN}}
          - {name: oncall-mail, type: email, host: smtp.example.com, port: 587, starttls: true,
             username_env: SMTP_USER, password_env: SMTP_PASSWORD,
             from: headwater@example.com, to: [oncall@example.com]}
        triggers: [node_failure, check_error, freshness, sla, anomaly, schema_change]  # the default
        routes:                                        # optional; channels in no route get everything
          - {channels: [oncall-mail], triggers: [node_failure, sla], min_severity: error}
        rate_limit: {max: 20, per: 1h}                 # per channel (the default); `false` for none
        renotify_after: 24h                            # optional reminder of a still-open incident
        timeout: 30s                                   # all deliveries of one run (the default)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, did_you_mean
from headwater.observe import TRIGGERS, Bus, Signal
from headwater.observe.channels import (
    SEVERITY_RANK,
    Alert,
    Channel,
    ConsoleChannel,
    EmailChannel,
    LogChannel,
    WebhookChannel,
    scrub,
    severity_rank,
)
from headwater.runner.events import Run, RunListener, Unit, UnitResult
from headwater.state.records import AlertDelivery, Incident

if TYPE_CHECKING:
    from headwater.context import Context

log = logging.getLogger("headwater.alerts")

DEFAULT_TRIGGERS = tuple(t for t in TRIGGERS if t != "check_warn")
"""Every trigger but ``check_warn``: a warn-level check is by definition not worth waking anyone."""

CHANNEL_TYPES = ("console", "log", "webhook", "email")
RATE_LIMITED = "rate limited"


# -- configuration ---------------------------------------------------------------------------------
@dataclass
class Route:
    channels: tuple[str, ...]
    triggers: tuple[str, ...]
    min_severity: str = "info"

    def matches(self, trigger: str, severity: str) -> bool:
        return trigger in self.triggers and severity_rank(severity) >= severity_rank(
            self.min_severity
        )


@dataclass
class AlertConfig:
    """`observability.alerts` of headwater.yml, validated, with its secrets read from the environment."""

    channels: list[Channel] = field(default_factory=list)
    triggers: tuple[str, ...] = DEFAULT_TRIGGERS
    routes: list[Route] = field(default_factory=list)
    rate_limit: tuple[int, float] | None = (20, 3600.0)
    """(max deliveries, per seconds) for each channel; None: unlimited."""
    renotify_after: float | None = None
    timeout: float = 30.0
    """Bound on the wall time of all deliveries of one run."""

    def channels_for(self, trigger: str, severity: str) -> list[Channel]:
        """Channels named in no route get every alert; the others what one of their routes matches."""
        routed = {c for r in self.routes for c in r.channels}
        return [
            ch for ch in self.channels
            if ch.name not in routed
            or any(ch.name in r.channels and r.matches(trigger, severity) for r in self.routes)
        ]  # fmt: skip


def alert_config(ctx: Context, environ: Mapping[str, str] | None = None) -> AlertConfig:
    """Validate `observability.alerts` of the project and read its secrets (raises ConfigError, so
    call it when a command starts: a missing variable must not wait for the first alert)."""
    cfg = ctx.manifest.config
    raw = (cfg.observability or {}).get("alerts")
    return parse_alert_config(raw, getattr(cfg, "config_file", "headwater.yml"), os.environ if environ is None else environ,
                              Path(getattr(cfg, "root", ".")))  # fmt: skip


def parse_alert_config(raw: Any, file: str = "headwater.yml", environ: Mapping[str, str] | None = None,
                       root: Path | None = None) -> AlertConfig:  # fmt: skip
    """The `AlertConfig` of a raw `alerts:` mapping (None: no channels, default triggers)."""
    env = os.environ if environ is None else environ
    v = _Validator(file, env, root or Path("."))
    if raw is None or raw is False:
        return AlertConfig()
    where = "observability.alerts"
    v.mapping(raw, where, None, None)
    v.keys(
        raw, ("channels", "triggers", "routes", "rate_limit", "renotify_after", "timeout"), where
    )
    out = AlertConfig()
    channels = raw.get("channels") or []
    v.seq(channels, f"{where}.channels", raw, "channels")
    for i, spec in enumerate(channels):
        ch = v.channel(spec, f"{where}.channels[{i}]", channels, i)
        if any(c.name == ch.name for c in out.channels):
            raise v.error(f"two channels are named `{ch.name}`", f"{where}.channels[{i}].name", channels, i,
                          "give every channel a different `name:`")  # fmt: skip
        out.channels.append(ch)
    if "triggers" in raw:
        out.triggers = v.triggers(raw["triggers"], f"{where}.triggers", raw, "triggers")
    names = [c.name for c in out.channels]
    routes = raw.get("routes") or []
    v.seq(routes, f"{where}.routes", raw, "routes")
    for i, spec in enumerate(routes):
        out.routes.append(v.route(spec, f"{where}.routes[{i}]", routes, i, names, out.triggers))
    if "rate_limit" in raw:
        out.rate_limit = v.rate_limit(raw["rate_limit"], f"{where}.rate_limit", raw)
    if raw.get("renotify_after") not in (None, False):
        out.renotify_after = v.duration(
            raw["renotify_after"], f"{where}.renotify_after", raw, "renotify_after"
        )
    if "timeout" in raw:
        out.timeout = v.duration(raw["timeout"], f"{where}.timeout", raw, "timeout")
    return out


def parse_duration(value: Any) -> float | None:
    """Seconds of a duration (`headwater.durations`: ``30``, ``"90s"``, ``"15m"``, ``"1h30m"``,
    ``"2d"``, ``"PT1H"``, ...); None if it is not a positive one."""
    from headwater.durations import DurationError
    from headwater.durations import parse_duration as seconds_of

    try:
        return seconds_of(value)
    except DurationError:
        return None


class _Validator:
    def __init__(self, file: str, env: Mapping[str, str], root: Path) -> None:
        self.file = file
        self.env = env
        self.root = root

    def error(self, msg: str, key_path: str, where: Any, key: Any, hint: str) -> ConfigError:
        from headwater.project.validate import loc_of  # imports yaml: only for a mistake

        location = loc_of(where, key) if where is not None else None
        text = f"`{key_path}`: {msg}" + ("" if location else f" (in {self.file})")
        return ConfigError(text, location=location, hint=hint)

    def mapping(self, value: Any, path: str, where: Any, key: Any) -> None:
        if not isinstance(value, dict):
            raise self.error(
                f"must be a mapping, got `{value!r}`",
                path,
                where,
                key,
                "see the example in `headwater.observe.alerts`",
            )

    def seq(self, value: Any, path: str, where: Any, key: Any) -> None:
        if not isinstance(value, list):
            raise self.error(
                f"must be a list, got `{value!r}`",
                path,
                where,
                key,
                "write it as `[a, b]` or as `- a` items",
            )

    def keys(self, spec: Mapping[Any, Any], allowed: Iterable[str], path: str) -> None:
        allowed = tuple(allowed)
        for k in spec:
            if k not in allowed:
                raise self.error(f"unknown key `{k}`{did_you_mean(str(k), allowed)}", f"{path}.{k}", spec, k,
                                 "allowed keys: " + ", ".join(allowed))  # fmt: skip

    def string(
        self, spec: Mapping[Any, Any], key: str, path: str, required: bool = True
    ) -> str | None:
        value = spec.get(key)
        if value is None or value == "":
            if required:
                raise self.error(
                    f"`{key}:` is required",
                    f"{path}.{key}",
                    spec,
                    None,
                    f"add `{key}: ...` to this entry",
                )
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.error(
                f"must be a string, got `{value!r}`",
                f"{path}.{key}",
                spec,
                key,
                f"write `{key}: text`",
            )
        return str(value)

    def secret(
        self, spec: Mapping[Any, Any], key: str, path: str, required: bool = True
    ) -> str | None:
        """The value of the environment variable that ``spec[key]`` names."""
        var = self.string(spec, key, path, required)
        if var is None:
            return None
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            raise self.error(f"`{var}` is not an environment variable name", f"{path}.{key}", spec, key,
                             f"`{key}` names the variable that holds the secret, e.g. `{key}: ALERT_WEBHOOK_URL`")  # fmt: skip
        value = self.env.get(var)
        if not value:
            raise self.error(f"environment variable `{var}` is not set", f"{path}.{key}", spec, key,
                             f"export {var}=... before running headwater (secrets are read only from the environment)")  # fmt: skip
        from headwater import secrets

        secrets.register(value)
        if key == "url_env":  # a webhook's path and query are its token
            secrets.register(re.sub(r"^[a-z]+://[^/?#]+", "", value) or None)
        return value

    def flag(self, spec: Mapping[Any, Any], key: str, path: str, default: bool) -> bool:
        value = spec.get(key, default)
        if not isinstance(value, bool):
            raise self.error(
                f"must be true or false, got `{value!r}`",
                f"{path}.{key}",
                spec,
                key,
                f"write `{key}: true`",
            )
        return value

    def duration(self, value: Any, path: str, where: Any, key: Any) -> float:
        from headwater.durations import DurationError, parse_duration

        try:
            return parse_duration(value, key=path, file=self.file)
        except DurationError:
            raise self.error(f"`{value!r}` is not a duration", path, where, key,
                             "write seconds (`30`) or `90s`, `15m`, `1h`, `2d`") from None  # fmt: skip

    def severity(self, value: Any, path: str, where: Any, key: Any) -> str:
        if str(value) not in SEVERITY_RANK:
            raise self.error(
                f"unknown severity `{value}`", path, where, key, "one of: info, warn, error"
            )
        return "warn" if str(value) == "warning" else str(value)

    def triggers(self, value: Any, path: str, where: Any, key: Any) -> tuple[str, ...]:
        self.seq(value, path, where, key)
        for i, t in enumerate(value):
            if t not in TRIGGERS:
                raise self.error(f"unknown trigger `{t}`{did_you_mean(str(t), TRIGGERS)}", f"{path}[{i}]", value, i,
                                 "triggers: " + ", ".join(TRIGGERS))  # fmt: skip
        return tuple(dict.fromkeys(str(t) for t in value))

    def rate_limit(self, value: Any, path: str, where: Any) -> tuple[int, float] | None:
        if value is None or value is False:
            return None
        self.mapping(value, path, where, "rate_limit")
        self.keys(value, ("max", "per"), path)
        n = value.get("max")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise self.error(f"`max` must be a positive integer, got `{n!r}`", f"{path}.max", value, "max",
                             "e.g. `rate_limit: {max: 20, per: 1h}`, or `rate_limit: false` for no limit")  # fmt: skip
        return n, self.duration(value.get("per", "1h"), f"{path}.per", value, "per")

    def route(
        self, spec: Any, path: str, where: Any, key: Any, names: list[str], enabled: tuple[str, ...]
    ) -> Route:
        self.mapping(spec, path, where, key)
        self.keys(spec, ("channels", "triggers", "min_severity"), path)
        channels = spec.get("channels")
        if isinstance(channels, str):
            channels = [channels]
        if not channels:
            raise self.error(
                "`channels:` is required",
                f"{path}.channels",
                spec,
                None,
                "name the channels this route sends to",
            )
        self.seq(channels, f"{path}.channels", spec, "channels")
        for i, c in enumerate(channels):
            if c not in names:
                raise self.error(f"no channel named `{c}`{did_you_mean(str(c), names)}", f"{path}.channels[{i}]", channels, i,
                                 "channels: " + (", ".join(names) or "(none defined)"))  # fmt: skip
        triggers = (
            self.triggers(spec["triggers"], f"{path}.triggers", spec, "triggers")
            if "triggers" in spec
            else enabled
        )
        severity = self.severity(
            spec.get("min_severity", "info"), f"{path}.min_severity", spec, "min_severity"
        )
        return Route(tuple(str(c) for c in channels), triggers, severity)

    def channel(self, spec: Any, path: str, where: Any, key: Any) -> Channel:
        self.mapping(spec, path, where, key)
        name = self.string(spec, "name", path)
        kind = self.string(spec, "type", path)
        assert name is not None and kind is not None
        if kind not in CHANNEL_TYPES:
            raise self.error(f"unknown channel type `{kind}`{did_you_mean(kind, CHANNEL_TYPES)}", f"{path}.type", spec, "type",
                             "one of: " + ", ".join(CHANNEL_TYPES))  # fmt: skip
        for plain, env_key in (("url", "url_env"), ("password", "password_env"), ("headers", "headers_env"),
                               ("username", "username_env")):  # fmt: skip
            if plain in spec:
                raise self.error(f"`{plain}:` would put a secret in headwater.yml", f"{path}.{plain}", spec, plain,
                                 f"put it in an environment variable and name it: `{env_key}: VARIABLE`")  # fmt: skip
        if kind == "console":
            self.keys(spec, ("name", "type"), path)
            return ConsoleChannel(name)
        if kind == "log":
            self.keys(spec, ("name", "type"), path)
            return LogChannel(name)
        if kind == "webhook":
            self.keys(spec, ("name", "type", "url_env", "format", "timeout", "headers_env"), path)
            url = self.secret(spec, "url_env", path)
            assert url is not None
            if not url.startswith(("http://", "https://")):
                raise self.error(f"the URL in `{spec['url_env']}` must start with http:// or https://", f"{path}.url_env", spec,
                                 "url_env", f"set {spec['url_env']} to the webhook's full URL")  # fmt: skip
            fmt = str(spec.get("format", "json"))
            if fmt not in ("json", "slack"):
                raise self.error(f"unknown format `{fmt}`", f"{path}.format", spec, "format",
                                 "`json` (headwater's payload) or `slack` (Slack-compatible text and blocks)")  # fmt: skip
            headers: dict[str, str] = {}
            raw_headers = spec.get("headers_env") or {}
            self.mapping(raw_headers, f"{path}.headers_env", spec, "headers_env")
            for header in raw_headers:
                value = self.secret(raw_headers, header, f"{path}.headers_env")
                assert value is not None
                headers[str(header)] = value
            timeout = self.duration(spec.get("timeout", 5), f"{path}.timeout", spec, "timeout")
            return WebhookChannel(name, url, fmt, timeout, headers)
        self.keys(spec, ("name", "type", "host", "port", "starttls", "username_env", "password_env", "from", "to",
                         "timeout", "ca_file"), path)  # fmt: skip
        host = self.string(spec, "host", path)
        starttls = self.flag(spec, "starttls", path, True)
        port = spec.get("port", 587 if starttls else 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise self.error(
                f"`port` must be a port number, got `{port!r}`",
                f"{path}.port",
                spec,
                "port",
                "e.g. `port: 587`",
            )
        user = self.secret(spec, "username_env", path, required=False)
        password = self.secret(spec, "password_env", path, required=False)
        if (user is None) != (password is None):
            raise self.error("give both `username_env` and `password_env`, or neither", path, spec, None,
                             "SMTP login needs a user and a password; leave both out for a relay without login")  # fmt: skip
        sender = self.string(spec, "from", path)
        to = spec.get("to")
        to = [to] if isinstance(to, str) else to
        if (
            not to
            or not isinstance(to, list)
            or not all(isinstance(t, str) and "@" in t for t in to)
        ):
            raise self.error(f"`to` must be one or more e-mail addresses, got `{spec.get('to')!r}`", f"{path}.to", spec, "to",
                             "e.g. `to: [oncall@example.com]`")  # fmt: skip
        ca_file = self.string(spec, "ca_file", path, required=False)
        ca_path = None
        if ca_file is not None:
            ca_path = Path(ca_file) if Path(ca_file).is_absolute() else self.root / ca_file
            if not ca_path.is_file():
                raise self.error(f"no file `{ca_file}`", f"{path}.ca_file", spec, "ca_file",
                                 "a PEM file of the CA that signed the SMTP server's certificate")  # fmt: skip
        timeout = self.duration(spec.get("timeout", 10), f"{path}.timeout", spec, "timeout")
        assert host is not None and sender is not None
        return EmailChannel(
            name,
            host,
            port,
            starttls,
            user,
            password,
            sender,
            [str(t) for t in to],
            timeout,
            ca_path,
        )


# -- incidents -------------------------------------------------------------------------------------
@dataclass
class Delivery:
    incident_key: str
    channel: str
    kind: str
    ok: bool
    error: str | None = None


@dataclass
class AlertReport:
    """What `process_signals` did: incidents opened, still open, resolved; every delivery attempt."""

    opened: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened, "still_open": self.still_open, "resolved": self.resolved,
            "deliveries": [d.__dict__ for d in self.deliveries],
        }  # fmt: skip


def merge_signals(
    signals: Iterable[Signal], triggers: Iterable[str] = TRIGGERS
) -> dict[str, Signal]:
    """One signal per incident key: an open signal wins over ok ones (and a later open over an earlier
    one); triggers that are not enabled are left out."""
    enabled = set(triggers)
    out: dict[str, Signal] = {}
    for s in signals:
        if s.trigger not in enabled or s.status not in ("open", "ok"):
            continue
        prev = out.get(s.key)
        if prev is None or s.status == "open" or prev.status == "ok":
            out[s.key] = s
    return out


def process_signals(ctx: Context, signals: Iterable[Signal], invocation_id: str, *, config: AlertConfig | None = None,
                    now: float | None = None) -> AlertReport:  # fmt: skip
    """Open, update and resolve incidents from ``signals`` and deliver the alerts they call for.
    Never raises for a delivery; a missing secret raises ConfigError (unless ``config`` is given)."""
    config = alert_config(ctx) if config is None else config
    now = time.time() if now is None else now
    state = ctx.state
    merged = merge_signals(signals, config.triggers)
    report = AlertReport()
    if not merged:
        return report
    project = str(getattr(ctx.manifest.config, "name", ""))
    target = str(getattr(ctx.manifest.target, "name", ""))
    incidents = state.incidents
    open_rows = incidents.open_incidents()
    opened: list[Incident] = []
    seen: list[tuple[str, float, str]] = []
    resolved: list[tuple[str, float]] = []
    alerts: list[Alert] = []

    def alert(kind: str, s: Signal, row: Incident | None, occurrences: int) -> Alert:
        return Alert(kind, s.key, s.trigger, s.subject, s.severity if kind != "resolved" else "info",
                     s.message if kind != "resolved" else (s.message or "healthy again"), project, target,
                     invocation_id, dict(s.details), occurrences, row.opened_at if row else now)  # fmt: skip

    for key, s in merged.items():
        row = open_rows.get(key)
        message = (s.message or "")[:2000]
        if s.status == "open" and row is None:
            opened.append(
                Incident(key, s.trigger, s.subject, "open", now, None, now, None, 1, message)
            )
            report.opened.append(key)
            alerts.append(alert("open", s, None, 1))
        elif s.status == "open":
            assert row is not None
            occurrences = int(row.occurrences or 1) + 1
            seen.append((key, now, message))
            report.still_open.append(key)
            if row.last_alert_at is None:  # never delivered anywhere yet: try again
                alerts.append(alert("open", s, row, occurrences))
            elif config.renotify_after and now - float(row.last_alert_at) >= config.renotify_after:
                alerts.append(alert("reminder", s, row, occurrences))
        elif row is not None:
            resolved.append((key, now))
            report.resolved.append(key)
            alerts.append(alert("resolved", s, row, int(row.occurrences or 1)))
    incidents.open_new(opened)
    incidents.seen(seen)
    incidents.resolve(resolved)
    report.alerts = alerts
    if alerts and config.channels:
        report.deliveries = _deliver(ctx, config, alerts, open_rows, now)
        alerted = sorted(
            {d.incident_key for d in report.deliveries if d.ok and d.kind in ("open", "reminder")}
        )
        incidents.mark_alerted(alerted, now)
    return report


def _deliver(ctx: Context, config: AlertConfig, alerts: list[Alert], open_rows: dict[str, Incident],
             now: float) -> list[Delivery]:  # fmt: skip
    """Route, rate-limit and send; record every attempt in `alert_deliveries`."""
    incidents = ctx.state.incidents
    by_name = {c.name: c for c in config.channels}
    plan: dict[str, list[Alert]] = {}
    for a in alerts:
        if a.kind == "resolved":  # tell the channels that were told it was failing, nobody else
            row = open_rows.get(a.key)
            told = incidents.channels_told(a.key, float(row.opened_at or 0) if row else 0.0)
            targets = [by_name[c] for c in told if c in by_name]
        else:
            targets = config.channels_for(a.trigger, a.severity)
        for ch in targets:
            plan.setdefault(ch.name, []).append(a)
    records: list[Delivery] = []
    if config.rate_limit is not None and plan:
        limit, per = config.rate_limit
        since = now - per
        used = incidents.deliveries_per_channel(since, not_error=RATE_LIMITED)
        summarised = incidents.summarised_channels(since)
        for name, batch in plan.items():
            room = max(0, limit - used.get(name, 0))
            if len(batch) <= room:
                continue
            kept, dropped = batch[:room], batch[room:]
            records += [Delivery(a.key, name, a.kind, False, RATE_LIMITED) for a in dropped]
            if name not in summarised:  # one note per window that alerts are being held back
                kept.append(Alert("summary", f"rate_limit:{name}", "rate_limit", name, "warn",
                                  f"{len(dropped)} alert(s) not sent: channel `{name}` is limited to {limit} per "
                                  f"{_human(per)}; see the `incidents` and `alert_deliveries` tables or `headwater status`",
                                  dropped[0].project, dropped[0].target, dropped[0].invocation_id,
                                  {"suppressed": [a.key for a in dropped][:50]}))  # fmt: skip
            plan[name] = kept
    file_logger = _run_logger(ctx)
    threads: list[tuple[threading.Thread, Channel, list[Alert], dict[int, str | None]]] = []
    for name, batch in plan.items():
        if not batch:
            continue
        ch = by_name[name]
        if isinstance(ch, LogChannel) and ch.file_logger is None:
            ch.file_logger = file_logger
        results: dict[int, str | None] = {}
        t = threading.Thread(
            target=_run_channel, args=(ch, batch, results), name=f"hw-alert-{name}", daemon=True
        )
        threads.append((t, ch, batch, results))
        t.start()
    deadline = time.monotonic() + config.timeout
    for t, _, _, _ in threads:  # daemon threads: one stuck on a dead host cannot hold the process
        t.join(max(0.0, deadline - time.monotonic()))
    for _t, ch, batch, results in threads:
        done = dict(
            results
        )  # a snapshot: a thread still running writes into its own dict, not ours
        secrets = ch.secrets()
        for i, a in enumerate(batch):
            if i in done:
                error = done[i]
            else:
                error = f"not delivered within {_human(config.timeout)} (all deliveries of a run share `alerts.timeout`)"
            error = scrub(error, secrets)[:1000] if error is not None else None
            records.append(Delivery(a.key, ch.name, a.kind, error is None, error))
            if error is not None:
                log.warning("alert %s to %s failed: %s", a.title, ch.describe(), error)
    incidents.record_deliveries(
        AlertDelivery(d.incident_key, d.channel, d.kind, now, d.ok, d.error) for d in records
    )
    return records


def _run_channel(channel: Channel, batch: list[Alert], results: dict[int, str | None]) -> None:
    """A channel's deliveries (own thread): an exception is the error of every alert not yet reported."""

    def report(i: int, error: str | None) -> None:
        results[i] = error

    try:
        channel.deliver(batch, report)
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        import smtplib

        if isinstance(exc, OSError | smtplib.SMTPException) and isinstance(channel, EmailChannel):
            text = f"{channel.host}:{channel.port}: {text}"
        for i in range(len(batch)):
            results.setdefault(i, text)


def _run_logger(ctx: Context) -> logging.Logger | None:
    file_logger = getattr(ctx, "_file_logger", None)
    if file_logger is None:
        return None
    try:
        logger: logging.Logger = file_logger()
    except Exception:  # no project folder to log into: python logging still gets the alert
        return None
    return logger


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- signals of a run ------------------------------------------------------------------------------
def check_trigger(check_type: str | None, status: str, severity: str) -> str:
    """The trigger a check result maps to: anomaly monitors and schema-change contracts keep their
    own; other checks are check_error (error severity, failed) or check_warn."""
    kind = str(check_type or "")
    if kind.startswith("anomaly"):
        return "anomaly"
    if kind.startswith("schema_change"):
        return "schema_change"
    return "check_error" if status in ("fail", "error") and severity == "error" else "check_warn"


def signals_of_result(result: UnitResult, triggers: Iterable[str] = TRIGGERS) -> list[Signal]:
    """The signals of one finished unit (`UnitResult`): node failure or health, and one per check."""
    enabled = set(triggers)
    if result.status == "skipped":
        return []
    out: list[Signal] = []
    explained = False
    for c in result.checks:
        base = {"check": c.name, "check_type": c.check, "node": c.node, "column": c.column, "status": c.status,
                "failures": c.failures}  # fmt: skip
        if c.quarantined:
            base["quarantined"] = c.quarantined
        if c.status == "pass" and not c.quarantined:
            for trigger in {
                check_trigger(c.check, "fail", "error"),
                check_trigger(c.check, "warn", "warn"),
            }:
                out.append(Signal(trigger, c.unique_id, "ok", "", c.severity, base))
            continue
        trigger = check_trigger(c.check, c.status, c.severity)
        severity = "error" if c.status in ("fail", "error") and c.severity == "error" else "warn"
        message = f"{c.name}: {c.message}" if c.message else c.name
        out.append(Signal(trigger, c.unique_id, "open", message, severity, base))
        if (
            trigger == "check_warn"
        ):  # a check that went from failing to warning: its error incident is over
            out.append(
                Signal(
                    "check_error", c.unique_id, "ok", f"{c.name} is down to a warning", "warn", base
                )
            )
        elif trigger == "check_error":
            out.append(Signal("check_warn", c.unique_id, "ok", "", "warn", base))
        if c.blocks and trigger in enabled:
            explained = True  # the node failed because of this check: one alert about it, not two
    subject = result.node_id or result.unit_id
    details = {"node": result.name, "resource_type": result.resource_type, "relation": result.relation,
               "status": result.status}  # fmt: skip
    if result.status in ("error", "fail"):
        if not explained:
            message = (
                result.message
                or f"`{result.name}` {'failed its checks' if result.status == 'fail' else 'failed'}"
            )
            out.append(Signal("node_failure", subject, "open", message[:2000], "error", details))
    elif result.status in ("success", "warn", "pass"):
        out.append(
            Signal(
                "node_failure", subject, "ok", f"`{result.name}` {result.status}", "info", details
            )
        )
    return out


class AlertObserver(RunListener):
    """Collects the signals of a run and hands them, with the bus's, to `process_signals` at the end."""

    def __init__(self, ctx: Context, invocation_id: str, bus: Bus, config: AlertConfig) -> None:
        self.ctx = ctx
        self.invocation_id = invocation_id
        self.bus = bus
        self.config = config
        self.signals: list[Signal] = []
        self.report: AlertReport | None = None

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        self.signals += signals_of_result(result, self.config.triggers)

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        external = list(self.bus.signals)
        # a monitor or contract that also put a Signal on the bus for the same check: keep the bus's
        covered = {
            (s.trigger, str(ref)) for s in external
            for ref in (s.subject, s.details.get("check"), s.details.get("check_id"), s.details.get("unique_id")) if ref
        }  # fmt: skip
        own = [
            s for s in self.signals
            if s.trigger not in ("anomaly", "schema_change")
            or ((s.trigger, s.subject) not in covered and (s.trigger, str(s.details.get("check"))) not in covered)
        ]  # fmt: skip
        try:
            self.report = process_signals(
                self.ctx, own + external, self.invocation_id, config=self.config
            )
        except Exception:  # alerting must never fail the run it reports on
            log.exception("alerts: processing the signals of %s failed", self.invocation_id[:8])


def make(ctx: Context, command: str, invocation_id: str, bus: Bus) -> RunListener | None:
    """The alerting observer (last of the parts); its configuration, secrets included, is checked
    here so that a missing variable stops the run before it starts."""
    return AlertObserver(ctx, invocation_id, bus, alert_config(ctx))
