"""The Connector seam: how a source's rows get out of files, object storage, databases and APIs.

A connector only *extracts*: it yields `Batch`es of Arrow rows (plus what it knows about where
they came from and the bad records it met). Loading them — write disposition, `_hw_*` metadata
columns, exactly-once bookkeeping, schema contracts, the `<source>__rejected` table — is
headwater's one loader (`headwater.extract.load`), the same for every connector.

Exactly-once is built on `ExtractState`: the loader reads it from the warehouse before a run and
commits the new state (files loaded with their checksums, the cursor) in the *same transaction*
as the rows it describes, so a crash between the two cannot duplicate or skip rows.

Adding a connector: subclass `Connector`, set ``kind``, implement ``extract`` (and ``check``),
decorate it with `@register`. Config comes from `sources.yml` (the source's `connection:` merged
with the table's `extract:`); secrets come from environment variables named in the config (keys
ending in `_env`), never from the file itself, and are never logged.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from headwater.errors import ConfigError, ExecutionError, TransientError
from headwater.extract.keys import KeyProblem, Section, key_problems

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class Rejected:
    """A record that could not be read (unparseable CSV row, invalid JSON, value that cannot be coerced)."""

    raw: str
    reason: str
    source_file: str | None = None
    line: int | None = None
    """Line number (1-based) in a text file, or the record's offset / index elsewhere."""


@dataclass
class Batch:
    """Rows extracted in one piece; the loader writes each batch's rows and state together."""

    table: pa.Table | None
    """The rows, or None when ``scan`` says how the warehouse reads them itself."""
    source_file: str | None = None
    file_checksum: Any = None
    """The file's checksum: a string, or a `concurrent.futures.Future` of one (hashed while the
    warehouse reads the file); the loader resolves it before committing the batch."""
    cursor: Any = None
    """The largest cursor value in this batch, for incremental extraction (None otherwise)."""
    rejected: list[Rejected] = field(default_factory=list)
    final: bool = True
    """False while more batches of the same file / query / page sequence follow."""
    scan: str | None = None
    """A SELECT in DuckDB's SQL that reads the rows (e.g. `read_parquet` or `read_csv` of a local
    file), used instead of ``table``: a DuckDB warehouse runs it itself, saving the round trip
    through Arrow; for another engine the loader has the local DuckDB (`headwater.engines.local`)
    read it into Arrow first (`read_scan`)."""
    keep_order: bool = False
    """Write the rows in their order even without `preserve_order` (a Parquet scan: DuckDB writes
    its row groups in order as fast, with less memory, measured)."""
    hooks: ScanHooks | None = None
    """For a ``scan`` batch: what the connector wants to learn of the scan's outcome (the bad
    records it skipped, whether it must run again, how to explain an error)."""
    line_of: Callable[[list[int]], list[int | None]] | None = None
    """For an Arrow batch: the source line (or record number) of rows of ``table`` (0-based
    positions), asked by the loader for the rows it rejects. A batch without ``scan`` and without a
    ``table`` (or one without columns) has no rows, e.g. an empty file: its rejected records and
    state are still committed."""


Query = Callable[[str], list[tuple[Any, ...]]]


class Rescan(Exception):
    """Raised by `ScanHooks.harvest`: the scan must run again as ``sql`` (what it wrote is rolled back)."""

    def __init__(self, sql: str) -> None:
        super().__init__(sql)
        self.sql = sql


class ScanHooks:
    """The outcome of a `Batch.scan`, for the connector that wrote it. The loader calls
    ``harvest`` on the warehouse connection right after the scan's rows were written, in the same
    transaction, and ``error`` when the scan failed."""

    def harvest(self, query: Query) -> list[Rejected]:
        """The records the scan skipped (e.g. from DuckDB's rejects table); raise `Rescan` to have
        the batch loaded again with another scan."""
        return []

    def error(self, exc: BaseException) -> BaseException:
        """The error to report when the scan fails (e.g. naming the file and the option to fix)."""
        return exc

    def retype(self, types: Mapping[str, str]) -> str | None:
        """A scan that reads the columns ``types`` names as those types (the table's), so the
        reader itself rejects a value that does not convert, with its line; None: cannot."""
        return None


def read_scan(
    batch: Batch, query: Query, arrow: Callable[[str], pa.Table], attempts: int = 4
) -> Batch:
    """Materialize a scan batch into ``batch.table`` (with its rejected records), outside a loader:
    for tools and tests that want the rows a connector extracts as Arrow."""
    if batch.scan is None:
        return batch
    for _ in range(attempts):
        try:
            table = arrow(batch.scan)
            rejected = batch.hooks.harvest(query) if batch.hooks is not None else []
        except Rescan as again:
            batch.scan = again.sql
            continue
        except Exception as exc:
            if batch.hooks is None:
                raise
            raise batch.hooks.error(exc) from None
        batch.table, batch.scan, batch.hooks = table, None, None
        batch.rejected = [*batch.rejected, *rejected]
        return batch
    raise ExecutionError(
        f"the scan of {batch.source_file or 'a batch'} did not settle after {attempts} attempts"
    )


def arrow_batches(batches: Iterable[Batch]) -> Iterator[Batch]:
    """The batches with every scan read into Arrow by the local in-memory DuckDB
    (`headwater.engines.local`): a connector's rows without a warehouse (tools, tests, previews)."""
    from headwater.engines import local

    try:
        for batch in batches:
            yield read_scan(batch, local.execute, local.fetch_arrow)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # a generator: its temporary files and threads go now, not at GC
            close()


@dataclass
class ExtractState:
    """What previous loads committed, as the connector sees it."""

    cursor: Any = None
    """Last committed cursor value; extract rows with cursor > this (minus the `lag`)."""
    loaded_files: dict[str, str] = field(default_factory=dict)
    """path -> checksum of every file already loaded."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Connector-specific state (e.g. an API's next-page token), committed like the cursor."""


class ConnectorError(ExecutionError):
    """Extraction failed; the message names the source and what to check."""


class TransientConnectorError(ConnectorError, TransientError):
    """A failure a retry may cure (lost connection, 429, 5xx)."""


class Connector(ABC):
    """Extracts the rows of one source table."""

    kind: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    sections: ClassVar[Mapping[str, Section]] = {}
    """The keys of nested mappings (e.g. `auth:`); with ``required`` and ``optional`` the one
    declaration of the connector's keys, checked at project load and again here."""

    def __init__(
        self,
        source: str,
        table: str,
        config: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.table = table
        self.config = dict(config)
        self.env = os.environ if env is None else env
        self._validate()

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    def _validate(self) -> None:
        problems = key_problems(type(self), [self.config])
        if problems:
            raise ConfigError(
                f"source `{self.name}`: {problems[0].message}",
                node=self.name,
                hint=problems[0].hint,
            )
        missing = [k for k in self.required if self.config.get(k) in (None, "")]
        if missing:
            raise ConfigError(
                f"source `{self.name}` ({self.kind}) needs {', '.join(f'`{m}`' for m in missing)}",
                node=self.name,
            )

    @property
    def atomic(self) -> bool:
        """True when the batches of one run only make sense together (no cursor to resume from,
        e.g. an API's pages): the loader commits them all in one transaction or none."""
        return False

    def secret(self, key: str) -> str | None:
        """The value of the environment variable named by config ``<key>_env`` (or None)."""
        var = self.config.get(f"{key}_env")
        if not var:
            return None
        value = self.env.get(str(var))
        if value is not None:
            from headwater import secrets

            secrets.register_dsn(value) if key == "dsn" else secrets.register(value)
        if value is None:
            raise ConfigError(
                f"source `{self.name}` reads `{key}` from the environment variable `{var}`, which is not set",
                node=self.name,
                hint=f"export {var}=...",
            )
        return value

    def check(self) -> None:
        """Raise `ConnectorError` if the source cannot be reached (credentials, host, path).
        The default trusts `extract` to fail clearly."""
        return None

    def hints(self) -> dict[str, Any]:
        """Loader settings the source itself knows (e.g. a dlt resource's `primary_key` and
        `write_disposition`); the table's `extract:` config wins over them."""
        return {}

    @abstractmethod
    def extract(self, state: ExtractState) -> Iterator[Batch]:
        """Yield the rows to load, in batches, given what was loaded before."""


REGISTRY: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    REGISTRY[cls.kind] = cls
    return cls


def connector_class(kind: str) -> type[Connector]:
    """The connector for ``kind`` (`files`, `s3`, `postgres`, `mysql`, `http`, `dlt`)."""
    _MODULES = {
        "files": "headwater.extract.files", "s3": "headwater.extract.files",
        "postgres": "headwater.extract.databases.postgres",
        "mysql": "headwater.extract.databases.mysql",
        "mariadb": "headwater.extract.databases.mysql",
        "http": "headwater.extract.http", "dlt": "headwater.extract.dlt_source",
    }  # fmt: skip
    if kind not in REGISTRY and kind in _MODULES:
        import importlib

        importlib.import_module(_MODULES[kind])
    if kind not in REGISTRY:
        from headwater.errors import did_you_mean

        raise ConfigError(
            f"unknown connector `{kind}`" + did_you_mean(kind, _MODULES),
            hint="connectors: " + ", ".join(sorted(_MODULES)),
        )
    return REGISTRY[kind]


def config_problems(kind: str, parts: Iterable[Mapping[str, Any]]) -> list[KeyProblem]:
    """What is wrong with the keys of a source table's config (`connection:` and `extract:`) for
    connector ``kind``; raises `ConfigError` for an unknown connector."""
    return key_problems(connector_class(kind), parts)
