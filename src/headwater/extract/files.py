"""The `files` and `s3` connectors: CSV/TSV, JSON/NDJSON and Parquet files, plain, gzip or zstd,
from a local glob or an `s3://bucket/prefix/*.csv.gz` glob.

Config (`sources.yml`, a table's `extract:` merged with its source's `connection:`)::

    path: orders/*.csv.gz          # local glob (relative to `base_dir`) or s3://bucket/prefix/*.csv
    format: csv                    # csv | tsv | json | ndjson | jsonl | parquet (default: from the extension)
    compression: auto              # auto (from the extension: .gz, .zst) | gzip | zstd | none
    delimiter: ";"                 # CSV; TSV defaults to a tab
    header: true                   # CSV: the first line names the columns (default true)
    encoding: latin-1              # decoded to UTF-8 (default utf-8)
    quote: '"'
    escape: '"'
    null_values: ["", "NA"]
    date_format: "%d/%m/%Y"        # strptime formats for DATE / TIMESTAMP values
    timestamp_format: "%d/%m/%Y %H:%M"
    column_types: {amount: DECIMAL(12,2)}   # DuckDB types; other columns are inferred
    skip_rows: 2                   # CSV: lines before the header
    options: {}                    # more arguments for DuckDB's read_csv / read_json / read_parquet
    base_dir: data/raw             # passed in by the loader (the project's `raw_data`)
    # s3 only (the `files` connector reads s3:// paths too, configured by the environment):
    endpoint_url: http://localhost:9000      # or $AWS_ENDPOINT_URL
    region: eu-west-1                        # or $AWS_REGION / $AWS_DEFAULT_REGION (default us-east-1)
    access_key_id_env: MY_KEY_ID             # names of environment variables; the default is
    secret_access_key_env: MY_SECRET         # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
    session_token_env: MY_TOKEN              # AWS_SESSION_TOKEN, then pyarrow's default chain
    anonymous: false                         # public buckets
    max_attempts: 3                          # S3 request attempts (retries with backoff)

Exactly-once input: files are listed in sorted order and each one gets a checksum —
``blake3:<hex>`` of its bytes for local files (streamed, computed while the file is read when it
was never loaded), ``etag:<ETag>:<size>`` for S3 objects (from a HEAD request: an unchanged object is
skipped without downloading it). A file whose path (`source_file`: relative to `base_dir` when under
it, else absolute; ``s3://bucket/key`` on S3) and checksum are in ``state.loaded_files`` is skipped;
every other file is yielded as one `Batch` (sliced into several, ``final=False`` except the last,
when the loader's `batch_size` is set and the file has more rows).

Reading is DuckDB's and Arrow's own (no per-row Python on the good path): CSV through DuckDB's
``read_csv(ignore_errors, store_rejects)`` (the warehouse's own scan on DuckDB, else the local
in-memory DuckDB of `headwater.engines.local`), whose rejects table gives the bad lines with their
line numbers; JSON through ``read_json``, Parquet through ``read_parquet``, all into Arrow.
S3 objects are downloaded to a temporary file through ``pyarrow.fs.S3FileSystem`` (DuckDB's
httpfs extension is not assumed to be installable) and read like local files.

Bad records become `Rejected` (raw text, reason, file, line) and the good rows of the same file are
still returned:

- CSV: a line with too many / too few columns, an unterminated quote, invalid UTF-8, or a value
  that does not cast to its `column_types` type (line = physical 1-based line in the file). A value
  that does not fit an *inferred* type (DuckDB samples the first rows) is not a bad record: the
  file is read again with types inferred from all its rows.
- NDJSON: a line that is not valid JSON or not a JSON object (line = 1-based line), and records
  with a value that does not cast to its `column_types` type (raw = the record as JSON).
- JSON arrays and Parquet: records whose `column_types` cast fails (line = 1-based record number).
  A JSON document that does not parse at all is a `ConnectorError` naming the file.

A file with nothing in it (0 bytes, a gzip of nothing, blank lines, a JSON ``[]``) is a batch
without rows, recorded as loaded like any other; an empty Parquet file is not Parquet: its batch
carries one `Rejected` naming the file. JSON, NDJSON and Parquet are read by
`headwater.extract.files_read`; CSV scans are `headwater.extract.files_csv`.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError
from headwater.extract.base import (
    Batch,
    Connector,
    ConnectorError,
    ExtractState,
    Rejected,
    TransientConnectorError,
    read_scan,
    register,
)
from headwater.extract.clip import clip_message
from headwater.extract.files_csv import CsvScan, csv_args
from headwater.extract.files_read import (
    _CHUNK,
    _EMPTY_JSON,
    ArrowReads,
    LineOf,
    Read,
    _File,
    _strip_compression,
    blank_content,
)

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("csv", "tsv", "json", "ndjson", "jsonl", "parquet")
COMPRESSIONS = ("auto", "gzip", "zstd", "none")
_EXT_FORMAT = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".ndjson": "ndjson",
    ".jsonl": "ndjson", ".parquet": "parquet", ".pq": "parquet",
}  # fmt: skip
# encodings DuckDB's CSV reader decodes itself; others are transcoded to UTF-8 first
_DUCKDB_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "latin-1": "latin-1", "latin1": "latin-1",
                     "iso-8859-1": "latin-1", "iso8859-1": "latin-1", "utf-16": "utf-16", "utf16": "utf-16"}  # fmt: skip
CHECKSUM = "blake3"
"""How local files are fingerprinted: BLAKE3 hashes 6.6 GB/s here (sha256 with SHA-NI 1.8, blake2b
1.3), which is ~4% of a 10M-row Parquet load it runs beside. Checksums recorded by earlier
versions (``sha256:``) are compared with their own algorithm."""


def _checksum_local(path: str, algorithm: str = CHECKSUM) -> str:
    with open(path, "rb") as fh:
        if algorithm == "blake3":
            from blake3 import blake3

            digest = blake3(max_threads=1)
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
        else:
            digest = hashlib.file_digest(fh, algorithm)
    return f"{algorithm}:{digest.hexdigest()}"


def _algorithm_of(checksum: str) -> str:
    algorithm = checksum.partition(":")[0]
    return algorithm if algorithm in ("blake3", "sha256") else CHECKSUM


def _etag_checksum(meta: Mapping[Any, Any], size: int) -> str | None:
    etag = meta.get("ETag") or meta.get(b"ETag")
    if not etag:
        return None
    etag = etag.decode() if isinstance(etag, bytes) else str(etag)
    return f"etag:{etag.strip(chr(34))}:{size}"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex on `/`-separated keys: `*` and `?` stay within a segment, `**` crosses them."""
    out, i, n = "", 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                if pattern.startswith("**/", i):
                    out += "(?:.*/)?"
                    i += 3
                else:
                    out += ".*"
                    i += 2
                continue
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


@register
class FilesConnector(ArrowReads, Connector):
    """Local files (and s3:// paths configured by the environment)."""

    kind = "files"
    required = ("path",)
    optional = (
        "base_dir", "format", "compression", "delimiter", "header", "encoding", "quote", "escape",
        "null_values", "date_format", "timestamp_format", "column_types", "skip_rows", "options",
    )  # fmt: skip

    def __init__(
        self,
        source: str,
        table: str,
        config: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(source, table, config, env)
        self._check_config()
        self._s3: Any = None

    # -- config ------------------------------------------------------------------------------------
    def _check_config(self) -> None:
        c = self.config
        fmt = c.get("format")
        if fmt is not None and str(fmt).lower() not in FORMATS:
            raise ConfigError(
                f"source `{self.name}`: unknown format `{fmt}`",
                node=self.name,
                hint="formats: " + ", ".join(FORMATS),
            )
        comp = c.get("compression")
        if comp is not None and str(comp).lower() not in COMPRESSIONS:
            raise ConfigError(
                f"source `{self.name}`: unknown compression `{comp}`",
                node=self.name,
                hint="compressions: " + ", ".join(COMPRESSIONS),
            )
        for key in ("column_types", "options"):
            if c.get(key) is not None and not isinstance(c[key], Mapping):
                raise ConfigError(
                    f"source `{self.name}`: `{key}` must be a mapping", node=self.name
                )
        if c.get("header") is not None and not isinstance(c["header"], bool):
            raise ConfigError(
                f"source `{self.name}`: `header` must be true or false", node=self.name
            )
        if c.get("skip_rows") is not None and (
            not isinstance(c["skip_rows"], int) or c["skip_rows"] < 0
        ):
            raise ConfigError(
                f"source `{self.name}`: `skip_rows` must be a number >= 0", node=self.name
            )
        enc = c.get("encoding")
        if enc:
            import codecs

            try:
                codecs.lookup(str(enc))
            except LookupError:
                raise ConfigError(
                    f"source `{self.name}`: unknown encoding `{enc}`", node=self.name
                ) from None

    @property
    def path(self) -> str:
        return str(self.config["path"])

    @property
    def is_s3(self) -> bool:
        return self.path.startswith("s3://")

    def _base_dir(self) -> str:
        return str(self.config.get("base_dir") or os.getcwd())

    def _format_of(self, f: _File) -> str:
        fmt = self.config.get("format")
        if fmt:
            fmt = str(fmt).lower()
            return "ndjson" if fmt == "jsonl" else fmt
        ext = Path(_strip_compression(f.location)).suffix.lower()
        guessed = _EXT_FORMAT.get(ext)
        if guessed is None:
            raise ConnectorError(
                f"source `{self.name}`: cannot tell the format of `{f.key}` from its extension",
                node=self.name,
                hint="set `format:` (" + ", ".join(FORMATS) + ")",
            )
        return "json_auto" if guessed == "json" else guessed

    # -- listing -----------------------------------------------------------------------------------
    def list_files(self) -> list[_File]:
        """The files the glob matches, sorted; a `ConnectorError` when there are none."""
        files = self._list_s3() if self.is_s3 else self._list_local()
        if not files:
            if self.is_s3:
                where = f" on {self._s3_endpoint_text()}"
            else:
                where = (
                    f" (relative to `{self._base_dir()}`)" if not os.path.isabs(self.path) else ""
                )
            raise ConnectorError(
                f"source `{self.name}`: no file matches `{self.path}`{where}",
                node=self.name,
                hint="check `path` (a glob: `*` within a folder, `**` across folders)"
                + (
                    ""
                    if self.is_s3 or os.path.isabs(self.path)
                    else " and the project's `raw_data`"
                ),
            )
        return files

    def _list_local(self) -> list[_File]:
        base = self._base_dir()
        pattern = os.path.expanduser(self.path)
        full = pattern if os.path.isabs(pattern) else os.path.join(globlib.escape(base), pattern)
        if os.path.isdir(full):
            full = os.path.join(globlib.escape(full), "**", "*")
        base_abs = os.path.abspath(base)
        out = []
        for p in globlib.glob(full, recursive=True):
            if not os.path.isfile(p):
                continue
            ap = os.path.abspath(p)
            rel = os.path.relpath(ap, base_abs)
            key = (
                Path(ap).as_posix()
                if rel.startswith("..") or os.path.isabs(rel)
                else Path(rel).as_posix()
            )
            out.append(_File(key=key, location=ap, size=os.path.getsize(ap)))
        return sorted(out, key=lambda f: f.key)

    # -- S3 ------------------------------------------------------------------------------------------
    def _s3_bucket_and_pattern(self) -> tuple[str, str]:
        rest = self.path[len("s3://") :]
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise ConfigError(
                f"source `{self.name}`: `{self.path}` names no bucket", node=self.name
            )
        return bucket, key

    def _s3_endpoint(self) -> str | None:
        return (
            self.config.get("endpoint_url")
            or self.env.get("AWS_ENDPOINT_URL_S3")
            or self.env.get("AWS_ENDPOINT_URL")
        )

    def _s3_endpoint_text(self) -> str:
        ep = self._s3_endpoint()
        ep = re.sub(r"//[^/@]*@", "//", ep) if ep else ep  # never show user:password@
        return f"endpoint `{ep}`" if ep else f"AWS S3 (region `{self._s3_region()}`)"

    def _s3_region(self) -> str:
        return str(
            self.config.get("region")
            or self.env.get("AWS_REGION")
            or self.env.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )

    def _s3_credentials(self) -> dict[str, str]:
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

    def _credential_names(self) -> str:
        return "`{}` / `{}`".format(
            self.config.get("access_key_id_env") or "AWS_ACCESS_KEY_ID",
            self.config.get("secret_access_key_env") or "AWS_SECRET_ACCESS_KEY",
        )

    def _s3fs(self) -> Any:
        if self._s3 is not None:
            return self._s3
        from urllib.parse import urlparse

        from pyarrow import fs

        kwargs: dict[str, Any] = {
            "region": self._s3_region(),
            "connect_timeout": 10,
            "request_timeout": 60,
        }
        ep = self._s3_endpoint()
        if ep:
            parsed = urlparse(ep if "://" in ep else "https://" + ep)
            kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
            kwargs["scheme"] = parsed.scheme or "https"
        if self.config.get("anonymous"):
            kwargs["anonymous"] = True
        else:
            kwargs.update(self._s3_credentials())
        attempts = int(self.config.get("max_attempts") or 3)
        kwargs["retry_strategy"] = fs.AwsStandardS3RetryStrategy(max_attempts=attempts)
        try:
            self._s3 = fs.S3FileSystem(**kwargs)
        except Exception as exc:
            raise ConnectorError(
                f"source `{self.name}`: cannot set up S3 access to {self._s3_endpoint_text()}: {exc}",
                node=self.name,
            ) from None
        return self._s3

    def _s3_error(self, exc: BaseException, bucket: str, what: str) -> ConnectorError:
        text = str(exc)
        upper = text.upper()
        where = self._s3_endpoint_text()
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
                hint=f"check the credentials in {self._credential_names()} and their permissions on the bucket",
            )
        detail = re.sub(r"\s*\(Request ID: [^)]*\)", "", text).strip()
        return ConnectorError(
            f"source `{self.name}`: S3 error on {where} (bucket `{bucket}`) while {what}: {detail}",
            node=self.name,
        )

    def _list_s3(self) -> list[_File]:
        from pyarrow import fs

        bucket, pattern = self._s3_bucket_and_pattern()
        s3 = self._s3fs()
        if not _has_magic(pattern):
            try:
                info = s3.get_file_info(f"{bucket}/{pattern}".rstrip("/"))
            except OSError as exc:
                raise self._s3_error(exc, bucket, "looking up the path") from None
            if info.type == fs.FileType.File:
                return [_File(key=f"s3://{bucket}/{pattern}", location=info.path, size=info.size)]
            pattern = pattern.rstrip("/") + "/**" if pattern else "**"
        parts = pattern.split("/")
        fixed = []
        for part in parts[:-1]:
            if _has_magic(part):
                break
            fixed.append(part)
        prefix = "/".join(fixed)
        regex = _glob_regex(pattern)
        try:
            infos = s3.get_file_info(
                fs.FileSelector(
                    f"{bucket}/{prefix}".rstrip("/"), recursive=True, allow_not_found=True
                )
            )
        except FileNotFoundError:
            infos = []
        except OSError as exc:
            raise self._s3_error(exc, bucket, "listing the files") from None
        out = []
        for info in infos:
            if info.type != fs.FileType.File:
                continue
            key = info.path[len(bucket) + 1 :]
            if regex.match(key):
                out.append(_File(key=f"s3://{bucket}/{key}", location=info.path, size=info.size))
        if not out:  # a bucket that does not exist must not pass for an empty listing
            try:
                exists = s3.get_file_info(bucket).type != fs.FileType.NotFound
            except OSError as exc:
                raise self._s3_error(exc, bucket, "looking up the bucket") from None
            if not exists:
                raise self._s3_error(OSError("NO_SUCH_BUCKET"), bucket, "looking up the bucket")
        return sorted(out, key=lambda f: f.key)

    def _s3_checksum(self, f: _File) -> str | None:
        """``etag:<ETag>:<size>`` from a HEAD request (None if the server gives no ETag)."""
        bucket = f.location.split("/", 1)[0]
        try:
            with self._s3fs().open_input_file(f.location) as fh:
                return _etag_checksum(fh.metadata(), fh.size())
        except OSError as exc:
            raise self._s3_error(exc, bucket, f"reading `{f.key}`") from None

    def _s3_download(self, f: _File, tmp: str) -> tuple[str, str]:
        """Copy an object into ``tmp``; returns (local path, checksum): the ETag and size of the
        object as it was opened for this download (an object replaced between the listing and
        the download is recorded with the ETag of the bytes read), else the sha256 of the bytes."""
        bucket = f.location.split("/", 1)[0]
        folder = tempfile.mkdtemp(dir=tmp)
        local = os.path.join(folder, Path(f.location).name)
        digest = hashlib.sha256()
        try:
            with (
                self._s3fs().open_input_stream(f.location, compression=None) as src,
                open(local, "wb") as dst,
            ):
                meta = src.metadata()
                while True:
                    chunk = src.read(_CHUNK)
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
            raise self._s3_error(exc, bucket, f"reading `{f.key}`") from None
        size = os.path.getsize(local)
        return local, _etag_checksum(meta, size) or "sha256:" + digest.hexdigest()

    # -- Connector -----------------------------------------------------------------------------------
    def check(self) -> None:
        self.list_files()

    def extract(self, state: ExtractState) -> Iterator[Batch]:
        files = self.list_files()
        loaded = state.loaded_files or {}
        with (
            tempfile.TemporaryDirectory(prefix="headwater-files-") as tmp,
            ThreadPoolExecutor(max_workers=1) as pool,
        ):
            for f in files:
                yield from self._extract_file(f, loaded, tmp, pool)

    def _extract_file(
        self, f: _File, loaded: Mapping[str, str], tmp: str, pool: ThreadPoolExecutor
    ) -> Iterator[Batch]:
        fmt = self._format_of(f)
        pending: Future[str] | None = None
        if self.is_s3:
            checksum = self._s3_checksum(f)
            if checksum is not None and loaded.get(f.key) == checksum:
                return
            local, checksum = self._s3_download(f, tmp)
            if loaded.get(f.key) == checksum:
                return
        else:
            local = f.location
            if f.key in loaded:
                checksum = self._local_checksum(f, _algorithm_of(loaded[f.key]))
                if loaded[f.key] == checksum:
                    return
            else:  # never loaded: hash while reading (hashlib and DuckDB both release the GIL)
                pending = pool.submit(self._local_checksum, f)
        yield from self._file_batches(f, fmt, local, pending or checksum, tmp)
        if self.is_s3 and local != f.location:
            os.unlink(local)

    def _file_batches(
        self, f: _File, fmt: str, local: str, checksum: Any, tmp: str
    ) -> Iterator[Batch]:
        """The batches of one file; ``checksum`` is a string or a `Future` of one."""
        empty = self._empty_file(f, local, fmt, checksum)
        if empty is not None:
            yield empty
        elif (
            isinstance(checksum, Future)
            and fmt == "parquet"
            and local.endswith(".parquet")
            and self._direct_parquet()
        ):
            # Parquet has no malformed rows to reject: let the warehouse read it itself (the
            # checksum is computed on a worker thread meanwhile)
            self._check_parquet(f, local)
            yield Batch(
                table=None,
                source_file=f.key,
                file_checksum=checksum,
                scan=_parquet_scan(local),
                keep_order=True,
            )
        elif fmt in ("csv", "tsv") and not self.config.get("batch_size"):
            # the warehouse parses the file straight into the table; bad lines come from its rejects table
            scan = self._csv_scan(f, local, fmt, tmp)
            yield Batch(
                table=None, source_file=f.key, file_checksum=checksum, scan=scan.sql(), hooks=scan
            )
        else:
            try:
                read = self._read(f, local, fmt, tmp)
            except BaseException:
                if isinstance(checksum, Future):
                    checksum.cancel()
                raise
            yield from self._batches(f, read, self._resolve(f, checksum))

    def _resolve(self, f: _File, checksum: Any) -> str:
        if not isinstance(checksum, Future):
            return str(checksum)
        try:
            return checksum.result()
        except OSError as exc:
            raise self._file_error(f, exc) from None

    def _empty_file(self, f: _File, local: str, fmt: str, checksum: Any) -> Batch | None:
        """A file with nothing in it (0 bytes, a gzip of nothing, blank lines, a JSON `[]`) is a
        batch without rows, recorded as loaded so it is not read again; an empty Parquet file is
        not Parquet at all: it is rejected, by name."""
        compression = self._compression_for(f)
        try:
            size = os.path.getsize(local)
            if size > 4096 and compression == "none":
                return None
            content = blank_content(local, compression)
        except (FileNotFoundError, PermissionError) as exc:
            raise self._file_error(f, exc) from None
        except (
            OSError,
            ValueError,
            EOFError,
        ) as exc:  # pyarrow's errors for corrupt compressed data
            raise self._read_error(f, exc) from None
        if content is None or (
            content
            and not (fmt in ("json", "json_auto", "ndjson") and _EMPTY_JSON.fullmatch(content))
        ):
            return None
        rejected = []
        if fmt == "parquet":
            what = "0 bytes" if size == 0 else "nothing once decompressed"
            rejected.append(
                Rejected(
                    raw="",
                    reason=f"`{f.key}` is empty ({what}): not a Parquet file",
                    source_file=f.key,
                )
            )
        import pyarrow as pa

        return Batch(
            table=pa.table({}), source_file=f.key, file_checksum=checksum, rejected=rejected
        )

    def _check_parquet(self, f: _File, local: str) -> None:
        """Read the footer only: a truncated or non-Parquet file fails here, naming the file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            if os.path.getsize(local) == 0:
                raise self._read_error(f, ValueError("the file is empty"))
            pq.read_metadata(local)
        except OSError as exc:
            raise self._file_error(f, exc) from None
        except (pa.ArrowException, ValueError) as exc:
            raise self._read_error(f, exc) from None

    def _direct_parquet(self) -> bool:
        """True when nothing but the plain rows is asked of a Parquet file (no casts, options or
        slicing), so the warehouse can scan it directly."""
        return not (
            self.config.get("column_types")
            or self.config.get("options")
            or self.config.get("batch_size")
        )

    def _local_checksum(self, f: _File, algorithm: str = CHECKSUM) -> str:
        try:
            return _checksum_local(f.location, algorithm)
        except OSError as exc:
            raise self._file_error(f, exc) from None

    def _file_error(self, f: _File, exc: BaseException) -> ConnectorError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        hint = "check that the file exists and is readable by this user"
        if isinstance(exc, PermissionError):
            hint = "check the file's permissions"
        return ConnectorError(
            f"source `{self.name}`: cannot read `{f.key}`: {reason}", node=self.name, hint=hint
        )

    def _batches(self, f: _File, read: Read, checksum: str) -> Iterator[Batch]:
        size = self.config.get("batch_size")
        size = (
            int(size)
            if isinstance(size, int | str) and str(size).isdigit() and int(size) > 0
            else 0
        )
        table = read.table
        if not size or table.num_rows <= size:
            yield Batch(
                table=table,
                source_file=f.key,
                file_checksum=checksum,
                rejected=read.rejected,
                line_of=read.line_of,
            )
            return
        starts = range(0, table.num_rows, size)
        for i, start in enumerate(starts):
            last = i == len(starts) - 1
            yield Batch(
                table=table.slice(start, size),
                source_file=f.key,
                file_checksum=checksum,
                rejected=read.rejected if last else [],
                final=last,
                line_of=_shifted(read.line_of, start),
            )

    # -- reading -------------------------------------------------------------------------------------
    def _read(self, f: _File, local: str, fmt: str, tmp: str) -> Read:
        import pyarrow as pa

        from headwater.engines import local as local_duckdb

        try:
            if fmt in ("csv", "tsv"):
                return Read(*self._read_csv(f, local, fmt, tmp))
            if fmt in ("json", "json_auto", "ndjson"):
                return self._read_json(f, local, fmt, tmp)
            return self._read_parquet(f, local, tmp)
        except ConnectorError:
            raise
        except OSError as exc:
            raise self._file_error(f, exc) from None
        except (
            local_duckdb.error_type(),
            pa.ArrowException,
            UnicodeDecodeError,
            EOFError,
            ValueError,
        ) as exc:
            raise self._read_error(f, exc) from None

    def _read_error(self, f: _File, exc: BaseException) -> ConnectorError:
        text = str(exc).strip()
        text = re.sub(r"\n\s*\n.*", "", text, flags=re.S)  # DuckDB's long dialect dump
        text = re.sub(r"\nLINE \d+:.*", "", text, flags=re.S)
        hint = None
        low = text.lower()
        if any(w in low for w in ("gzip", "zstd", "compress", "zlib", "inflate")) or isinstance(
            exc, EOFError
        ):
            hint = "the file is not valid compressed data: check the file, or set `compression`"
        elif "unicode" in low or "encoding" in low or isinstance(exc, UnicodeDecodeError):
            hint = "set `encoding` (e.g. latin-1)"
        elif "permission" in low:
            hint = "check the file's permissions"
        return ConnectorError(
            f"source `{self.name}`: cannot read `{f.key}`: {clip_message(text)}",
            node=self.name,
            hint=hint,
        )

    # CSV -------------------------------------------------------------------------------------------
    def _csv_scan(self, f: _File, local: str, fmt: str, tmp: str) -> CsvScan:
        """The warehouse's `read_csv` of the file (see `headwater.extract.files_csv`)."""
        compression = self._compression_for(f)
        encoding = self._encoding()
        args = csv_args(self.config, fmt)
        if encoding in _DUCKDB_ENCODINGS.values():
            args["encoding"] = encoding
            args["compression"] = compression
            path = local
        else:
            try:
                path = self._transcode(local, compression, encoding, tmp)
            except OSError as exc:
                raise self._file_error(f, exc) from None
            except (UnicodeDecodeError, EOFError, ValueError) as exc:
                raise self._read_error(f, exc) from None
            args["compression"] = "none"
        args.update(self._reader_options())
        return CsvScan(
            path,
            args,
            self._column_types(),
            f.key,
            describe_error=lambda exc: self._read_error(f, exc),
        )

    def _read_csv(
        self, f: _File, local: str, fmt: str, tmp: str
    ) -> tuple[pa.Table, list[Rejected]]:
        """The rows as Arrow, read by the local DuckDB (when the loader's `batch_size` slices them)."""
        from headwater.engines import local as local_duckdb

        scan = self._csv_scan(f, local, fmt, tmp)
        batch = read_scan(
            Batch(table=None, scan=scan.sql(), hooks=scan),
            query=local_duckdb.execute,
            arrow=local_duckdb.fetch_arrow,
        )
        assert batch.table is not None
        return batch.table, batch.rejected


@register
class S3Connector(FilesConnector):
    """Files in S3 or an S3-compatible store (MinIO, Ceph, moto), read through pyarrow's S3
    filesystem. The checksum of an object is its ETag and size."""

    kind = "s3"
    optional = (
        *FilesConnector.optional,
        "endpoint_url", "region", "access_key_id_env", "secret_access_key_env", "session_token_env",
        "anonymous", "max_attempts",
    )  # fmt: skip

    def _check_config(self) -> None:
        super()._check_config()
        if not self.path.startswith("s3://"):
            raise ConfigError(
                f"source `{self.name}` (s3): `path` must start with s3:// (got `{self.path}`)",
                node=self.name,
                hint="s3://bucket/prefix/*.csv.gz, or use the `files` connector for local files",
            )


def _shifted(line_of: LineOf | None, start: int) -> LineOf | None:
    """``line_of`` for a slice of the rows that starts at row ``start``."""
    if line_of is None:
        return None
    return lambda rows: line_of([i + start for i in rows])


def _parquet_scan(path: str) -> str:
    from headwater.engines.base import quote_literal

    return f"SELECT * FROM read_parquet({quote_literal(path)})"
