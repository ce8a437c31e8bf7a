"""OpenLineage run events for every node run (off unless configured).

Enable it in headwater.yml::

    observability:
      openlineage:
        transport: file                         # one JSON event per line, appended and flushed
        path: .headwater/openlineage.ndjson     # relative to the project (this is the default)
        namespace: shop                         # job namespace (default: the project name)

    observability:
      openlineage:
        transport: http                         # POST each event (Marquez, DataHub, ...)
        url: http://localhost:5000
        endpoint: api/v1/lineage                # default
        api_key_env: OL_API_KEY                 # sent as `Authorization: Bearer ...`; never logged
        timeout: 5                              # seconds per request

or, without any `openlineage:` key, set ``HEADWATER_OPENLINEAGE_URL`` (HTTP transport to that URL,
api key from ``OPENLINEAGE_API_KEY`` if set). The generic ``OPENLINEAGE_URL`` of other integrations
is deliberately not honoured: a variable exported for Airflow or Spark should not start emitting
from headwater too. ``OPENLINEAGE_DISABLED=true`` turns emission off whatever the settings;
``enabled: false`` in the mapping does the same for one project.

What is emitted (spec 2-0-2, facets as in openlineage-python's generated models):

- the invocation is a job ``<project>.<command>`` with a run whose id is the invocation id: START
  before the first node, COMPLETE (or FAIL if any node failed) after the last;
- every node run is a job named by the node's unique_id with its own run id (uuid4): START when it
  starts, COMPLETE or FAIL (``errorMessage`` run facet) when it finishes; every event carries the
  ``parent`` run facet pointing at the invocation. Skipped nodes emit nothing: they never ran, and
  the spec pairs every ABORT/COMPLETE/FAIL with a START;
- job facets ``sql`` (the compiled SQL, in the engine's dialect: duckdb, postgres) and ``jobType``
  (BATCH, HEADWATER, MODEL / SEED / SOURCE / SNAPSHOT / TEST); run facet ``processing_engine``
  (DuckDB's version, or the PostgreSQL server's);
- inputs: the upstream relations (ephemeral models are looked through), the seed's CSV file or a
  source's raw files; outputs: the node's relation. On COMPLETE, datasets carry the ``schema``
  facet (outputs from the warehouse, inputs from their schemas), outputs ``columnLineage`` (see
  `headwater.observe.lineage`) and ``outputStatistics`` (rows written); check units carry
  ``dataQualityAssertions`` on the relations they checked.

Dataset naming: there is no DuckDB entry in OpenLineage's naming spec; following its rule
(namespace = ``scheme://authority`` of the data source, name = the path within it) a table is
namespace ``duckdb://<absolute path of the warehouse file>`` (``duckdb://:memory:`` in memory),
name ``<database>.<schema>.<table>`` (the database is DuckDB's catalog name, the file's stem), as
for Postgres. A PostgreSQL target follows the spec's Postgres naming: namespace
``postgres://<host>:<port>``, name ``<database>.<schema>.<table>``. Raw files use the spec's local file system naming: namespace ``file``, name the
absolute path (a glob for sources reading many files). A lake table (Delta, Iceberg, Parquet:
`headwater.lake`) is the dataset at its storage location, as the spec names object stores:
namespace ``s3://<bucket>`` (``gs://``, ``abfss://``) with the path as name, or ``file`` with the
absolute path of a local table.

Delivery never fails a run: file errors and HTTP errors are logged (logger ``headwater``), HTTP
requests are sent by a background thread with a short timeout, and after three failures in a row
the remaining events of the invocation are dropped (and counted in the log) instead of waiting.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.project.definition import lake_format
from headwater.runner.events import Run, RunListener, Unit, UnitResult

if TYPE_CHECKING:
    from headwater.context import Context
    from headwater.engines.base import Engine
    from headwater.errors import ConfigError
    from headwater.observe import Bus
    from headwater.observe.lineage import ColumnLineage, Source
    from headwater.project.definition import Node
    from headwater.quality.evaluator import CheckResult

log = logging.getLogger("headwater")

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = {
    "parent": "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "errorMessage": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "processing_engine": "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
    "sql": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
    "jobType": "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "schema": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "columnLineage": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
    "outputStatistics": (
        "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
    ),
    "dataQualityAssertions": (
        "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
    ),
}
KEYS = ("enabled", "transport", "path", "url", "endpoint", "api_key_env", "timeout", "namespace")
ENV_URL = "HEADWATER_OPENLINEAGE_URL"
ENV_API_KEY = "OPENLINEAGE_API_KEY"
_OK = ("success", "warn", "pass")
_FAILED = ("error", "fail")


def producer() -> str:
    from headwater.version import __version__

    return f"https://pypi.org/project/headwater/{__version__}/"


# -- settings ------------------------------------------------------------------------------------------
@dataclass
class Settings:
    transport: str
    namespace: str
    path: Path | None = None
    url: str | None = None
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = None
    timeout: float = 5.0

    @property
    def endpoint_url(self) -> str:
        assert self.url
        return self.url.rstrip("/") + "/" + self.endpoint.lstrip("/") if self.endpoint else self.url


def settings(observability: dict[str, Any] | None, project: str, root: Path, state_dir: Path,
             config_file: str = "headwater.yml") -> Settings | None:  # fmt: skip
    """The transport the project asks for, or None when OpenLineage is off; `ConfigError` for a
    wrong setting (naming the file, the key and the fix)."""
    from headwater.errors import ConfigError, Location, did_you_mean

    if str(os.environ.get("OPENLINEAGE_DISABLED", "")).lower() in ("1", "true", "yes"):
        return None
    raw = (observability or {}).get("openlineage")
    where = Location(config_file)

    def bad(key: str, text: str, hint: str) -> ConfigError:
        return ConfigError(
            f"`observability.openlineage.{key}` in {config_file} {text}", location=where, hint=hint
        )

    if raw is None:
        url = os.environ.get(ENV_URL)
        if not url:
            return None
        return Settings("http", project, url=_check_url(url, bad, ENV_URL), api_key_env=ENV_API_KEY)
    if raw is False:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"`observability.openlineage` in {config_file} must be a mapping", location=where,
            hint="e.g. `openlineage: {transport: file, path: .headwater/openlineage.ndjson}`",
        )  # fmt: skip
    for key in raw:
        if key not in KEYS:
            raise bad(
                str(key),
                "is not a setting" + did_you_mean(str(key), KEYS),
                "use one of: " + ", ".join(KEYS),
            )
    if raw.get("enabled", True) is False:
        return None
    transport = raw.get("transport", "http" if raw.get("url") else "file")
    if transport not in ("file", "http"):
        raise bad(
            "transport", f"is `{transport}`", "use `file` (with `path`) or `http` (with `url`)"
        )
    namespace = raw.get("namespace", project)
    if not isinstance(namespace, str) or not namespace.strip():
        raise bad(
            "namespace", "must be a non-empty string", f"e.g. `namespace: {project}` (the default)"
        )
    timeout = raw.get("timeout", 5)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise bad(
            "timeout", f"is `{timeout}`, not a positive number of seconds", "e.g. `timeout: 5`"
        )
    api_key_env = raw.get("api_key_env")
    if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env):
        raise bad(
            "api_key_env", "must name an environment variable", "e.g. `api_key_env: OL_API_KEY`"
        )
    if transport == "file":
        path = raw.get("path") or str(state_dir / "openlineage.ndjson")
        if not isinstance(path, str):
            raise bad("path", "must be a file path", "e.g. `path: .headwater/openlineage.ndjson`")
        p = Path(os.path.expanduser(path))
        return Settings(
            "file", namespace, path=p if p.is_absolute() else root / p, timeout=float(timeout)
        )
    url = raw.get("url") or os.environ.get(ENV_URL)
    if not url:
        raise bad(
            "url", "is missing (the HTTP transport needs it)", "e.g. `url: http://localhost:5000`"
        )
    endpoint = raw.get("endpoint", "api/v1/lineage")
    if not isinstance(endpoint, str):
        raise bad("endpoint", "must be a path", "e.g. `endpoint: api/v1/lineage`")
    return Settings("http", namespace, url=_check_url(str(url), bad, "url"), endpoint=endpoint,
                    api_key_env=api_key_env, timeout=float(timeout))  # fmt: skip


def _check_url(url: str, bad: Callable[[str, str, str], ConfigError], key: str) -> str:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise bad(key, f"is `{url}`, not an http(s) URL", "e.g. `url: http://localhost:5000`")
    return url


# -- transports -------------------------------------------------------------------------------------------
class FileTransport:
    """Appends one event per line; each line is written and flushed at once (a killed run
    leaves complete lines behind)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.failures: list[str] = []

    def emit(self, event: dict[str, Any]) -> None:
        from headwater.secrets import mask_value

        line = json.dumps(mask_value(event), separators=(",", ":"), default=str) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
            except OSError as exc:
                if not self.failures:
                    log.warning("openlineage: cannot write %s: %s", self.path, exc)
                self.failures.append(str(exc))

    def close(self) -> None:
        pass


class HttpTransport:
    """POSTs events from a background thread, in order. Failures are logged, never raised; after
    `MAX_FAILURES` in a row the rest of the invocation's events are dropped."""

    MAX_FAILURES = 3

    def __init__(self, url: str, api_key_env: str | None, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.api_key_env = api_key_env
        self.sent = 0
        self.dropped = 0
        self.failures: list[str] = []
        self._streak = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="hw-openlineage", daemon=True)
        self._thread.start()
        if api_key_env and not os.environ.get(api_key_env):
            log.warning(
                "openlineage: api_key_env `%s` is not set; sending events without an API key",
                api_key_env,
            )

    def emit(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def _loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            if self._streak >= self.MAX_FAILURES:
                self.dropped += 1
                continue
            try:
                self._post(event)
                self.sent += 1
                self._streak = 0
            except Exception as exc:  # a lineage backend being down must never fail a run
                self._streak += 1
                self.dropped += 1
                self.failures.append(_describe(exc))

    def _post(self, event: dict[str, Any]) -> None:
        from headwater import secrets

        body = json.dumps(secrets.mask_value(event), default=str).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        key = secrets.from_env(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        import urllib.request  # only when events are sent: not on every run's path

        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()

    def close(self) -> None:
        """Send what is queued (bounded wait) and report what could not be delivered."""
        self._queue.put(None)
        pending = self._queue.qsize()
        self._thread.join(timeout=self.timeout * pending + 1)  # each request ends within `timeout`
        if self.failures or self._thread.is_alive():
            left = self._queue.qsize() if self._thread.is_alive() else 0
            log.warning(
                "openlineage: %d event(s) not delivered to %s (%s)", self.dropped + left, self.url,
                self.failures[-1] if self.failures else "timed out",
            )  # fmt: skip


def _describe(exc: BaseException) -> str:
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


# -- the observer ------------------------------------------------------------------------------------------
def make(ctx: Context, command: str, invocation_id: str, bus: Bus) -> OpenLineageObserver | None:
    config = ctx.manifest.config
    found = settings(config.observability, config.name, ctx.root, ctx.state_dir, config.config_file)
    if found is None:
        return None
    if found.transport == "file":
        assert found.path is not None
        transport: FileTransport | HttpTransport = FileTransport(found.path)
    else:
        transport = HttpTransport(found.endpoint_url, found.api_key_env, found.timeout)
    return OpenLineageObserver(ctx, command, invocation_id, found.namespace, transport)


class OpenLineageObserver(RunListener):
    """Turns the runner's hooks into OpenLineage run events (see the module docstring)."""

    def __init__(
        self,
        ctx: Context,
        command: str,
        invocation_id: str,
        namespace: str,
        transport: FileTransport | HttpTransport,
    ) -> None:
        from headwater.observe.lineage import ProjectLineage

        self.ctx = ctx
        self.namespace = namespace
        self.transport = transport
        self.invocation_id = invocation_id
        self.parent_job = f"{ctx.manifest.config.name}.{command}"
        self.nodes = ctx.manifest.nodes
        engine = ctx.engine
        self.dataset_namespace, self.catalog = dataset_namespace(engine)
        self.engine_name, self.engine_version = _engine_name(engine), _engine_version(engine)
        self.dialect = str(getattr(engine, "DIALECT", "duckdb"))
        self.lineage = ProjectLineage(
            {u: n for u, n in self.nodes.items() if n.resource_type not in ("test", "analysis")},
            engine.columns, ctx.root, ctx.manifest.config.raw_data, dialect=self.dialect,
        )  # fmt: skip
        self.runs: dict[str, str] = {}
        self.built: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- hooks ------------------------------------------------------------------------------------
    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        self._emit("START", self.invocation_id, self.parent_job, parent=False, job_type="JOB")

    def unit_started(self, unit: Unit, result: UnitResult) -> None:
        run_id = str(uuid.uuid4())
        with self._lock:
            self.runs[unit.id] = run_id
        inputs, outputs = self._datasets(unit)
        self._emit("START", run_id, self._job_name(unit, result), job_facets=self._job_facets(unit),
                   inputs=inputs, outputs=outputs, job_type=_job_type(unit))  # fmt: skip

    def unit_published(self, unit: Unit, result: UnitResult, engine: Engine) -> None:
        """Measure while the relation is fresh: its schema and column lineage."""
        node = unit.build
        assert node is not None  # a published unit builds a node
        self.lineage.forget(node.unique_id)
        schema = self.lineage.schema(node.unique_id) or []
        lineage = (
            self.lineage.columns(node.unique_id, through_ephemerals=True)
            if node.compiled_sql
            else None
        )
        with self._lock:
            self.built[unit.id] = {"schema": schema, "lineage": lineage}

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        with self._lock:
            run_id = self.runs.pop(unit.id, None)
            built = self.built.pop(unit.id, None)
        if run_id is None:
            return  # skipped before it started: no run to close (see the module docstring)
        if result.status in _OK:
            event_type = "COMPLETE"
        elif result.status in _FAILED:
            event_type = "FAIL"
        else:
            event_type = "ABORT"
        run_facets: dict[str, Any] = {}
        if event_type == "FAIL":
            run_facets["errorMessage"] = self._facet(
                "errorMessage",
                message=result.message or result.status,
                programmingLanguage="python",
            )
        inputs, outputs = self._datasets(unit, result if event_type == "COMPLETE" else None, built)
        self._emit(event_type, run_id, self._job_name(unit, result), run_facets=run_facets,
                   job_facets=self._job_facets(unit), inputs=inputs, outputs=outputs, job_type=_job_type(unit))  # fmt: skip

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        failed = any(r.status in _FAILED for r in results)
        facets = {}
        if failed:
            names = [r.name for r in results if r.status in _FAILED]
            text = (
                f"{len(names)} node(s) failed: "
                + ", ".join(names[:10])
                + (" ..." if len(names) > 10 else "")
            )
            facets["errorMessage"] = self._facet(
                "errorMessage", message=text, programmingLanguage="python"
            )
        try:
            self._emit("FAIL" if failed else "COMPLETE", self.invocation_id, self.parent_job,
                       run_facets=facets, parent=False, job_type="JOB")  # fmt: skip
        finally:
            self.transport.close()

    # -- events -----------------------------------------------------------------------------------
    def _facet(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"_producer": producer(), "_schemaURL": FACETS[kind], **fields}

    def _emit(
        self,
        event_type: str,
        run_id: str,
        job_name: str,
        *,
        run_facets: dict[str, Any] | None = None,
        job_facets: dict[str, Any] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        parent: bool = True,
        job_type: str = "MODEL",
    ) -> None:
        facets = dict(run_facets or {})
        if parent:
            ref = {
                "run": {"runId": self.invocation_id},
                "job": {"namespace": self.namespace, "name": self.parent_job},
            }
            facets["parent"] = self._facet("parent", **ref, root=ref)
        facets["processing_engine"] = self._facet(
            "processing_engine",
            version=self.engine_version,
            name=self.engine_name,
            openlineageAdapterVersion=_version(),
        )
        jfacets = dict(job_facets or {})
        jfacets["jobType"] = self._facet(
            "jobType", processingType="BATCH", integration="HEADWATER", jobType=job_type
        )
        event = {
            "eventType": event_type,
            "eventTime": dt.datetime.now(dt.UTC).isoformat(),
            "producer": producer(),
            "schemaURL": SPEC,
            "run": {"runId": run_id, "facets": facets},
            "job": {"namespace": self.namespace, "name": job_name, "facets": jfacets},
            "inputs": inputs or [],
            "outputs": outputs or [],
        }
        self.transport.emit(event)

    def _job_name(self, unit: Unit, result: UnitResult) -> str:
        if unit.build is not None:
            return str(unit.build.unique_id)
        return str(result.node_id or unit.id)

    def _job_facets(self, unit: Unit) -> dict[str, Any]:
        node = unit.build
        if node is not None and node.compiled_sql:
            return {
                "sql": self._facet("sql", query=node.compiled_sql.strip(), dialect=self.dialect)
            }
        return {}

    # -- datasets ---------------------------------------------------------------------------------
    def dataset(self, uid_or_relation: str) -> tuple[str, str]:
        """(namespace, name) of a node's relation, or of a relation name that is no node."""
        node = self.nodes.get(uid_or_relation)
        if node is not None and lake_format(node.config) and node.resource_type != "test":
            return self._lake_dataset(node)
        if node is not None and node.relation is not None:
            rel = node.relation
            return self.dataset_namespace, ".".join(
                [rel.database or self.catalog, rel.schema, rel.identifier]
            )
        parts = uid_or_relation.split(".")
        if len(parts) == 2:
            parts = [self.catalog, *parts]
        return self.dataset_namespace, ".".join(parts)

    def _lake_dataset(self, node: Node) -> tuple[str, str]:
        """A lake table is the dataset at its storage location: namespace ``s3://bucket`` (or
        ``file``), name the path, as the spec names object-store and file datasets."""
        from headwater.lake.spec import LakeSpec

        lake_root = str(getattr(self.ctx.engine.target, "lake_root", "lake"))
        location = LakeSpec.of(node, self.ctx.manifest.config, lake_root).location
        return location.namespace, location.name

    def _inputs(self, unit: Unit) -> list[str]:
        if unit.build is not None:
            uids = [
                d for d in unit.build.depends_on if d in self.nodes and d != unit.build.unique_id
            ]
        else:
            uids = [d for t in unit.tests for d in t.depends_on if d in self.nodes]
        out = []
        for uid in dict.fromkeys(uids):
            node = self.nodes[uid]
            if (
                node.relation is not None
                and node.materialized != "ephemeral"
                and node.resource_type not in ("test", "analysis")
            ):
                out.append(uid)
        return out

    def _datasets(
        self, unit: Unit, result: UnitResult | None = None, built: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Inputs and outputs; with ``result`` (a COMPLETE event) their facets."""
        inputs: list[dict[str, Any]] = []
        for uid in self._inputs(unit):
            ns, name = self.dataset(uid)
            item: dict[str, Any] = {"namespace": ns, "name": name, "facets": {}}
            if result is not None:
                schema = self.lineage.schema(uid)
                if schema:
                    item["facets"]["schema"] = self._schema_facet(schema)
                if unit.build is None:
                    assertions = [
                        self._assertion(c)
                        for c in result.checks
                        if c.node == self.nodes[uid].display_name
                    ]
                    if assertions:
                        item["inputFacets"] = {
                            "dataQualityAssertions": self._facet(
                                "dataQualityAssertions", assertions=assertions
                            )
                        }
            inputs.append(item)
        node = unit.build
        if node is None:
            return inputs, []
        inputs += self._raw_files(node)
        if node.relation is None:
            return inputs, []
        ns, name = self.dataset(node.unique_id)
        output: dict[str, Any] = {"namespace": ns, "name": name, "facets": {}}
        if result is not None and built is not None:
            if built.get("schema"):
                output["facets"]["schema"] = self._schema_facet(built["schema"])
            lineage = built.get("lineage")
            if lineage is not None and (lineage.columns or lineage.dataset):
                output["facets"]["columnLineage"] = self._column_lineage_facet(
                    lineage, built.get("schema") or []
                )
            if result.rows is not None and result.rows >= 0:
                output["outputFacets"] = {
                    "outputStatistics": self._facet("outputStatistics", rowCount=int(result.rows))
                }
        return inputs, [output]

    def _raw_files(self, node: Node) -> list[dict[str, Any]]:
        """The files a seed or a file source reads, named as OpenLineage names local files."""
        root = Path(self.ctx.root)
        if node.resource_type == "seed":
            return [{"namespace": "file", "name": str((root / node.path).resolve()), "facets": {}}]
        if node.resource_type == "source" and node.files is not None:
            path = node.files.path
            if "://" in path:
                scheme, rest = path.split("://", 1)
                bucket, _, key = rest.partition("/")
                return [{"namespace": f"{scheme}://{bucket}", "name": "/" + key, "facets": {}}]
            p = Path(path)
            if not p.is_absolute():
                p = root / self.ctx.manifest.config.raw_data / p
            return [{"namespace": "file", "name": str(p.resolve()), "facets": {}}]
        return []

    def _schema_facet(self, columns: list[tuple[str, str]]) -> dict[str, Any]:
        return self._facet("schema", fields=[{"name": c, "type": t} for c, t in columns])

    def _column_lineage_facet(
        self, lineage: ColumnLineage, schema: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """OpenLineage's columnLineage facet: per output column its input fields, each with its
        transformations; joins, filters, grouping and sorting under ``dataset``."""
        real = {c.lower(): c for c, _ in schema}

        def fields(sources: list[Source]) -> list[dict[str, Any]]:
            grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for s in sources:
                ns, name = self.dataset(s.node)
                grouped.setdefault((ns, name, s.column), []).append(
                    {"type": s.type, "subtype": s.subtype, "description": "", "masking": False}
                )
            return [
                {"namespace": ns, "name": name, "field": f, "transformations": t}
                for (ns, name, f), t in grouped.items()
            ]

        out: dict[str, Any] = {}
        for column, sources in lineage.columns.items():
            if sources and (not real or column.lower() in real):
                out[real.get(column.lower(), column)] = {"inputFields": fields(sources)}
        return self._facet("columnLineage", fields=out, dataset=fields(lineage.dataset))

    def _assertion(self, check: CheckResult) -> dict[str, Any]:
        item: dict[str, Any] = {"assertion": check.check, "success": check.status == "pass", "name": check.name,
                                "severity": check.severity}  # fmt: skip
        if check.column:
            item["column"] = check.column
        return item


def _job_type(unit: Unit) -> str:
    return (unit.build.resource_type if unit.build is not None else "test").upper()


def _version() -> str:
    from headwater.version import __version__

    return __version__


def dataset_namespace(engine: Engine) -> tuple[str, str]:
    """(namespace, default database name) of the engine's datasets, by OpenLineage's naming
    spec: a DuckDB file is ``duckdb://<absolute path>`` (database: the file's stem; in memory
    ``duckdb://:memory:``, ``memory``); a server is ``<scheme>://<host>:<port>`` (PostgreSQL:
    ``postgres://host:5432``, database: the one connected to)."""
    from urllib.parse import urlsplit

    location = str(getattr(engine, "location", ":memory:"))
    if "://" in location:  # a server engine's location: scheme://user@host:port/database
        url = urlsplit(location)
        scheme = str(getattr(engine, "NAME", url.scheme))
        return f"{scheme}://{url.hostname}:{url.port}", url.path.strip("/")
    if location == ":memory:":
        return "duckdb://:memory:", "memory"
    return f"duckdb://{Path(location).resolve()}", Path(location).stem


_ENGINE_NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL"}


def _engine_name(engine: Engine) -> str:
    name = str(getattr(engine, "NAME", "duckdb"))
    return _ENGINE_NAMES.get(name, name)


def _engine_version(engine: Engine) -> str:
    """The engine's version for the ``processing_engine`` facet: DuckDB's package version (no
    query), a server's ``server_version`` setting (asked once, when the observer starts)."""
    try:
        if getattr(engine, "SERVER", False):
            rows = engine.execute("SELECT current_setting('server_version')")
            return str(rows[0][0]).split(" ", 1)[0] if rows else "unknown"
        from importlib.metadata import version

        return version("duckdb")
    except Exception:
        return "unknown"
