"""A moto S3 server in its own process, with IAM credentials, for lake tables on object storage.

Why a process and not moto's ``ThreadedMotoServer`` (which ``tests/extract`` uses): deltalake 1.6
holds the GIL in ``DeltaTable.is_deltatable`` and ``DeltaTable.history`` while it waits for the
store (delta-io/delta-rs#4402 fixed two other calls of that kind), so a server thread in the test
process cannot answer them and they hang until object_store gives up (10 retries, about three
minutes). A server in another process is also what a real store is.

Two changes to moto, made in the server process only:

* **atomic conditional writes.** moto checks ``If-None-Match`` / ``If-Match`` and then stores the
  object as two steps without a lock, so two concurrent conditional PUTs of one key can both
  succeed. S3 decides them atomically (one gets 412 Precondition Failed). The server runs
  conditional PUTs one at a time, which is what S3 guarantees;
* **a request log.** Every conditional PUT is appended to a file as ``<status> <key>
  <If-None-Match>`` so a test can see what reached the store: that delta-rs writes each commit
  with ``If-None-Match: *``, and how many commits the store itself refused.

Signatures are checked (moto's ``INITIAL_NO_AUTH_ACTION_COUNT``): the fixture creates an IAM user
and an access key with the first unauthenticated requests, after which a wrong secret is refused
(``SignatureDoesNotMatch``), as S3 would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NO_AUTH_REQUESTS = 3
"""Requests moto answers before it checks signatures: create a user, its policy, its key."""


@dataclass
class MotoS3:
    """A running server: its URL, an access key that may use S3, and its request log."""

    url: str
    key: str
    secret: str
    log: Path
    region: str = "us-east-1"
    buckets: list[str] = field(default_factory=list)

    def env(self, **more: str) -> dict[str, str]:
        """The environment headwater reads S3 settings from."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": self.region,
            **more,
        }

    def storage_options(self) -> dict[str, str]:
        """deltalake's options for an independent reader (not headwater's)."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
        )

    def new_bucket(self) -> str:
        name = f"hw-lake-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> set[str]:
        out: set[str] = set()
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        for page in pages:
            out.update(o["Key"] for o in page.get("Contents", []))
        return out

    def conditional_puts(self) -> list[tuple[int, str, str]]:
        """(status, key, If-None-Match) of every conditional PUT so far."""
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            status, key, header = line.split(" ", 2)
            out.append((int(status), key, header))
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the moto server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)  # polling for the server to listen, not hiding a race
    raise RuntimeError("the moto server did not start listening within 30 s")


@contextmanager
def moto_s3(tmp: Path) -> Iterator[MotoS3]:
    """Start the server (`serve` in a child process), create the IAM user, yield it."""
    port = _free_port()
    log = tmp / "conditional_puts.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(NO_AUTH_REQUESTS)}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    with open(tmp / "moto.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.lake.moto_s3", str(port), str(log)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            _wait_for(port, proc)
            yield _with_user(f"http://127.0.0.1:{port}", log)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _with_user(url: str, log: Path) -> MotoS3:
    """The server with an IAM user allowed to use S3 (made while moto asks for no signature)."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="headwater")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(UserName="headwater", PolicyName="s3", PolicyDocument=json.dumps(policy))
    access = iam.create_access_key(UserName="headwater")["AccessKey"]
    return MotoS3(url, access["AccessKeyId"], access["SecretAccessKey"], log)


def serve(port: int, log: str) -> None:
    """The server process: moto with atomic, logged conditional PUTs."""
    import logging

    from moto.s3.exceptions import PreconditionFailed
    from moto.s3.responses import S3Response
    from moto.server import main

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    lock = threading.Lock()
    put_object = S3Response.put_object

    def conditional_put(self: S3Response) -> Any:
        headers: Mapping[str, str] = self.headers
        condition = headers.get("If-None-Match") or headers.get("If-Match")
        if not condition:
            return put_object(self)
        key = f"{self.bucket_name}/{self.parse_key_name()}"
        with lock:
            try:
                response = put_object(self)
            except PreconditionFailed:
                _append(log, f"412 {key} {condition}")
                raise
            _append(log, f"200 {key} {condition}")
            return response

    S3Response.put_object = conditional_put  # type: ignore[method-assign]
    main(["-H", "127.0.0.1", "-p", str(port)])


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
