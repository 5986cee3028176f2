"""A throwaway PostgreSQL cluster on a free loopback port, made with Debian's initdb/pg_ctl.

The store tests (tests/conftest.py) and the store benchmark (bench/bench_store.py) use it.

PostgreSQL refuses to run as root; when the tests run as root, the cluster's commands run
as the ``postgres`` user (``runuser``), in a folder that user owns. The cluster trusts local
connections on 127.0.0.1 only and keeps nothing on exit. Tests skip fsync (``durable=False``);
the benchmark keeps PostgreSQL's defaults so its figures are those of a real server.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

_CANDIDATES = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
PG_BIN: Path | None = None
for _folder in [*_CANDIDATES, *(os.path.dirname(p) for p in [shutil.which("initdb")] if p)]:
    if Path(_folder, "initdb").is_file() and Path(_folder, "pg_ctl").is_file():
        PG_BIN = Path(_folder)
        break

SUPERUSER = "amulet"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_cluster_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root needs runuser to start PostgreSQL as postgres")
    return [runuser, "-u", "postgres", "--"]


class PostgresServer:
    """One cluster: :meth:`start`, :meth:`new_database` per test, :meth:`stop` at the end."""

    def __init__(self, *, durable: bool = False) -> None:
        assert PG_BIN is not None
        self.durable = durable
        self.bin = PG_BIN
        self.port = free_port()
        # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
        self.root = Path(tempfile.mkdtemp(prefix="amulet-pg-"))
        self.data = self.root / "data"
        self.prefix = _as_cluster_user()
        if self.prefix:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self.prefix, *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )

    def start(self, timeout_s: float = 30.0) -> PostgresServer:
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"),
                "-D", str(self.data),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "-t", str(int(timeout_s)), "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(
                    host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres"
                ).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
