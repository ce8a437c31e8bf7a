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
carries one `Rejected` naming the file.

Modules: `connector` (`FilesConnector`, `S3Connector`), `config` (the keys' checks, the format
of a file, the readers' options), `listing` (globs), `s3` (buckets), `checksums`, `reading` (what
the readers share), `csv` (the warehouse's own scan), `json`, `parquet` and `column_types`.
"""

from __future__ import annotations

from headwater.extract.files.connector import FilesConnector, S3Connector
from headwater.extract.files.listing import glob_regex as _glob_regex

__all__ = ["FilesConnector", "S3Connector", "_glob_regex"]
