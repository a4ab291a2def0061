"""A throw-away PostgreSQL cluster for tests and benches: the real server (Debian's postgresql
package), initialised in a temporary folder, listening on a free loopback port, removed at the end.

Why a cluster of our own and not the system's: CI and a developer's machine have no database set
up for us, and a test must never touch a database it did not make. PostgreSQL refuses to run as
root, so as root (CI) the server runs as the `postgres` system user the package creates.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
RUN_AS = "postgres"


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (./run.sh test installs the `postgresql` package)."""


def _bin(name: str) -> str:
    for d in PG_BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if found is None:
        raise PgUnavailable(f"{name} not found: ./run.sh test installs the postgresql package")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PgCluster:
    """`with PgCluster() as pg:` → `pg.dsn` (database `qcall`, user `qcall`, trust on loopback)."""

    def __init__(self, database: str = "qcall") -> None:
        self.database = database
        self.user = "qcall"
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="qcall-pg-"))
        self.data = self.root / "data"
        self._as_root = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={self.database} user={self.user}"

    def _run(self, *argv: str) -> None:
        cmd = list(argv)
        if self._as_root:
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> PgCluster:
        try:
            if self._as_root:
                shutil.chown(self.root, RUN_AS, RUN_AS)
            self._run(_bin("initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                      "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.root} "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                    "-c max_connections=200 -c shared_buffers=128MB")
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"),
                      "-w", "-t", "60", "start")
            self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                      self.database)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the server (immediately) and remove its folder; safe to call twice."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
