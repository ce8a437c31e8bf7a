"""Files in S3 or an S3-compatible store (MinIO, Ceph, moto) for the `files` / `s3` connectors,
through ``pyarrow.fs.S3FileSystem`` (DuckDB's httpfs extension is not assumed to be installable):
listing a glob of keys, the checksum of an object (its ETag and size, from a HEAD request) and its
download to a temporary file, which is then read like a local file. Errors name the bucket, the
endpoint and what to check; credentials come from environment variables and are masked.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError
from headwater.extract.base import ConnectorError, TransientConnectorError
from headwater.extract.files.checksums import etag_checksum
from headwater.extract.files.listing import ListedFile, glob_regex, has_magic
from headwater.extract.files.reading import CHUNK

if TYPE_CHECKING:
    from pyarrow import fs


class S3Store:
    """The bucket a source's ``s3://bucket/prefix/*.csv`` path names, as its config reaches it."""

    def __init__(
        self, name: str, path: str, config: Mapping[str, Any], env: Mapping[str, str]
    ) -> None:
        self.name = name
        self.path = path
        self.config = config
        self.env = env
        self._fs: fs.S3FileSystem | None = None

    def bucket_and_pattern(self) -> tuple[str, str]:
        """The bucket and the glob of keys in it."""
        rest = self.path[len("s3://") :]
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise ConfigError(
                f"source `{self.name}`: `{self.path}` names no bucket", node=self.name
            )
        return bucket, key

    def endpoint(self) -> str | None:
        """`endpoint_url`, or the environment's (None: AWS S3)."""
        return (
            self.config.get("endpoint_url")
            or self.env.get("AWS_ENDPOINT_URL_S3")
            or self.env.get("AWS_ENDPOINT_URL")
        )

    def endpoint_text(self) -> str:
        """Where the files are, for messages (never a password in the endpoint)."""
        ep = self.endpoint()
        ep = re.sub(r"//[^/@]*@", "//", ep) if ep else ep  # never show user:password@
        return f"endpoint `{ep}`" if ep else f"AWS S3 (region `{self.region()}`)"

    def region(self) -> str:
        return str(
            self.config.get("region")
            or self.env.get("AWS_REGION")
            or self.env.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )

    def credentials(self) -> dict[str, str]:
        """The access key, secret and token from the environment variables the config names (the
        AWS ones by default); empty: pyarrow's default chain."""
        key_var = self.config.get("access_key_id_env") or "AWS_ACCESS_KEY_ID"
        secret_var = self.config.get("secret_access_key_env") or "AWS_SECRET_ACCESS_KEY"
        token_var = self.config.get("session_token_env") or "AWS_SESSION_TOKEN"
        explicit = "access_key_id_env" in self.config or "secret_access_key_env" in self.config
        key, secret = self.env.get(str(key_var)), self.env.get(str(secret_var))
        if explicit and (key is None or secret is None):
            missing = str(key_var) if key is None else str(secret_var)
            raise ConfigError(
                f"source `{self.name}` reads S3 credentials from the environment variable `{missing}`, which is not set",
                node=self.name,
                hint=f"export {missing}=...",
            )
        if key is None or secret is None:
            return {}
        from headwater import secrets

        secrets.register(secret)
        out = {"access_key": key, "secret_key": secret}
        token = self.env.get(str(token_var))
        secrets.register(token)
        if token:
            out["session_token"] = token
        return out

    def credential_names(self) -> str:
        """The environment variables of the credentials, for hints."""
        return "`{}` / `{}`".format(
            self.config.get("access_key_id_env") or "AWS_ACCESS_KEY_ID",
            self.config.get("secret_access_key_env") or "AWS_SECRET_ACCESS_KEY",
        )

    def filesystem(self) -> fs.S3FileSystem:
        """pyarrow's S3 filesystem for the endpoint, region and credentials (made once)."""
        if self._fs is not None:
            return self._fs
        from urllib.parse import urlparse

        from pyarrow import fs

        kwargs: dict[str, Any] = {
            "region": self.region(),
            "connect_timeout": 10,
            "request_timeout": 60,
        }
        ep = self.endpoint()
        if ep:
            parsed = urlparse(ep if "://" in ep else "https://" + ep)
            kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
            kwargs["scheme"] = parsed.scheme or "https"
        if self.config.get("anonymous"):
            kwargs["anonymous"] = True
        else:
            kwargs.update(self.credentials())
        attempts = int(self.config.get("max_attempts") or 3)
        kwargs["retry_strategy"] = fs.AwsStandardS3RetryStrategy(max_attempts=attempts)
        try:
            self._fs = fs.S3FileSystem(**kwargs)
        except Exception as exc:
            raise ConnectorError(
                f"source `{self.name}`: cannot set up S3 access to {self.endpoint_text()}: {exc}",
                node=self.name,
            ) from None
        return self._fs

    def error(self, exc: BaseException, bucket: str, what: str) -> ConnectorError:
        """The error of an S3 call while doing ``what``: missing bucket, unreachable endpoint
        (transient), denied access, or the store's own message."""
        text = str(exc)
        upper = text.upper()
        where = self.endpoint_text()
        if "NO_SUCH_BUCKET" in upper or "NOSUCHBUCKET" in upper:
            return ConnectorError(
                f"source `{self.name}`: the bucket `{bucket}` does not exist on {where}",
                node=self.name,
                hint="check the bucket in `path`, and `endpoint_url` / `region`",
            )
        if any(
            s in upper
            for s in (
                "NETWORK_CONNECTION",
                "CURLCODE",
                "COULD NOT CONNECT",
                "COULDN'T CONNECT",
                "TIMED OUT",
            )
        ):
            return TransientConnectorError(
                f"source `{self.name}`: cannot reach {where} while {what} (bucket `{bucket}`)",
                node=self.name,
                hint="check `endpoint_url` (or AWS_ENDPOINT_URL), that the server is running and the network",
            )
        if any(s in upper for s in ("ACCESS_DENIED", "ACCESSDENIED", "INVALIDACCESSKEYID", "INVALID_ACCESS_KEY_ID",
                                    "SIGNATURE", "FORBIDDEN", "HTTP RESPONSE CODE: 403", "EXPIREDTOKEN")):  # fmt: skip
            return ConnectorError(
                f"source `{self.name}`: access to the bucket `{bucket}` on {where} was denied while {what}",
                node=self.name,
                hint=f"check the credentials in {self.credential_names()} and their permissions on the bucket",
            )
        detail = re.sub(r"\s*\(Request ID: [^)]*\)", "", text).strip()
        return ConnectorError(
            f"source `{self.name}`: S3 error on {where} (bucket `{bucket}`) while {what}: {detail}",
            node=self.name,
        )

    def list_files(self) -> list[ListedFile]:
        """The objects the glob matches, sorted; a bucket that does not exist is an error."""
        from pyarrow import fs

        bucket, pattern = self.bucket_and_pattern()
        s3 = self.filesystem()
        if not has_magic(pattern):
            try:
                info = s3.get_file_info(f"{bucket}/{pattern}".rstrip("/"))
            except OSError as exc:
                raise self.error(exc, bucket, "looking up the path") from None
            if info.type == fs.FileType.File:
                return [
                    ListedFile(key=f"s3://{bucket}/{pattern}", location=info.path, size=info.size)
                ]
            pattern = pattern.rstrip("/") + "/**" if pattern else "**"
        parts = pattern.split("/")
        fixed = []
        for part in parts[:-1]:
            if has_magic(part):
                break
            fixed.append(part)
        prefix = "/".join(fixed)
        regex = glob_regex(pattern)
        try:
            infos = s3.get_file_info(
                fs.FileSelector(
                    f"{bucket}/{prefix}".rstrip("/"), recursive=True, allow_not_found=True
                )
            )
        except FileNotFoundError:
            infos = []
        except OSError as exc:
            raise self.error(exc, bucket, "listing the files") from None
        out = []
        for info in infos:
            if info.type != fs.FileType.File:
                continue
            key = info.path[len(bucket) + 1 :]
            if regex.match(key):
                out.append(
                    ListedFile(key=f"s3://{bucket}/{key}", location=info.path, size=info.size)
                )
        if not out:  # a bucket that does not exist must not pass for an empty listing
            try:
                exists = s3.get_file_info(bucket).type != fs.FileType.NotFound
            except OSError as exc:
                raise self.error(exc, bucket, "looking up the bucket") from None
            if not exists:
                raise self.error(OSError("NO_SUCH_BUCKET"), bucket, "looking up the bucket")
        return sorted(out, key=lambda f: f.key)

    def checksum(self, f: ListedFile) -> str | None:
        """``etag:<ETag>:<size>`` from a HEAD request (None if the server gives no ETag)."""
        bucket = f.location.split("/", 1)[0]
        try:
            with self.filesystem().open_input_file(f.location) as fh:
                return etag_checksum(fh.metadata(), fh.size())
        except OSError as exc:
            raise self.error(exc, bucket, f"reading `{f.key}`") from None

    def download(self, f: ListedFile, tmp: str) -> tuple[str, str]:
        """Copy an object into ``tmp``; returns (local path, checksum): the ETag and size of the
        object as it was opened for this download (an object replaced between the listing and
        the download is recorded with the ETag of the bytes read), else the sha256 of the bytes."""
        bucket = f.location.split("/", 1)[0]
        folder = tempfile.mkdtemp(dir=tmp)
        local = os.path.join(folder, Path(f.location).name)
        digest = hashlib.sha256()
        try:
            with (
                self.filesystem().open_input_stream(f.location, compression=None) as src,
                open(local, "wb") as dst,
            ):
                meta = src.metadata()
                while True:
                    chunk = src.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    dst.write(chunk)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise ConnectorError(
                    f"source `{self.name}`: `{f.key}` disappeared before it was read",
                    node=self.name,
                ) from None
            raise self.error(exc, bucket, f"reading `{f.key}`") from None
        size = os.path.getsize(local)
        return local, etag_checksum(meta, size) or "sha256:" + digest.hexdigest()
