"""Where a lake table lives: a local folder or an object-store prefix, and how to reach it.

A `TableLocation` is the table's root as an absolute local path or a URL (``s3://bucket/key``,
``gs://…``, ``az://…`` / ``abfs://…``). The same value goes to deltalake (``table_uri`` with
``storage_options``), pyiceberg (``FileIO`` properties) and pyarrow (a ``FileSystem`` and a path),
so the three formats and the file writer read and write the same objects.

Credentials come only from the environment (as everywhere in headwater): S3 from
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, the region from
``AWS_REGION`` / ``AWS_DEFAULT_REGION``, and an S3-compatible server (MinIO, moto) from
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``; GCS and Azure through the variables their SDKs read
(``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_ACCOUNT_NAME`` / ``AZURE_STORAGE_ACCOUNT_KEY``).
Secrets are registered so every output masks them. GCS and Azure go through the same code (pyarrow's
and fsspec's filesystems, deltalake's object store) but are not tested here: no emulator of either
installs from the registries this project uses.
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

    def endpoint(self) -> str | None:
        if self.scheme != "s3":
            return None
        return self._get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")

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
            # S3 has conditional writes (If-None-Match): two writers cannot both create the same
            # log entry, so no external lock is needed.
            out.setdefault("conditional_put", "etag")
        return out

    def filesystem(self) -> tuple[fs.FileSystem, str]:
        """A pyarrow filesystem and this table's root path within it."""
        from pyarrow import fs

        if self.is_local:
            return fs.LocalFileSystem(), self.uri
        rest = self.uri.split("://", 1)[1]
        if self.scheme == "s3":
            from urllib.parse import urlparse

            kwargs: dict[str, object] = {"region": self.region()}
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
        filesystem, path = fs.FileSystem.from_uri(self.uri)
        return filesystem, path

    def describe(self) -> str:
        """For messages: the URI, and the endpoint of an S3-compatible server (without a
        password)."""
        endpoint = self.endpoint()
        if endpoint:
            return f"{self.uri} (endpoint {re.sub(r'//[^/@]*@', '//', endpoint)})"
        return self.uri
