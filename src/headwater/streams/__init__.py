"""Streams: events from a broker, validated, windowed and landed in the warehouse exactly once.

`streams/*.yml` declares them (`headwater.streams.spec`); each is a node of the graph whose
relation is its sink table (and one node per window), so batch models `ref()` them.
`headwater stream run NAME` consumes (`headwater.streams.processor`): micro-batches from a broker
(`headwater.streams.source`, one module per broker in `headwater.streams.connectors`), decoded
(`headwater.streams.decode`), committed with their broker positions in one warehouse
transaction (`headwater.streams.sink`), windows by event time (`headwater.streams.windows`),
measured into the state store (`headwater.streams.monitor`).
"""
