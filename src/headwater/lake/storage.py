"""Where a lake table lives: a local folder or an object-store prefix, and how to reach it.

A `TableLocation` is the table's root as an absolute local path or a URL (``s3://bucket/key``,
``gs://…``, ``az://…`` / ``abfs://…``). The same value goes to deltalake (``table_uri`` with
``storage_options``), pyiceberg (``FileIO`` properties) and pyarrow (a ``FileSystem`` and a path),
so the three formats and the file writer read and write the same objects.

Credentials come only from the environment (as everywhere in headwater): S3 from
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, the region from
``AWS_REGION`` / ``AWS_DEFAULT_REGION``, and an S3-compatible server (MinIO, moto) from
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``; Azure from ``AZURE_STORAGE_ACCOUNT_NAME`` (or the
account in an ``abfss://container@account.dfs.core.windows.net/`` URI) with
``AZURE_STORAGE_ACCOUNT_KEY``, ``AZURE_STORAGE_SAS_TOKEN`` or a service principal
(``AZURE_CLIENT_ID`` / ``AZURE_CLIENT_SECRET`` / ``AZURE_TENANT_ID``), and Azurite from
``AZURE_ENDPOINT`` (``http://127.0.0.1:10000/devstoreaccount1``); GCS through the variables its SDK
reads (``GOOGLE_APPLICATION_CREDENTIALS``). Secrets are registered so every output masks them.

Tested: S3 against moto, Azure against Azurite (``tests/lake``). GCS goes through the same code
(pyarrow's ``GcsFileSystem``, deltalake's object store) but is not tested: of the emulators that
install here, ``gcp-storage-emulator`` has no XML API (object_store lists and writes through it),
and ``fake-gcs-server`` lists but refuses object_store's PUTs ("invalid uploadType").

**Errors** (`TableLocation.explain`): delta-rs and pyarrow report a store's refusal as a chain of
causes; a message names what the store said — a missing bucket, refused credentials, an endpoint
that does not answer — and what to check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import ConfigError

if TYPE_CHECKING:
    from pyarrow import fs

REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.+)$")

# What an object store's error says, in the forms the clients print it: S3's XML error code
# (delta-rs/object_store quote the response body), the AWS SDK's code (pyarrow: "AWS Error
# ACCESS_DENIED"), or a bare status line.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CODES = (
    re.compile(r"<Code>([A-Za-z]+)</Code>"),
    re.compile(r"AWS Error ([A-Z_]+)"),
    re.compile(r"\b(403 Forbidden|401 Unauthorized|404 Not Found)\b"),
)
_NO_BUCKET = {"nosuchbucket", "containernotfound", "bucketnotfound"}
_DENIED = {
    "accessdenied", "signaturedoesnotmatch", "invalidaccesskeyid", "expiredtoken",
    "invalidtoken", "tokenrefreshrequired", "authorizationheadermalformed", "403forbidden",
    "401unauthorized", "authenticationfailed", "authorizationfailure", "forbidden",
}  # fmt: skip
_UNREACHABLE = (
    "error sending request", "could not connect", "network_connection", "connection refused",
    "timed out", "dns error", "failed to lookup address",
)  # fmt: skip
_CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS",
}


@dataclass(frozen=True)
class TableLocation:
    """The root of one lake table."""

    uri: str
    """An absolute local path (no trailing slash), or ``scheme://bucket/prefix``."""
    env: Mapping[str, str]

    @classmethod
    def parse(
        cls, value: str, root: str | Path, env: Mapping[str, str] | None = None
    ) -> TableLocation:
        """``value`` as configured: a URL, ``file://`` path, or a path relative to ``root``."""
        environ = dict(os.environ) if env is None else dict(env)
        text = str(value).strip()
        match = _URL.match(text)
        if match:
            scheme = match.group(1).lower()
            if scheme == "file":
                text = match.group(2)
            elif scheme in REMOTE_SCHEMES:
                rest = match.group(2).strip("/")
                if not rest or rest.startswith("/"):
                    raise ConfigError(
                        f"`{value}` names no bucket", hint="write it as `s3://bucket/path/table`"
                    )
                return cls(f"{'s3' if scheme == 's3a' else scheme}://{rest}", environ)
            else:
                raise ConfigError(
                    f"`{value}`: `{scheme}://` is not a storage headwater writes lake tables to",
                    hint="use a local path or one of "
                    + ", ".join(f"`{s}://`" for s in ("s3", "gs", "az", "abfss")),
                )
        path = Path(text)
        if not path.is_absolute():
            path = Path(root) / path
        return cls(os.path.normpath(path), environ)

    @property
    def scheme(self) -> str:
        match = _URL.match(self.uri)
        return match.group(1) if match else "file"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def namespace(self) -> str:
        """OpenLineage's dataset namespace: ``s3://bucket``, or ``file`` for a local table."""
        if self.is_local:
            return "file"
        return f"{self.scheme}://{self.uri.split('://', 1)[1].split('/', 1)[0]}"

    @property
    def name(self) -> str:
        """OpenLineage's dataset name: the path within the namespace."""
        if self.is_local:
            return self.uri
        return "/" + self.uri.split("://", 1)[1].split("/", 1)[-1]

    def join(self, relative: str) -> str:
        """The URI (or local path) of a file given relative to the table's root."""
        return f"{self.uri}/{relative.lstrip('/')}"

    def relative(self, uri: str) -> str:
        """A file's path relative to the table's root (as Delta logs name it)."""
        for prefix in (self.uri + "/", "file://" + self.uri + "/"):
            if uri.startswith(prefix):
                return uri[len(prefix) :]
        return uri

    # -- credentials -----------------------------------------------------------------------------
    def _get(self, *names: str) -> str | None:
        for name in names:
            value = self.env.get(name)
            if value:
                return value
        return None

    @property
    def is_azure(self) -> bool:
        return self.scheme in ("az", "abfs", "abfss")

    def endpoint(self) -> str | None:
        """A custom endpoint: an S3-compatible server, or Azurite (its URL with the account:
        ``http://127.0.0.1:10000/devstoreaccount1``)."""
        if self.scheme == "s3":
            return self._get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        if self.is_azure:
            return self._get("AZURE_ENDPOINT", "AZURE_STORAGE_ENDPOINT")
        return None

    def azure(self) -> tuple[str, str, str]:
        """An Azure location's container, account and path in the container. The account comes
        from the URI (``abfss://container@account.dfs.core.windows.net/path``) or from
        ``AZURE_STORAGE_ACCOUNT_NAME`` (``az://container/path``)."""
        head, _, path = self.uri.split("://", 1)[1].partition("/")
        container, _, host = head.partition("@")
        account = host.split(".", 1)[0] if host else self._get("AZURE_STORAGE_ACCOUNT_NAME")
        return container, account or "", path

    def region(self) -> str:
        return self._get("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1"

    def storage_options(self) -> dict[str, str]:
        """deltalake's (object_store's) options for this location, from the environment."""
        if self.is_local:
            return {}
        from headwater import secrets

        out: dict[str, str] = {}
        if self.scheme == "s3":
            key = self._get("AWS_ACCESS_KEY_ID")
            secret = self._get("AWS_SECRET_ACCESS_KEY")
            token = self._get("AWS_SESSION_TOKEN")
            if key and secret:
                secrets.register(secret)
                out.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
            if token:
                secrets.register(token)
                out["AWS_SESSION_TOKEN"] = token
            out["AWS_REGION"] = self.region()
            endpoint = self.endpoint()
            if endpoint:
                out["AWS_ENDPOINT_URL"] = endpoint
                if endpoint.startswith("http://"):
                    out["AWS_ALLOW_HTTP"] = "true"
            # S3 has conditional writes: delta-rs writes each log entry with `If-None-Match: *`,
            # so two writers cannot both create one version and no external lock is needed
            # (delta-rs 1.6 does so with or without this option; older versions need it)
            out.setdefault("conditional_put", "etag")
        elif self.is_azure:
            out.update(self._azure_options())
        return out

    def _azure_options(self) -> dict[str, str]:
        from headwater import secrets

        _container, account, _path = self.azure()
        out = {"azure_storage_account_name": account} if account else {}
        for env, option in (
            ("AZURE_STORAGE_ACCOUNT_KEY", "azure_storage_account_key"),
            ("AZURE_STORAGE_SAS_TOKEN", "azure_storage_sas_token"),
            ("AZURE_CLIENT_ID", "azure_client_id"),
            ("AZURE_CLIENT_SECRET", "azure_client_secret"),
            ("AZURE_TENANT_ID", "azure_tenant_id"),
        ):
            value = self._get(env)
            if value:
                if env in ("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN",
                           "AZURE_CLIENT_SECRET"):  # fmt: skip
                    secrets.register(value)
                out[option] = value
        endpoint = self.endpoint()
        if endpoint:
            out["azure_endpoint"] = endpoint
            if endpoint.startswith("http://"):
                out["azure_allow_http"] = "true"
        return out

    def filesystem(self) -> tuple[fs.FileSystem, str]:
        """A pyarrow filesystem and this table's root path within it."""
        from pyarrow import fs

        if self.is_local:
            return fs.LocalFileSystem(), self.uri
        rest = self.uri.split("://", 1)[1]
        if self.scheme == "s3":
            from urllib.parse import urlparse

            # allow_delayed_open: a file smaller than one part (a few MB: most staged files of
            # an incremental change) is written with one PUT instead of a three-request
            # multipart upload
            kwargs: dict[str, object] = {"region": self.region(), "allow_delayed_open": True}
            endpoint = self.endpoint()
            if endpoint:
                parsed = urlparse(endpoint if "://" in endpoint else "https://" + endpoint)
                kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
                kwargs["scheme"] = parsed.scheme or "https"
            opts = self.storage_options()
            if "AWS_ACCESS_KEY_ID" in opts:
                kwargs["access_key"] = opts["AWS_ACCESS_KEY_ID"]
                kwargs["secret_key"] = opts["AWS_SECRET_ACCESS_KEY"]
                if "AWS_SESSION_TOKEN" in opts:
                    kwargs["session_token"] = opts["AWS_SESSION_TOKEN"]
            return fs.S3FileSystem(**kwargs), rest
        if self.scheme in ("gs", "gcs"):
            return fs.GcsFileSystem(), rest
        if self.is_azure:
            return self._azure_filesystem()
        filesystem, path = fs.FileSystem.from_uri(self.uri)
        return filesystem, path

    def _azure_filesystem(self) -> tuple[fs.FileSystem, str]:
        from urllib.parse import urlparse

        from pyarrow import fs

        container, account, path = self.azure()
        opts = self._azure_options()
        kwargs: dict[str, str] = {}
        for option, arg in (
            ("azure_storage_account_key", "account_key"),
            ("azure_storage_sas_token", "sas_token"),
            ("azure_client_id", "client_id"),
            ("azure_client_secret", "client_secret"),
            ("azure_tenant_id", "tenant_id"),
        ):
            if option in opts:
                kwargs[arg] = opts[option]
        endpoint = self.endpoint()
        if endpoint:  # Azurite: the account is the endpoint's path, pyarrow adds it itself
            parsed = urlparse(endpoint)
            kwargs.update(
                blob_storage_authority=parsed.netloc,
                blob_storage_scheme=parsed.scheme or "https",
                dfs_storage_authority=parsed.netloc,
                dfs_storage_scheme=parsed.scheme or "https",
            )
        root = f"{container}/{path}".rstrip("/")
        return fs.AzureFileSystem(account, **kwargs), root

    @property
    def bucket(self) -> str:
        """The bucket (container) of a remote location; empty for a local one."""
        if self.is_local:
            return ""
        if self.is_azure:
            return self.azure()[0]
        return self.uri.split("://", 1)[1].split("/", 1)[0]

    def explain(self, exc: BaseException) -> tuple[str, str]:
        """What a storage client's error means for this location, and what to do about it.

        delta-rs prints a chain of causes whose first line is often just "Generic S3 error";
        the store's own error code further down says what happened, so that is what a message
        names: a missing bucket, refused credentials, an unreachable endpoint. Anything else is
        the chain on one line."""
        text = _ANSI.sub("", str(exc))
        lines = [ln.strip().lstrip("↳").strip() for ln in text.splitlines()]
        flat = ": ".join(ln for ln in lines if ln) or type(exc).__name__
        code = next((m.group(1) for rx in _CODES for m in [rx.search(text)] if m), "")
        key = code.replace("_", "").replace(" ", "").lower()
        credentials = _CREDENTIALS.get(
            self.scheme, "AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY"
        )
        if key in _NO_BUCKET:
            return (
                f"the bucket `{self.bucket}` does not exist ({code})",
                f"create the bucket, or correct the table's `location` (or the target's "
                f"`lake_root`) if `{self.uri}` is not where it should be",
            )
        if key in _DENIED:
            return (
                f"the store refused the credentials for `{self.scheme}://{self.bucket}` ({code})",
                f"check {credentials} in the environment, and that they may read and write "
                f"`{self.uri}`",
            )
        if not key and any(marker in flat.lower() for marker in _UNREACHABLE):
            where = self.endpoint() or f"the {self.scheme} service"
            return (
                f"cannot reach {re.sub(r'//[^/@]*@', '//', where)}: {flat[:300]}",
                "check AWS_ENDPOINT_URL and the network"
                if self.scheme == "s3"
                else "check AZURE_ENDPOINT and the network"
                if self.is_azure
                else "check the network",
            )
        if self.is_local:
            return flat[:500], f"check the folder `{self.uri}` (it must be readable and writable)"
        return flat[:500], f"check the location `{self.uri}` and {credentials}"

    def describe(self) -> str:
        """For messages: the URI, and the endpoint of an S3-compatible server (without a
        password)."""
        endpoint = self.endpoint()
        if endpoint:
            return f"{self.uri} (endpoint {re.sub(r'//[^/@]*@', '//', endpoint)})"
        return self.uri
