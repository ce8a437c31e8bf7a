"""`connector: files` and `connector: s3`: every file a source's glob matches, as batches, each file
once (exactly-once by checksum). The keys and the behaviour are documented in
`headwater.extract.files`; listing is `listing` and `s3`, checksums `checksums`, the readers
`csv` (a scan the warehouse runs itself), `json` and `parquet`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from headwater.errors import ConfigError
from headwater.extract.base import (
    Batch,
    Connector,
    ConnectorError,
    ExtractState,
    Rejected,
    read_scan,
    register,
)
from headwater.extract.clip import clip_message
from headwater.extract.files.checksums import CHECKSUM, algorithm_of, checksum_local
from headwater.extract.files.config import (
    DUCKDB_ENCODINGS,
    ReadOptions,
    check_config,
    format_of,
)
from headwater.extract.files.csv import CsvScan, csv_args
from headwater.extract.files.json import read_json
from headwater.extract.files.listing import ListedFile, list_local
from headwater.extract.files.parquet import (
    check_footer,
    direct_parquet,
    parquet_scan,
    read_parquet,
)
from headwater.extract.files.reading import (
    EMPTY_JSON,
    LineOf,
    Read,
    blank_content,
    transcode,
)
from headwater.extract.files.s3 import S3Store

if TYPE_CHECKING:
    import pyarrow as pa

Checksum = str | Future[str] | None
"""A file's checksum, or the `Future` of one computed while the file is read."""


@register
class FilesConnector(Connector):
    """Local files (and s3:// paths configured by the environment)."""

    kind = "files"
    required = ("path",)
    optional: ClassVar[tuple[str, ...]] = (
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
        self.options = ReadOptions(self.config)
        self._s3: S3Store | None = None

    # -- config ------------------------------------------------------------------------------------
    def _check_config(self) -> None:
        check_config(self.name, self.config)

    @property
    def path(self) -> str:
        return str(self.config["path"])

    @property
    def is_s3(self) -> bool:
        return self.path.startswith("s3://")

    @property
    def s3(self) -> S3Store:
        """The bucket of an ``s3://`` path (its filesystem is set up on first use)."""
        if self._s3 is None:
            self._s3 = S3Store(self.name, self.path, self.config, self.env)
        return self._s3

    def _base_dir(self) -> str:
        return str(self.config.get("base_dir") or os.getcwd())

    def _format_of(self, f: ListedFile) -> str:
        return format_of(self.name, self.config, f)

    # -- listing -----------------------------------------------------------------------------------
    def list_files(self) -> list[ListedFile]:
        """The files the glob matches, sorted; a `ConnectorError` when there are none."""
        files = self.s3.list_files() if self.is_s3 else list_local(self._base_dir(), self.path)
        if not files:
            if self.is_s3:
                where = f" on {self.s3.endpoint_text()}"
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

    # -- Connector ---------------------------------------------------------------------------------
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
        self, f: ListedFile, loaded: Mapping[str, str], tmp: str, pool: ThreadPoolExecutor
    ) -> Iterator[Batch]:
        fmt = self._format_of(f)
        pending: Future[str] | None = None
        if self.is_s3:
            checksum = self.s3.checksum(f)
            if checksum is not None and loaded.get(f.key) == checksum:
                return
            local, checksum = self.s3.download(f, tmp)
            if loaded.get(f.key) == checksum:
                return
        else:
            local = f.location
            if f.key in loaded:
                checksum = self._local_checksum(f, algorithm_of(loaded[f.key]))
                if loaded[f.key] == checksum:
                    return
            else:  # never loaded: hash while reading (hashlib and DuckDB both release the GIL)
                pending = pool.submit(self._local_checksum, f)
        yield from self._file_batches(f, fmt, local, pending or checksum, tmp)
        if self.is_s3 and local != f.location:
            os.unlink(local)

    def _file_batches(
        self, f: ListedFile, fmt: str, local: str, checksum: Checksum, tmp: str
    ) -> Iterator[Batch]:
        """The batches of one file; ``checksum`` is a string or a `Future` of one."""
        empty = self._empty_file(f, local, fmt, checksum)
        if empty is not None:
            yield empty
        elif (
            isinstance(checksum, Future)
            and fmt == "parquet"
            and local.endswith(".parquet")
            and direct_parquet(self.config)
        ):
            # Parquet has no malformed rows to reject: let the warehouse read it itself (the
            # checksum is computed on a worker thread meanwhile)
            self._check_parquet(f, local)
            yield Batch(
                table=None,
                source_file=f.key,
                file_checksum=checksum,
                scan=parquet_scan(local),
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

    def _resolve(self, f: ListedFile, checksum: Checksum) -> str:
        if not isinstance(checksum, Future):
            return str(checksum)
        try:
            return checksum.result()
        except OSError as exc:
            raise self._file_error(f, exc) from None

    def _empty_file(self, f: ListedFile, local: str, fmt: str, checksum: Checksum) -> Batch | None:
        """A file with nothing in it (0 bytes, a gzip of nothing, blank lines, a JSON `[]`) is a
        batch without rows, recorded as loaded so it is not read again; an empty Parquet file is
        not Parquet at all: it is rejected, by name."""
        compression = self.options.compression_for(f)
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
            and not (fmt in ("json", "json_auto", "ndjson") and EMPTY_JSON.fullmatch(content))
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

    def _check_parquet(self, f: ListedFile, local: str) -> None:
        """Read the footer only: a truncated or non-Parquet file fails here, naming the file."""
        import pyarrow as pa

        try:
            check_footer(local)
        except OSError as exc:
            raise self._file_error(f, exc) from None
        except (pa.ArrowException, ValueError) as exc:
            raise self._read_error(f, exc) from None

    def _local_checksum(self, f: ListedFile, algorithm: str = CHECKSUM) -> str:
        try:
            return checksum_local(f.location, algorithm)
        except OSError as exc:
            raise self._file_error(f, exc) from None

    def _file_error(self, f: ListedFile, exc: BaseException) -> ConnectorError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        hint = "check that the file exists and is readable by this user"
        if isinstance(exc, PermissionError):
            hint = "check the file's permissions"
        return ConnectorError(
            f"source `{self.name}`: cannot read `{f.key}`: {reason}", node=self.name, hint=hint
        )

    def _batches(self, f: ListedFile, read: Read, checksum: str) -> Iterator[Batch]:
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
    def _read(self, f: ListedFile, local: str, fmt: str, tmp: str) -> Read:
        import pyarrow as pa

        from headwater.engines import local as local_duckdb

        try:
            if fmt in ("csv", "tsv"):
                return Read(*self._read_csv(f, local, fmt, tmp))
            if fmt in ("json", "json_auto", "ndjson"):
                return read_json(f, local, fmt, tmp, self.options)
            return read_parquet(f, local, tmp, self.options)
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

    def _read_error(self, f: ListedFile, exc: BaseException) -> ConnectorError:
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
    def _csv_scan(self, f: ListedFile, local: str, fmt: str, tmp: str) -> CsvScan:
        """The warehouse's `read_csv` of the file (see `headwater.extract.files.csv`)."""
        compression = self.options.compression_for(f)
        encoding = self.options.encoding()
        args = csv_args(self.config, fmt)
        if encoding in DUCKDB_ENCODINGS.values():
            args["encoding"] = encoding
            args["compression"] = compression
            path = local
        else:
            try:
                path = transcode(local, compression, encoding, tmp)
            except OSError as exc:
                raise self._file_error(f, exc) from None
            except (UnicodeDecodeError, EOFError, ValueError) as exc:
                raise self._read_error(f, exc) from None
            args["compression"] = "none"
        args.update(self.options.reader_options())
        return CsvScan(
            path,
            args,
            self.options.column_types(),
            f.key,
            describe_error=lambda exc: self._read_error(f, exc),
        )

    def _read_csv(
        self, f: ListedFile, local: str, fmt: str, tmp: str
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
    optional: ClassVar[tuple[str, ...]] = (
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
