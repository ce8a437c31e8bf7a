"""Kinesis settings and the boto3 client under `headwater.streams.connectors.kinesis`: the
`source:` options validated (`_settings`), offsets and their markers, the client with its
timeouts, what an AWS error means (a configuration error, throttling, a transient failure), and
the two plain-client tools `produce` (PutRecords in bulk, for tests and benchmarks) and
`raw_consume` (plain boto3 GetRecords, the benchmark's baseline). The module doc of `kinesis`
describes the behaviour; `kinesis` re-exports the public names."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from headwater.errors import ConfigError, ExecutionError, TransientError
from headwater.streams.source import SourceConfig

EARLIEST = "@earliest"
"""The offset marker "read this shard from TRIM_HORIZON" (see the module doc)."""
OPTIONS = ("region", "endpoint_url", "poll_interval", "shard_refresh")
"""The connector-specific keys of a kinesis `source:` mapping (`region_env` arrives as `region`)."""
"""Keys every `source:` mapping may have; tolerated here in case the caller leaves them in."""
_CREDENTIAL_WORDS = ("access_key", "secret", "session_token", "credential", "profile", "password")
DEFAULT_REGION = "us-east-1"
DEFAULT_POLL_INTERVAL = 0.2
"""Seconds between two GetRecords on one shard: Kinesis allows 5 per second per shard."""
DEFAULT_SHARD_REFRESH = 10.0
CONNECT_TIMEOUT = 3.0
"""Seconds to wait for a TCP connection: an unreachable endpoint is a ConfigError within a few."""
READ_TIMEOUT = 20.0
MAX_GET_RECORDS = 10_000
"""The largest ``Limit`` GetRecords takes."""
PUT_RECORDS_MAX = 500
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024
LATEST_RENEW_MARGIN = 30.0
"""Seconds before the last successful GetRecords that an expired LATEST iterator resumes at."""
_ORDER_WIDTH = 40
_MAX_BACKOFF = 5.0
GIVE_UP_AFTER = 30.0
"""Seconds a shard may keep failing with a transient error (connection lost, 5xx) before `poll`
raises `KinesisUnavailable`; throttling only slows reading down and never gives up."""
_THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
        "RequestLimitExceeded",
    }
)
_TRANSIENT = _THROTTLED | {
    "InternalFailure",
    "InternalFailureException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ResourceInUseException",
    "RequestTimeout",
}
_CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AccessDeniedException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "KMSAccessDeniedException",
    }
)


class KinesisUnavailable(ExecutionError, TransientError):
    """Kinesis stopped answering, or kept throttling, after the client's own retries: the caller
    may retry the micro-batch; nothing is lost (positions live in the warehouse)."""


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    """A kinesis `source:` mapping, checked: shared by the source, `produce` and `raw_consume`."""

    stream: str
    topic: str
    location: str
    region: str
    endpoint_url: str | None
    poll_interval: float
    shard_refresh: float
    start: str
    """``earliest``, ``latest`` or ``time`` (then `start_at`)."""
    start_at: datetime | None

    @property
    def stream_args(self) -> dict[str, str]:
        """How the API names the stream: by ARN when ``topic:`` is one, else by name."""
        if self.topic.startswith("arn:"):
            return {"StreamARN": self.topic}
        return {"StreamName": self.topic}

    @property
    def where(self) -> str:
        """The endpoint, for messages (the URL's userinfo, if any, is masked by the errors)."""
        return self.endpoint_url or f"the AWS endpoint of region {self.region}"


def _config_error(config: SourceConfig, what: str, hint: str) -> ConfigError:
    where = f" ({config.location})" if config.location else ""
    return ConfigError(f"stream `{config.stream}`: kinesis {what}", hint=hint + where)


def _settings(config: SourceConfig) -> _Settings:
    """Check the mapping: unknown keys, credentials in the file, durations, ``start:``."""
    for key in config.options:
        lowered = key.lower()
        if any(word in lowered for word in _CREDENTIAL_WORDS):
            raise _config_error(
                config,
                f"source key `{key}`: credentials are not read from the stream file",
                "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or use an "
                "instance/task role): boto3's default chain finds them",
            )
    config.check_keys(OPTIONS)
    if not config.topic:
        raise _config_error(config, "`topic` (the stream name) is empty", "set `topic: <stream>`")
    region = (
        config.get("region")
        or os.environ.get("AWS_DEFAULT_REGION")
        or os.environ.get("AWS_REGION")
        or DEFAULT_REGION
    )
    endpoint = config.get("endpoint_url")
    if endpoint is not None:
        endpoint = str(endpoint)
        if not endpoint.startswith(("http://", "https://")):
            raise _config_error(
                config,
                f"`endpoint_url` is not an http(s) URL: {endpoint}",
                "e.g. `endpoint_url: http://127.0.0.1:4566`",
            )
    raw_start: object = config.start or "latest"
    start_at: datetime | None = None
    if isinstance(raw_start, str) and raw_start.strip().lower() in ("earliest", "latest"):
        start = raw_start.strip().lower()
    else:
        try:
            start_at = _parse_time(raw_start)
        except ValueError:
            raise _config_error(
                config,
                f"`start: {config.start}` is neither earliest, latest nor a timestamp",
                "write `start: earliest`, `start: latest` or `start: 2024-05-01T12:00:00Z`",
            ) from None
        start = "time"
    return _Settings(
        stream=config.stream,
        topic=config.topic,
        location=config.location,
        region=str(region),
        endpoint_url=endpoint,
        poll_interval=_duration(config, "poll_interval", DEFAULT_POLL_INTERVAL),
        shard_refresh=_duration(config, "shard_refresh", DEFAULT_SHARD_REFRESH),
        start=start,
        start_at=start_at,
    )


def _duration(config: SourceConfig, key: str, default: float) -> float:
    from headwater.durations import DurationError, parse_duration

    value = config.get(key, default)
    try:
        return parse_duration(value, key=key, file=config.location or None)
    except DurationError as exc:
        raise ConfigError(f"stream `{config.stream}`: {exc}", hint=exc.hint) from None


def _parse_time(value: object) -> datetime:
    """An aware UTC datetime from a datetime or ISO-8601 text (naive = UTC); ValueError else."""
    from headwater.durations import as_utc

    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    return as_utc(datetime.fromisoformat(value.strip()))


def _marker(at: datetime) -> str:
    """The ``@<time>`` offset marker of a time."""
    return "@" + at.astimezone(UTC).isoformat()


def _is_seq(offset: str | None) -> bool:
    return offset is not None and offset.isdigit()


def _checked_offset(settings: _Settings, shard: str, offset: object) -> str | None:
    """A committed offset as `open` / `seek` receive it: None, a sequence number or a marker."""
    if offset is None:
        return None
    text = str(offset)
    if text.isdigit() or text == EARLIEST:
        return text
    if text.startswith("@"):
        try:
            _parse_time(text[1:])
            return text
        except ValueError:
            pass
    raise ConfigError(
        f"stream `{settings.stream}`: the committed offset `{text}` of shard `{shard}` is not a "
        "Kinesis sequence number",
        hint=f"run `headwater stream reset {settings.stream} --to earliest` (or latest)",
    )


# -- the client ------------------------------------------------------------------------------


def _raw_timestamp(value: Any) -> Any:
    """Keep timestamps as the wire sends them (epoch seconds): parsing one datetime per record
    would cost more than the rest of `poll`."""
    return value


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return _parse_time(str(value)).timestamp()
        except ValueError:
            return None


_LOADER: Any = None
"""botocore's data loader, shared by the clients of this module (it caches the service models)."""


def _make_client(settings: _Settings, pool: int = 10) -> Any:
    """A boto3 Kinesis client with bounded timeouts, raw timestamps and no retries of its own:
    a first contact fails within ``CONNECT_TIMEOUT`` (botocore's backoff would add seconds), and
    `poll` retries per shard with its own backoff. Credentials: boto3's default chain only."""
    import boto3
    import botocore.session
    from botocore.config import Config

    session = botocore.session.Session()
    # a fresh session per client (credentials are resolved per session, from the environment of
    # now), sharing the loader that caches the parsed service models (most of a client's cost)
    global _LOADER
    if _LOADER is None:
        _LOADER = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _LOADER)
    session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=_raw_timestamp
    )
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max(pool, 10),
    )
    return boto3.session.Session(botocore_session=session, region_name=settings.region).client(
        "kinesis", endpoint_url=settings.endpoint_url, config=config
    )


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _is_transient(exc: BaseException) -> bool:
    """A lost connection or a server-side failure: a later call may succeed."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    return isinstance(exc, ConnectionError | HTTPClientError) or _error_code(exc) in _TRANSIENT


def _raise(settings: _Settings, exc: BaseException, doing: str, first: bool = False) -> NoReturn:
    """Turn a botocore error into headwater's: what the user can fix is a ConfigError. ``first``:
    the first contact (an unreachable endpoint is then a configuration error, not an outage)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    stream = f"stream `{settings.stream}`"
    loc = f" ({settings.location})" if settings.location else ""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        raise ConfigError(
            f"{stream}: no AWS credentials for Kinesis ({doing}): {exc}",
            hint="export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run with "
            "an instance/task role)",
        ) from None
    if isinstance(exc, NoRegionError):
        raise ConfigError(
            f"{stream}: no AWS region for Kinesis", hint=f"set `region:` or AWS_DEFAULT_REGION{loc}"
        ) from None
    if isinstance(exc, ConnectionError):
        if first:
            raise ConfigError(
                f"{stream}: cannot reach Kinesis at {settings.where} ({doing}): {exc}",
                hint=f"check `endpoint_url:` / `region:` and the network{loc}",
            ) from None
        raise KinesisUnavailable(
            f"{stream}: lost the connection to Kinesis at {settings.where} ({doing}): {exc}",
            hint="the stream retries; check that the endpoint is up",
        ) from exc
    if isinstance(exc, ClientError):
        code = _error_code(exc) or ""
        if code == "ResourceNotFoundException":
            raise ConfigError(
                f"{stream}: the Kinesis stream `{settings.topic}` does not exist in region "
                f"{settings.region} at {settings.where} ({doing})",
                hint=f"create it (aws kinesis create-stream --stream-name {settings.topic} "
                f"--shard-count 1) or fix `topic:` / `region:`{loc}",
            ) from None
        if code in _CREDENTIAL_ERRORS:
            raise ConfigError(
                f"{stream}: Kinesis at {settings.where} refused the credentials ({doing}): {code}",
                hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or "
                "AWS_PROFILE) and the IAM policy (kinesis:ListShards, GetShardIterator, "
                "GetRecords)",
            ) from None
        if code in _TRANSIENT:
            raise KinesisUnavailable(
                f"{stream}: Kinesis at {settings.where} failed to {doing}: {code}",
                hint="the stream retries; if it persists, add shards or raise `poll_interval`",
            ) from exc
        raise ExecutionError(f"{stream}: Kinesis failed to {doing}: {exc}") from exc
    if isinstance(exc, BotoCoreError):
        raise KinesisUnavailable(
            f"{stream}: Kinesis at {settings.where} failed to {doing}: {exc}",
            hint="the stream retries",
        ) from exc
    raise exc


@dataclass(frozen=True, slots=True)
class _ShardInfo:
    id: str
    parents: tuple[str, ...]
    ending: str | None
    """``EndingSequenceNumber``: set once the shard is closed (split or merged)."""


def _list_shards(client: Any, settings: _Settings) -> list[_ShardInfo]:
    """Every shard of the stream that is within retention (ListShards, all pages)."""
    kwargs: dict[str, Any] = dict(settings.stream_args)
    shards: list[_ShardInfo] = []
    while True:
        response = client.list_shards(**kwargs)
        for shard in response.get("Shards", []):
            parents = tuple(
                p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p
            )
            ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
            shards.append(_ShardInfo(shard["ShardId"], parents, ending))
        token = response.get("NextToken")
        if not token:
            return sorted(shards, key=lambda s: s.id)
        kwargs = {"NextToken": token}


def _connect(settings: _Settings, pool: int = 10) -> tuple[Any, list[_ShardInfo]]:
    """A client and the stream's shards, or a ConfigError naming the endpoint (first contact)."""
    client = _make_client(settings, pool)
    try:
        return client, _list_shards(client, settings)
    except Exception as exc:
        client.close()
        _raise(settings, exc, "list the shards", first=True)


# -- producing and the raw baseline ----------------------------------------------------------


def produce(config: SourceConfig, values: list[bytes]) -> None:
    """PutRecords in chunks of at most 500 records and 5 MiB; records Kinesis rejects (throttled
    shards) are sent again with a backoff. Partition keys are the values' indexes, which spreads
    them over the shards."""
    settings = _settings(config)
    client = _make_client(settings)
    try:
        chunk: list[dict[str, Any]] = []
        size = 0
        for i, value in enumerate(values):
            key = str(i)
            record_size = len(value) + len(key)
            if chunk and (
                len(chunk) == PUT_RECORDS_MAX or size + record_size > PUT_RECORDS_MAX_BYTES
            ):
                _put_records(client, settings, chunk)
                chunk, size = [], 0
            chunk.append({"Data": value, "PartitionKey": key})
            size += record_size
        if chunk:
            _put_records(client, settings, chunk)
    except (ConfigError, ExecutionError):
        raise
    except Exception as exc:
        _raise(settings, exc, "put records", first=True)
    finally:
        client.close()


def _put_records(client: Any, settings: _Settings, records: list[dict[str, Any]]) -> None:
    pending = records
    for attempt in range(10):
        response = client.put_records(Records=pending, **settings.stream_args)
        if not response.get("FailedRecordCount"):
            return
        pending = [
            record
            for record, result in zip(pending, response["Records"], strict=True)
            if result.get("ErrorCode")
        ]
        time.sleep(min(0.05 * 2**attempt, 2.0))
    raise KinesisUnavailable(
        f"stream `{settings.stream}`: Kinesis kept rejecting {len(pending)} records (throttled)",
        hint="add shards to the stream, or produce more slowly",
    )


def raw_consume(config: SourceConfig, n: int, timeout: float) -> int:
    """Read up to ``n`` records with plain boto3, no headwater in between: the benchmark's
    baseline. Every shard listed at the start, from ``start:`` (TRIM_HORIZON, LATEST or
    AT_TIMESTAMP), one GetRecords per shard in turn at most every ``poll_interval`` (the 5
    calls/s limit), nothing to acknowledge. Returns how many were read before ``timeout``."""
    import boto3

    settings = _settings(config)
    probe, infos = _connect(settings)  # the same reachability check as the source
    probe.close()
    client = boto3.client(
        "kinesis", region_name=settings.region, endpoint_url=settings.endpoint_url
    )
    start: dict[str, Any] = {"ShardIteratorType": "LATEST"}
    if settings.start == "earliest":
        start = {"ShardIteratorType": "TRIM_HORIZON"}
    elif settings.start_at is not None:
        start = {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": settings.start_at}
    read = 0
    deadline = time.monotonic() + timeout
    try:
        iterators: dict[str, str | None] = {
            info.id: client.get_shard_iterator(**settings.stream_args, ShardId=info.id, **start)[
                "ShardIterator"
            ]
            for info in infos
        }
        next_call = dict.fromkeys(iterators, 0.0)
        while read < n and time.monotonic() < deadline:
            for shard_id, iterator in iterators.items():
                if iterator is None or read >= n or next_call[shard_id] > time.monotonic():
                    continue
                response = client.get_records(
                    ShardIterator=iterator, Limit=min(MAX_GET_RECORDS, n - read)
                )
                next_call[shard_id] = time.monotonic() + settings.poll_interval
                read += len(response["Records"])
                iterators[shard_id] = response.get("NextShardIterator")
            live = [next_call[s] for s, it in iterators.items() if it is not None]
            if not live:
                break
            pause = min(min(live), deadline) - time.monotonic()
            if pause > 0 and read < n:
                time.sleep(pause)
    finally:
        client.close()
    return read
