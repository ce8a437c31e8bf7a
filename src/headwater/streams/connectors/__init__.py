"""Stream sources, one module per broker (`headwater.streams.source.StreamSource`).

Each is imported when a stream uses it, so a project without streams needs none of the broker
clients (extras: `headwater[kafka]`, `[redis]`, `[nats]`, `[amqp]`, `[mqtt]`, `[kinesis]`).
"""

from __future__ import annotations

import importlib

from headwater.errors import ConfigError, did_you_mean
from headwater.streams.source import SourceConfig, StreamSource

CONNECTORS = {
    "kafka": ("headwater.streams.connectors.kafka:KafkaSource", "confluent-kafka", "kafka"),
    "redis": ("headwater.streams.connectors.redis:RedisSource", "redis", "redis"),
    "nats": ("headwater.streams.connectors.nats:NatsSource", "nats-py", "nats"),
    "amqp": ("headwater.streams.connectors.amqp:AmqpSource", "pika", "amqp"),
    "mqtt": ("headwater.streams.connectors.mqtt:MqttSource", "paho-mqtt", "mqtt"),
    "kinesis": ("headwater.streams.connectors.kinesis:KinesisSource", "boto3", "kinesis"),
}
"""connector name -> (class path, the PyPI package it needs, the headwater extra providing it)."""


def open_source(config: SourceConfig) -> StreamSource:
    """The source for ``config`` (not yet opened)."""
    if config.connector not in CONNECTORS:
        raise ConfigError(
            f"stream `{config.stream}`: unknown connector `{config.connector}`"
            + did_you_mean(config.connector, CONNECTORS),
            hint="use one of " + ", ".join(CONNECTORS) + f" ({config.location})",
        )
    path = CONNECTORS[config.connector][0]
    module_name, cls_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"headwater.streams.connectors.{config.connector}"):
            raise
        raise missing_client(config) from None
    source: StreamSource = getattr(module, cls_name)(config)
    return source


def missing_client(config: SourceConfig) -> ConfigError:
    """The error for a connector whose broker client is not installed, naming the extra (for
    the connectors whose module imports without its client, checked when a source is made)."""
    _, package, extra = CONNECTORS[config.connector]
    return ConfigError(
        f"stream `{config.stream}`: the {config.connector} connector needs `{package}`",
        hint=f"pip install 'headwater[{extra}]'",
    )
