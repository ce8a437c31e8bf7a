"""Credentials of the `http` connector (`auth:`) and the secrets no message may show.

``{type: bearer, token_env}``, ``{type: basic, username | username_env, password_env}`` and
``{type: api_key, name, in: header | query, value_env}``: secrets are read from environment
variables only (a literal secret in the project file is refused), sent only to the origin of
``url`` (`headwater.extract.http.transport`), and masked (``***``) in every log line and error
message through `Credentials.redact` / `Credentials.show`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from headwater.errors import did_you_mean
from headwater.extract.base import ConnectorError, TransientConnectorError

if TYPE_CHECKING:
    from headwater.extract.http.config import ConfigReader

AUTH_KEYS = {
    "bearer": {"token_env"},
    "basic": {"username", "username_env", "password_env"},
    "api_key": {"name", "in", "value_env"},
}
"""The keys of each `auth:` type (besides `type`)."""


@dataclass
class Credentials:
    """What `auth:` sends to the origin of ``url``, and what must never be shown: the secrets
    (masked as whole tokens, `headwater.secrets`) and the query parameters that carry one."""

    source: str
    """The source table's name (`source.table`), for messages."""
    kind: str | None = None
    """The `auth:` type, or None without `auth:`."""
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    secret_params: set[str] = field(default_factory=set)
    env_vars: list[str] = field(default_factory=list)
    """The environment variables the secrets come from (named in hints)."""
    secrets: list[str] = field(default_factory=list)
    """Values to mask; the transport adds a proxy's credentials."""

    @property
    def any(self) -> bool:
        """True when requests to the origin carry credentials."""
        return bool(self.headers or self.query)

    def redact(self, text: str) -> str:
        """``text`` with this source's secrets masked as whole tokens (`headwater.secrets`)."""
        from headwater import secrets

        for secret in self.secrets:
            secrets.register(secret)
        return secrets.mask(text)

    def show(self, url: str) -> str:
        """``url`` as it may be shown to users: secret query parameters masked."""
        parts = urlsplit(url)
        if parts.query and self.secret_params:
            query = [
                (k, "***" if k in self.secret_params else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ]
            url = urlunsplit(parts._replace(query=urlencode(query, safe="*")))
        return self.redact(url)

    def error(
        self, message: str, hint: str | None = None, *, transient: bool = False
    ) -> ConnectorError:
        """A `ConnectorError` (or a transient one) naming the source, secrets masked."""
        cls = TransientConnectorError if transient else ConnectorError
        return cls(
            self.redact(f"source `{self.source}`: {message}"),
            node=self.source,
            hint=self.redact(hint) if hint else None,
        )


def _secret(reader: ConfigReader, creds: Credentials, auth: Mapping[str, Any], key: str,
            env: Mapping[str, str]) -> str:  # fmt: skip
    var = auth.get(f"{key}_env")
    if not var:
        raise reader.error(
            f"`auth` ({auth.get('type')}) needs `{key}_env`, the environment variable holding the {key}"
        )
    value = env.get(str(var))
    if value is None:
        raise reader.error(
            f"`auth` reads the {key} from the environment variable `{var}`, which is not set",
            hint=f"export {var}=...",
        )
    creds.env_vars.append(str(var))
    if value:
        creds.secrets.append(value)
    return value


def read_auth(reader: ConfigReader, env: Mapping[str, str]) -> Credentials:
    """The credentials `auth:` configures (none without it); `ConfigError` for a bad `auth:`."""
    creds = Credentials(reader.name)
    raw = reader.config.get("auth")
    if raw is None:
        return creds
    if not isinstance(raw, Mapping):
        raise reader.error("`auth` must be a mapping with a `type`")
    kind = raw.get("type")
    for literal in ("token", "password", "value", "api_key", "secret"):
        if literal in raw:
            raise reader.error(
                f"`auth.{literal}` would put a secret in the project file",
                hint=f"put it in an environment variable and name it with `{literal}_env`"
                if literal != "api_key"
                else "put it in an environment variable and name it with `value_env`",
            )
    if kind not in AUTH_KEYS:
        raise reader.error(
            f"unknown auth type `{kind}`" + did_you_mean(str(kind), AUTH_KEYS),
            hint="types: bearer (token_env), basic (username, password_env), api_key (name, in, value_env)",
        )
    creds.kind = str(kind)
    auth = reader.section("auth", AUTH_KEYS[kind] | {"type"})
    if kind == "bearer":
        token = _secret(reader, creds, auth, "token", env)
        creds.headers["Authorization"] = f"Bearer {token}"
    elif kind == "basic":
        if auth.get("username_env"):
            username = _secret(reader, creds, auth, "username", env)
        elif auth.get("username") is not None:
            username = str(auth["username"])
        else:
            raise reader.error("`auth` (basic) needs `username` or `username_env`")
        password = _secret(reader, creds, auth, "password", env)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        creds.secrets.append(encoded)
        creds.headers["Authorization"] = f"Basic {encoded}"
    else:
        name = auth.get("name")
        if not name:
            raise reader.error("`auth` (api_key) needs `name`, the header or query parameter")
        where = auth.get("in", "header")
        if where not in ("header", "query"):
            raise reader.error(f"`auth.in` must be header or query, got `{where}`")
        value = _secret(reader, creds, auth, "value", env)
        if where == "header":
            creds.headers[str(name)] = value
        else:
            creds.query[str(name)] = value
            creds.secret_params.add(str(name))
    return creds
