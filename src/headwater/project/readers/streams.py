"""Stream nodes: the entries of `streams/*.yml`. Each stream is one node (its relation is the sink
table) and each of its windows another (its relation is the window's table, its parent the
stream), so batch models `ref()` both and `ls`, lineage and checks see them.

What an entry means is the stream layer's (`headwater.streams.spec.parse_stream`), which the
caller gives the reader as ``parse_stream``; the node keeps the entry as plain data in
``config["stream"]``, so a cached manifest needs no parsing to run it.
"""

from __future__ import annotations

import re
from typing import Any

from headwater.errors import ConfigError, Location
from headwater.project.definition import Node
from headwater.project.readers.base import Reader
from headwater.project.validate import as_list, expect_type, loc_of
from headwater.project.yaml import load_yaml

_SCHEMA_FLOW = re.compile(r"(?<![\w-])schema:[ \t]*\{")
_QUOTES = "\"'"


def quote_sized_types(text: str) -> str:
    """Quote the SQL types written bare in a `schema:` flow mapping, so that the issue's
    `schema: {amount: DECIMAL(10,2), ts: TIMESTAMP}` reads as one type, not as `DECIMAL(10` and a
    key `2)`, and `STRUCT(a INTEGER, b VARCHAR)`, `MAP(VARCHAR, INTEGER)` or `DECIMAL(10,2)[]`
    survive YAML's flow syntax too. Only the values of those mappings change (a `transform:`
    elsewhere keeps its `DECIMAL(12,2)`); each gains two quote characters on its own line, so
    lines and the columns before each value are unchanged."""
    out: list[str] = []
    pos = 0
    for m in _SCHEMA_FLOW.finditer(text):
        if m.start() < pos:
            continue  # inside the mapping just rewritten
        out.append(text[pos : m.end()])
        end, body = _quote_flow_values(text, m.end())
        out.append(body)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _skip_quoted(text: str, i: int) -> int:
    """The index after the quoted scalar starting at ``i`` (YAML doubles a single quote and
    escapes a double one)."""
    quote = text[i]
    j = i + 1
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if quote == "'" and text[j + 1 : j + 2] == "'":
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _quote_flow_values(text: str, i: int) -> tuple[int, str]:
    """From just inside a flow mapping's ``{`` to its ``}`` (exclusive): the mapping's text with
    every bare value that holds parentheses or brackets in double quotes."""
    out: list[str] = []
    n = len(text)
    while i < n:
        j = i  # the key, up to its `:`
        while j < n and text[j] not in ":}":
            j = _skip_quoted(text, j) if text[j] in _QUOTES else j + 1
        if j >= n or text[j] == "}":
            out.append(text[i:j])
            return j, "".join(out)
        out.append(text[i : j + 1])
        i = j = j + 1
        depth = 0  # the value, up to a `,` or `}` outside its parentheses and brackets
        while j < n:
            c = text[j]
            if c in _QUOTES and not text[i:j].strip():
                j = _skip_quoted(text, j)
                continue
            if c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
            elif c in ",}" and depth <= 0:
                break
            j += 1
        value = text[i:j]
        core = value.strip()
        if (
            core
            and core[0] not in _QUOTES + "{[#"
            and '"' not in core
            and any(c in core for c in "([")
        ):
            lead = value[: len(value) - len(value.lstrip())]
            value = f'{lead}"{core}"{value[len(lead) + len(core) :]}'
        out.append(value)
        i = j
        if j < n and text[j] == ",":
            out.append(",")
            i = j + 1
    return n, "".join(out)


def plain(value: Any) -> Any:
    """YAML values without their location wrappers (so the manifest cache pickles plain data)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class StreamReader(Reader):
    """Adds the streams of a package, and their windows."""

    def read(self) -> None:
        parse = self.scope.parse_stream
        for path in self.scope.glob(self.config.stream_paths, (".yml", ".yaml")):
            text = self.scope.read_text(path)
            rel = self.scope.rel(path)
            data = self.scope.guard(lambda t=text, r=rel: load_yaml(quote_sized_types(t), r))  # type: ignore[misc]
            if not data:
                continue
            if not isinstance(data, dict) or "streams" not in data:
                self.project.problems.append(
                    ConfigError(
                        "a stream file needs a top-level `streams:` list",
                        location=Location(rel, 1),
                        hint="streams:\n  - name: orders_live\n    source: {connector: kafka, topic: orders}",
                    )
                )
                continue
            if parse is None:
                raise ConfigError(
                    "this project declares streams, but the reader was given no `parse_stream=`",
                    location=Location(rel),
                )
            for entry in as_list(data.get("streams")):
                self.scope.guard(lambda e=entry, r=rel: self._add(e, r))  # type: ignore[misc]

    def _add(self, entry: Any, rel: str) -> None:
        assert self.scope.parse_stream is not None
        expect_type(entry, dict, "a stream entry", entry)
        spec = self.scope.parse_stream(entry, path=rel, default_schema=self.scope.target.schema)
        location = loc_of(entry) or Location(rel)
        package = self.config.name
        uid = f"stream.{package}.{spec.name}"
        taken = {n.name for n in self.project.nodes.values() if n.resource_type != "test"}
        if uid in self.project.nodes or spec.name in taken:
            raise ConfigError(
                f"two nodes are named `{spec.name}`", location=location, hint="rename the stream"
            )
        tags = [str(t) for t in as_list(entry.get("tags"))]
        node = Node(
            unique_id=uid, name=spec.name, resource_type="stream", path=rel, line=location.line,
            package=package, fqn=[package, "streams", spec.name], description=spec.description,
            config={"materialized": "stream", "stream": plain(entry), "tags": tags,
                    "meta": plain(entry.get("meta") or {})},
            relation=spec.sink.table or spec.dlq,
        )  # fmt: skip
        self.project.nodes[uid] = node
        # a window's table may not be one of the stream's own tables (sink, DLQ, late events)
        own = {
            r.render().lower()
            for r in (spec.sink.table, spec.dlq, spec.relation_for("__late"))
            if r
        }
        for window in spec.windows:
            wid = f"{uid}.{window.name}"
            clash = spec.window_relation(window).render().lower() in own
            if (
                window.name in taken
                or window.name == spec.name
                or clash
                or wid in self.project.nodes
            ):
                raise ConfigError(
                    f"window `{window.name}` of stream `{spec.name}` has the name of another node"
                    + (" or of one of the stream's tables" if clash else ""),
                    location=location,
                    hint="rename the window",
                )
            self.project.nodes[wid] = Node(
                unique_id=wid, name=window.name, resource_type="stream", path=rel,
                line=location.line, package=package, fqn=[package, "streams", spec.name, window.name],
                config={"materialized": "stream", "window_of": uid, "tags": tags},
                relation=spec.window_relation(window), depends_on=[uid],
            )  # fmt: skip
