"""OpenLineage run events: emitted by real builds on DuckDB, delivered to a file or a local HTTP
server, and validated against the spec.

openlineage-python ships no JSON schema files (only models generated from them), so every event
is validated twice: with `jsonschema` against the spec's required structure of a RunEvent (written
out below from spec 2-0-2), and by rebuilding it from the client's generated attrs models (which
reject unknown or missing fields and check the run id and the event time) and comparing the
client's serialization with what headwater wrote.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from headwater.context import Context
from headwater.errors import ConfigError
from tests.conftest import BASE_PROJECT

SOURCES = """\
version: 2
sources:
  - name: raw
    tables:
      - name: orders
        files: {path: orders.csv, format: csv}
        columns:
          - name: id
            data_tests: [not_null]
"""

FILES = {
    "sources.yml": SOURCES,
    "data/raw/orders.csv": "id,customer_id,amount,status\n1,1,10,paid\n2,1,20,paid\n3,2,5,open\n",
    "seeds/customers.csv": "id,name\n1,Ann\n2,Bob\n",
    "models/staging/paid_orders.sql": (
        "{{ config(materialized='ephemeral') }} select * exclude (status) from {{ source('raw', 'orders') }} where status = 'paid'"
    ),
    "models/staging/stg_customers.sql": "select * from {{ ref('customers') }}",
    "models/marts/customer_totals.sql": """
        with t as (select customer_id, sum(amount) as total from {{ ref('paid_orders') }} group by customer_id)
        select c.id as customer_id, upper(c.name) as name, t.total from {{ ref('stg_customers') }} c join t on t.customer_id = c.id
    """,
    "models/marts/report.sql": "select *, total * 2 as double_total from {{ ref('customer_totals') }}",
}

FILE_CONFIG = (
    BASE_PROJECT
    + """\
observability:
  openlineage:
    transport: file
    path: lineage/events.ndjson
"""
)

# The parts of spec 2-0-2 (OpenLineage.json) a RunEvent must satisfy, facets included.
FACET = {"type": "object", "required": ["_producer", "_schemaURL"],
         "properties": {"_producer": {"type": "string", "format": "uri"}, "_schemaURL": {"type": "string", "format": "uri"}}}  # fmt: skip
FACETS = {"type": "object", "additionalProperties": FACET}
DATASET = {"type": "object", "required": ["namespace", "name"],
           "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": FACETS,
                          "inputFacets": FACETS, "outputFacets": FACETS}}  # fmt: skip
RUN_EVENT_SCHEMA = {
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {"type": "object", "required": ["runId"],
                "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": FACETS}},
        "job": {"type": "object", "required": ["namespace", "name"],
                "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": FACETS}},
        "inputs": {"type": "array", "items": DATASET},
        "outputs": {"type": "array", "items": DATASET},
    },
}  # fmt: skip


def _facet(module: Any, cls: str, data: dict[str, Any], **nested: Any) -> Any:
    fields = {k: v for k, v in data.items() if not k.startswith("_")}
    fields.update(nested)
    facet = getattr(module, cls)(producer=data["_producer"], **fields)
    assert facet._schemaURL == data["_schemaURL"], (
        cls
    )  # the facet version headwater names is the model's
    return facet


def _client_model(event: dict[str, Any]) -> Any:
    """Rebuild ``event`` from openlineage-python's generated models (strict: unknown fields and
    missing required ones raise)."""
    from openlineage.client import event_v2 as ev
    from openlineage.client.generated import (
        column_lineage_dataset as cl,
    )
    from openlineage.client.generated import (
        data_quality_assertions_dataset as dq,
    )
    from openlineage.client.generated import (
        error_message_run,
        job_type_job,
        output_statistics_output_dataset,
        processing_engine_run,
        schema_dataset,
        sql_job,
    )
    from openlineage.client.generated import (
        parent_run as pr,
    )

    def input_field(f: dict[str, Any]) -> Any:
        return cl.InputField(namespace=f["namespace"], name=f["name"], field=f["field"],
                             transformations=[cl.Transformation(**t) for t in f["transformations"]])  # fmt: skip

    def facet(key: str, data: dict[str, Any]) -> Any:
        if key == "parent":
            return _facet(pr, "ParentRunFacet", data, run=pr.Run(**data["run"]), job=pr.Job(**data["job"]),
                          root=pr.Root(run=pr.RootRun(**data["root"]["run"]), job=pr.RootJob(**data["root"]["job"])))  # fmt: skip
        if key == "errorMessage":
            return _facet(error_message_run, "ErrorMessageRunFacet", data)
        if key == "processing_engine":
            return _facet(processing_engine_run, "ProcessingEngineRunFacet", data)
        if key == "sql":
            return _facet(sql_job, "SQLJobFacet", data)
        if key == "jobType":
            return _facet(job_type_job, "JobTypeJobFacet", data)
        if key == "schema":
            return _facet(schema_dataset, "SchemaDatasetFacet", data,
                          fields=[schema_dataset.SchemaDatasetFacetFields(**f) for f in data["fields"]])  # fmt: skip
        if key == "columnLineage":
            fields = {
                k: cl.Fields(inputFields=[input_field(f) for f in v["inputFields"]])
                for k, v in data["fields"].items()
            }
            return _facet(
                cl,
                "ColumnLineageDatasetFacet",
                data,
                fields=fields,
                dataset=[input_field(f) for f in data["dataset"]],
            )
        if key == "outputStatistics":
            return _facet(
                output_statistics_output_dataset, "OutputStatisticsOutputDatasetFacet", data
            )
        if key == "dataQualityAssertions":
            return _facet(
                dq,
                "DataQualityAssertionsDatasetFacet",
                data,
                assertions=[dq.Assertion(**a) for a in data["assertions"]],
            )
        raise AssertionError(f"facet `{key}` is not checked by this test")

    def facets(data: dict[str, Any] | None) -> dict[str, Any]:
        return {k: facet(k, v) for k, v in (data or {}).items()}

    def dataset(cls: Any, d: dict[str, Any], extra: str) -> Any:
        kwargs = {extra: facets(d[extra])} if extra in d else {}
        return cls(
            namespace=d["namespace"], name=d["name"], facets=facets(d.get("facets")), **kwargs
        )

    return ev.RunEvent(
        eventType=ev.RunState(event["eventType"]),
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=ev.Run(runId=event["run"]["runId"], facets=facets(event["run"].get("facets"))),
        job=ev.Job(
            namespace=event["job"]["namespace"],
            name=event["job"]["name"],
            facets=facets(event["job"].get("facets")),
        ),
        inputs=[dataset(ev.InputDataset, d, "inputFacets") for d in event.get("inputs", [])],
        outputs=[dataset(ev.OutputDataset, d, "outputFacets") for d in event.get("outputs", [])],
    )


def _strip_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_empty(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_strip_empty(v) for v in value]
    return value


def validate(event: dict[str, Any]) -> None:
    """Fail unless ``event`` is a valid OpenLineage RunEvent (see the module docstring)."""
    from openlineage.client.serde import Serde

    jsonschema.validate(event, RUN_EVENT_SCHEMA, format_checker=jsonschema.FormatChecker())
    uuid.UUID(event["run"]["runId"])
    model = _client_model(event)
    assert model.schemaURL == event["schemaURL"]
    assert _strip_empty(Serde.to_dict(model)) == _strip_empty(event)


def read_events(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON document
    for event in events:
        validate(event)
    return events


def by_job(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["job"]["name"] == name]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "HEADWATER_OPENLINEAGE_URL",
        "OPENLINEAGE_DISABLED",
        "OPENLINEAGE_API_KEY",
        "OL_TEST_KEY",
    ):
        monkeypatch.delenv(var, raising=False)


def build(root: Path, **kw: Any) -> Any:
    with Context(root) as ctx:
        return ctx.build(**kw)


# -- file transport ---------------------------------------------------------------------------------------
def test_successful_build_emits_valid_start_and_complete_events(make_project) -> None:
    root = make_project(FILES, FILE_CONFIG)
    result = build(root)
    assert result.exit_code == 0, result.to_dict()
    events = read_events(root / "lineage" / "events.ndjson")

    parent = by_job(events, "t.build")
    assert [e["eventType"] for e in parent] == ["START", "COMPLETE"]
    assert parent[0]["run"]["runId"] == parent[1]["run"]["runId"] == result.invocation_id
    assert events[0] is parent[0] and events[-1] is parent[1]  # the invocation wraps its nodes

    built = [
        "seed.t.customers",
        "source.t.raw.orders",
        "model.t.stg_customers",
        "model.t.customer_totals",
        "model.t.report",
    ]
    run_ids = set()
    for job in built:
        node_events = by_job(events, job)
        assert [e["eventType"] for e in node_events] == ["START", "COMPLETE"], job
        start, complete = node_events
        assert start["run"]["runId"] == complete["run"]["runId"]
        run_ids.add(start["run"]["runId"])
        parent_facet = complete["run"]["facets"]["parent"]
        assert parent_facet["run"]["runId"] == result.invocation_id
        assert parent_facet["job"] == {"namespace": "t", "name": "t.build"}
        assert complete["job"]["namespace"] == "t"  # default namespace: the project name
        assert complete["job"]["facets"]["jobType"]["integration"] == "HEADWATER"
    assert len(run_ids) == len(built)  # one run per node run
    assert not by_job(events, "model.t.paid_orders")  # ephemeral: nothing runs

    warehouse = (root / ".headwater" / "warehouse.duckdb").resolve()
    complete = by_job(events, "model.t.customer_totals")[1]
    assert complete["job"]["facets"]["sql"]["dialect"] == "duckdb"
    assert "sum(amount)" in complete["job"]["facets"]["sql"]["query"].lower()
    names = {d["name"] for d in complete["inputs"]}
    assert names == {
        "warehouse.main.stg_customers",
        "warehouse.raw.orders",
    }  # through the ephemeral
    assert {d["namespace"] for d in complete["inputs"]} == {f"duckdb://{warehouse}"}
    orders = next(d for d in complete["inputs"] if d["name"] == "warehouse.raw.orders")
    assert [f["name"] for f in orders["facets"]["schema"]["fields"]] == [
        "id",
        "customer_id",
        "amount",
        "status",
    ]
    (output,) = complete["outputs"]
    assert output["name"] == "warehouse.main.customer_totals"
    assert [(f["name"], f["type"]) for f in output["facets"]["schema"]["fields"]] == [
        ("customer_id", "INTEGER"), ("name", "VARCHAR"), ("total", "HUGEINT"),
    ]  # fmt: skip
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 1
    lineage = output["facets"]["columnLineage"]
    total = lineage["fields"]["total"]["inputFields"]
    assert [(f["name"], f["field"], f["transformations"][0]["subtype"]) for f in total] == [
        ("warehouse.raw.orders", "amount", "AGGREGATION")
    ]
    name = lineage["fields"]["name"]["inputFields"][0]
    assert (name["name"], name["field"], name["transformations"][0]["subtype"]) == (
        "warehouse.main.stg_customers",
        "name",
        "TRANSFORMATION",
    )
    indirect = {
        (f["field"], t["subtype"]) for f in lineage["dataset"] for t in f["transformations"]
    }
    assert {("status", "FILTER"), ("customer_id", "GROUP_BY"), ("id", "JOIN")} <= indirect

    report = by_job(events, "model.t.report")[1]["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert set(report) == {"customer_id", "name", "total", "double_total"}  # `*` expanded
    assert report["customer_id"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"

    seed = by_job(events, "seed.t.customers")[1]
    assert seed["inputs"] == [
        {
            "namespace": "file",
            "name": str((root / "seeds" / "customers.csv").resolve()),
            "facets": {},
        }
    ]


def test_failing_node_emits_fail_with_the_error(make_project) -> None:
    files = {
        **FILES,
        "models/marts/customer_totals.sql": "select no_such_column from {{ ref('stg_customers') }}",
    }
    root = make_project(files, FILE_CONFIG)
    result = build(root)
    assert result.exit_code == 1
    events = read_events(root / "lineage" / "events.ndjson")
    start, fail = by_job(events, "model.t.customer_totals")
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "no_such_column" in message
    assert fail["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    assert "columnLineage" not in fail["outputs"][0]["facets"]
    assert by_job(events, "model.t.report") == []  # skipped: it never ran, so no run to report
    assert [e["eventType"] for e in by_job(events, "t.build")] == ["START", "FAIL"]
    assert (
        "customer_totals"
        in by_job(events, "t.build")[1]["run"]["facets"]["errorMessage"]["message"]
    )


def test_disabled_by_default(make_project) -> None:
    root = make_project(FILES)
    assert build(root).exit_code == 0
    assert not list(root.rglob("*.ndjson"))


def test_openlineage_disabled_env_wins(make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(FILES, FILE_CONFIG)
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert build(root).exit_code == 0
    assert not (root / "lineage" / "events.ndjson").exists()


def test_file_transport_appends_across_runs_and_checks_get_assertions(make_project) -> None:
    config = FILE_CONFIG.replace("    path: lineage/events.ndjson\n", "    namespace: analytics\n")
    root = make_project(FILES, config)
    assert build(root).exit_code == 0
    path = root / ".headwater" / "openlineage.ndjson"  # the default path
    first = len(read_events(path))
    with Context(root) as ctx:
        assert ctx.test().exit_code == 0
    events = read_events(path)
    assert len(events) > first  # appended, earlier lines intact
    tests = [e for e in events[first:] if e["job"]["name"].startswith("test.")]
    assert tests and {e["job"]["namespace"] for e in tests} == {"analytics"}
    complete = next(e for e in tests if e["eventType"] == "COMPLETE")
    (tested,) = complete["inputs"]
    assert tested["name"] == "warehouse.raw.orders"
    (assertion,) = tested["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (
        assertion["assertion"] == "not_null"
        and assertion["success"] is True
        and assertion["column"] == "id"
    )


# -- HTTP transport ----------------------------------------------------------------------------------------
class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], dict[str, Any]]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    httpd.received = []  # type: ignore[attr-defined]
    httpd.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _http_config(url: str, extra: str = "") -> str:
    return (
        BASE_PROJECT
        + f"""\
observability:
  openlineage:
    transport: http
    url: {url}
    api_key_env: OL_TEST_KEY
    timeout: 2
    namespace: shop
{extra}"""
    )


def test_http_transport_posts_every_event_with_bearer_key(
    make_project, server, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("OL_TEST_KEY", "s3cret-key")
    url = f"http://127.0.0.1:{server.server_address[1]}"
    root = make_project(FILES, _http_config(url))
    with caplog.at_level(logging.DEBUG):
        result = build(root)
    assert result.exit_code == 0
    received = server.received  # type: ignore[attr-defined]
    assert len(received) == 12  # invocation START/COMPLETE + 5 nodes x 2
    for path, headers, event in received:
        assert path == "/api/v1/lineage"
        assert headers["Authorization"] == "Bearer s3cret-key"
        assert headers["Content-Type"] == "application/json"
        validate(event)
    assert [e["job"]["namespace"] for _, _, e in received] == ["shop"] * 12
    assert (
        received[-1][2]["job"]["name"] == "t.build" and received[-1][2]["eventType"] == "COMPLETE"
    )
    assert "s3cret-key" not in caplog.text


def test_http_failures_are_logged_and_never_fail_the_run(make_project, server, caplog) -> None:
    server.status = 500  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{server.server_address[1]}"
    root = make_project(FILES, _http_config(url, "    endpoint: /custom/path\n"))
    with caplog.at_level(logging.WARNING, logger="headwater"):
        result = build(root)
    assert result.exit_code == 0
    received = server.received  # type: ignore[attr-defined]
    assert len(received) == 3  # after three failures in a row the rest are dropped, not retried
    assert {p for p, _, _ in received} == {"/custom/path"}
    assert "Authorization" not in received[0][1]  # OL_TEST_KEY is not set: no header
    assert "12 event(s) not delivered" in caplog.text and "HTTP 500" in caplog.text


def test_unreachable_endpoint_does_not_fail_the_run(make_project, caplog) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = make_project(FILES, _http_config(f"http://127.0.0.1:{port}"))
    with caplog.at_level(logging.WARNING, logger="headwater"):
        assert build(root).exit_code == 0
    assert "not delivered" in caplog.text


def test_env_url_enables_http_without_config(make_project, server, monkeypatch) -> None:
    monkeypatch.setenv("HEADWATER_OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "k2")
    root = make_project(FILES)
    assert build(root, select=["customers"]).exit_code == 0
    received = server.received  # type: ignore[attr-defined]
    assert [e["job"]["name"] for _, _, e in received] == [
        "t.build",
        "seed.t.customers",
        "seed.t.customers",
        "t.build",
    ]
    assert received[0][1]["Authorization"] == "Bearer k2"


# -- settings ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ("    transport: kafka\n", "observability.openlineage.transport"),
        ("    transport: http\n", "observability.openlineage.url"),
        ("    transport: http\n    url: ftp://x\n", "not an http(s) URL"),
        ("    trasnport: file\n", "did you mean `transport`"),
        ("    transport: file\n    timeout: 0\n", "observability.openlineage.timeout"),
    ],
)
def test_bad_settings_are_config_errors(make_project, cli, block: str, needle: str) -> None:
    root = make_project(FILES, BASE_PROJECT + "observability:\n  openlineage:\n" + block)
    with pytest.raises(ConfigError) as info:
        build(root)
    assert needle in info.value.message and "headwater.yml" in info.value.message
    out = cli("build", "--project-dir", root)
    assert out.code == 2 and needle in out.err


def test_enabled_false_turns_it_off(make_project) -> None:
    root = make_project(FILES, FILE_CONFIG + "    enabled: false\n")
    assert build(root).exit_code == 0
    assert not (root / "lineage").exists()


def test_the_validator_rejects_what_the_spec_rejects(make_project) -> None:
    root = make_project(FILES, FILE_CONFIG)
    assert build(root, select=["customers"]).exit_code == 0
    event = read_events(root / "lineage" / "events.ndjson")[-2]  # the seed's COMPLETE
    broken = [json.loads(json.dumps(event)) for _ in range(4)]
    del broken[0]["run"]["facets"]["parent"]["_producer"]
    broken[1]["run"]["runId"] = "not-a-uuid"
    broken[2]["job"]["facets"]["jobType"]["unexpected"] = 1
    broken[3]["eventTime"] = "yesterday"
    for bad in broken:
        with pytest.raises((jsonschema.ValidationError, TypeError, ValueError, KeyError)):
            validate(bad)
