"""The `s3` connector against a real S3-compatible server (moto's server mode, on localhost),
read through pyarrow's S3 filesystem — no mock of the client."""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import urllib.request

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.extract.base import (
    Batch,
    ConnectorError,
    ExtractState,
    TransientConnectorError,
    arrow_batches,
    connector_class,
)

if os.environ.get("CI") == "true":
    import boto3
    from moto.server import ThreadedMotoServer
else:
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install -e '.[test]')")
    _moto_server = pytest.importorskip(
        "moto.server",
        reason="moto's server mode is not installed (pip install -e '.[test]' installs moto[server])",
    )
    ThreadedMotoServer = _moto_server.ThreadedMotoServer

KEY, SECRET = "hw-test-key", "hw-test-secret-do-not-print"
BUCKET = "headwater-raw"


@pytest.fixture(scope="module")
def server():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.stop()


@pytest.fixture
def s3(server):
    """A fresh bucket on the server and a boto3 client to fill it."""
    client = boto3.client(
        "s3",
        endpoint_url=server,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def env(server: str, **more: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": server,
        **more,
    }


def make(config: dict, environ: dict, kind: str = "s3"):
    return connector_class(kind)("lake", "events", config, env=environ)


def run(conn, state: ExtractState | None = None) -> list[Batch]:
    return list(arrow_batches(conn.extract(state or ExtractState())))


def committed(state: ExtractState, batches: list[Batch]) -> ExtractState:
    files = dict(state.loaded_files)
    files.update({b.source_file: b.file_checksum for b in batches if b.final})
    return ExtractState(loaded_files=files)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def test_csv_gz_glob_and_exactly_once(server, s3):
    s3.put_object(Bucket=BUCKET, Key="raw/2024/a.csv.gz", Body=gzip.compress(b"id,v\n1,x\n2,y\n"))
    s3.put_object(Bucket=BUCKET, Key="raw/2024/b.csv.gz", Body=gzip.compress(b"id,v\n3,z\n"))
    s3.put_object(Bucket=BUCKET, Key="raw/2024/notes.txt", Body=b"not matched")
    s3.put_object(Bucket=BUCKET, Key="raw/2024/deeper/c.csv.gz", Body=gzip.compress(b"id,v\n9,q\n"))
    conn = make({"path": f"s3://{BUCKET}/raw/2024/*.csv.gz"}, env(server))
    batches = run(conn)
    assert [b.source_file for b in batches] == [
        f"s3://{BUCKET}/raw/2024/a.csv.gz",
        f"s3://{BUCKET}/raw/2024/b.csv.gz",
    ]
    assert [b.table.to_pylist() for b in batches] == [
        [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}],
        [{"id": 3, "v": "z"}],
    ]
    assert all(b.file_checksum.startswith("etag:") for b in batches)
    state = committed(ExtractState(), batches)

    # nothing new: no object is downloaded again (the ETag from a HEAD request is enough)
    def no_download(*args, **kwargs):
        raise AssertionError("an unchanged object was downloaded")

    conn.s3.download = no_download
    assert run(conn, state) == []

    conn = make({"path": f"s3://{BUCKET}/raw/2024/*.csv.gz"}, env(server))
    s3.put_object(
        Bucket=BUCKET, Key="raw/2024/b.csv.gz", Body=gzip.compress(b"id,v\n3,zz\n")
    )  # changed
    s3.put_object(Bucket=BUCKET, Key="raw/2024/d.csv.gz", Body=gzip.compress(b"id,v\n4,w\n"))  # new
    again = run(conn, state)
    assert [b.source_file for b in again] == [
        f"s3://{BUCKET}/raw/2024/b.csv.gz",
        f"s3://{BUCKET}/raw/2024/d.csv.gz",
    ]
    assert [r for b in again for r in b.table.to_pylist()] == [
        {"id": 3, "v": "zz"},
        {"id": 4, "v": "w"},
    ]
    state = committed(state, again)
    assert run(conn, state) == []


def test_recursive_glob_prefix_and_single_object(server, s3):
    s3.put_object(Bucket=BUCKET, Key="events/day=1/a.ndjson", Body=b'{"id": 1}\n')
    s3.put_object(Bucket=BUCKET, Key="events/day=2/x/b.ndjson", Body=b'{"id": 2}\n')
    s3.put_object(Bucket=BUCKET, Key="other/c.ndjson", Body=b'{"id": 3}\n')
    files = lambda path: [b.source_file for b in run(make({"path": path}, env(server)))]  # noqa: E731
    assert files(f"s3://{BUCKET}/events/**/*.ndjson") == [
        f"s3://{BUCKET}/events/day=1/a.ndjson",
        f"s3://{BUCKET}/events/day=2/x/b.ndjson",
    ]
    assert files(f"s3://{BUCKET}/*/day=*/*.ndjson") == [f"s3://{BUCKET}/events/day=1/a.ndjson"]
    assert files(f"s3://{BUCKET}/other/c.ndjson") == [f"s3://{BUCKET}/other/c.ndjson"]
    assert files(f"s3://{BUCKET}/events/") == [
        f"s3://{BUCKET}/events/day=1/a.ndjson",
        f"s3://{BUCKET}/events/day=2/x/b.ndjson",
    ]
    assert len(files(f"s3://{BUCKET}/**")) == 3


def test_formats_options_and_bad_records(server, s3):
    table = pa.table({"id": [1, 2], "amount": ["1.5", "oops"]})
    s3.put_object(Bucket=BUCKET, Key="p/a.parquet", Body=parquet_bytes(table))
    s3.put_object(
        Bucket=BUCKET, Key="n/a.ndjson.zst", Body=_zstd(b'{"id": 1}\n{broken\n{"id": 3}\n')
    )
    s3.put_object(Bucket=BUCKET, Key="c/a.csv", Body="id;name\n1;Jos\xe9\n2\n".encode("latin-1"))
    [batch] = run(
        make(
            {"path": f"s3://{BUCKET}/p/*.parquet", "column_types": {"amount": "DOUBLE"}},
            env(server),
        )
    )
    assert batch.table.to_pylist() == [{"id": 1, "amount": 1.5}]
    assert [(r.line, r.source_file) for r in batch.rejected] == [(2, f"s3://{BUCKET}/p/a.parquet")]
    [batch] = run(make({"path": f"s3://{BUCKET}/n/*"}, env(server)))
    assert batch.table.to_pylist() == [{"id": 1}, {"id": 3}]
    assert [(r.line, r.raw) for r in batch.rejected] == [(2, "{broken")]
    [batch] = run(
        make(
            {"path": f"s3://{BUCKET}/c/a.csv", "delimiter": ";", "encoding": "latin-1"}, env(server)
        )
    )
    assert batch.table.to_pylist() == [{"id": 1, "name": "José"}]
    assert [(r.line, r.raw) for r in batch.rejected] == [(3, "2")]


def test_config_keys_for_endpoint_region_and_credential_variables(server, s3):
    s3.put_object(Bucket=BUCKET, Key="k/a.csv", Body=b"id\n1\n")
    conn = make(
        {
            "path": f"s3://{BUCKET}/k/*.csv",
            "endpoint_url": server,
            "region": "eu-west-1",
            "access_key_id_env": "MY_KEY",
            "secret_access_key_env": "MY_SECRET",
        },
        {"MY_KEY": KEY, "MY_SECRET": SECRET},
    )
    assert [b.table.num_rows for b in run(conn)] == [1]
    conn.check()


def test_files_connector_reads_s3_paths_from_the_environment(server, s3):
    s3.put_object(Bucket=BUCKET, Key="k/a.csv", Body=b"id\n1\n")
    [batch] = run(make({"path": f"s3://{BUCKET}/k/*.csv"}, env(server), kind="files"))
    assert batch.source_file == f"s3://{BUCKET}/k/a.csv"


def test_missing_credential_variable_is_a_config_error(server):
    from headwater.errors import ConfigError

    conn = make(
        {
            "path": f"s3://{BUCKET}/*.csv",
            "access_key_id_env": "NOPE",
            "secret_access_key_env": "NOPE2",
        },
        {},
    )
    with pytest.raises(ConfigError, match="`NOPE`, which is not set"):
        run(conn)


# -- errors ----------------------------------------------------------------------------------------
def test_no_object_matches(server, s3):
    with pytest.raises(ConnectorError) as err:
        run(make({"path": f"s3://{BUCKET}/missing/*.csv"}, env(server)))
    msg = str(err.value)
    assert "lake.events" in msg and f"s3://{BUCKET}/missing/*.csv" in msg and server in msg


def test_missing_bucket_names_bucket_and_endpoint(server):
    with pytest.raises(ConnectorError) as err:
        run(make({"path": "s3://no-such-bucket/raw/*.csv"}, env(server)))
    msg = str(err.value)
    assert "bucket `no-such-bucket` does not exist" in msg and server in msg
    assert "endpoint_url" in err.value.hint
    with pytest.raises(ConnectorError, match="no-such-bucket"):
        run(make({"path": "s3://no-such-bucket/**"}, env(server)))


def test_endpoint_down_names_the_endpoint(server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    conn = make({"path": f"s3://{BUCKET}/*.csv", "max_attempts": 1}, env(dead))
    with pytest.raises(TransientConnectorError) as err:
        run(conn)
    msg = str(err.value)
    assert dead in msg and BUCKET in msg and "server is running" in err.value.hint
    assert SECRET not in msg + err.value.hint


def test_wrong_credentials_name_what_to_check_without_secrets(server, s3):
    s3.put_object(Bucket=BUCKET, Key="k/a.csv", Body=b"id\n1\n")
    _set_auth(server, "0")  # from now on moto checks the access key against its IAM
    try:
        conn = make(
            {
                "path": f"s3://{BUCKET}/k/*.csv",
                "access_key_id_env": "K",
                "secret_access_key_env": "S",
                "max_attempts": 1,
            },
            env(server, K="AKIAWRONGWRONGWRONG0", S="wrong-secret-value"),
        )
        with pytest.raises(ConnectorError) as err:
            run(conn)
    finally:
        _set_auth(server, "inf")
    text = str(err.value)
    assert "denied" in text and BUCKET in text and server in text
    assert "`K` / `S`" in err.value.hint
    assert "wrong-secret-value" not in text and "AKIAWRONG" not in text


def _set_auth(server: str, count: str) -> None:
    req = urllib.request.Request(
        f"{server}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(req) as resp:
        assert json.loads(resp.read())["status"] == "ok"


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()
