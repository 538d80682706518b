"""A throw-away PostgreSQL server for the tests that need a real one (the shared run store,
distributed search).

``postgres_server`` (session scope) runs ``initdb`` and ``pg_ctl`` from Debian's
``postgresql`` package into a temporary folder, on a free loopback port, with trust
authentication, and stops it at the end. PostgreSQL refuses to run as root, so under root
(CI) the server runs as the ``postgres`` user the package creates. When no server can start
(no package, no such user), the tests that need it are skipped with the reason.

``postgres_url`` (function scope) is a fresh, empty database on that server for each test.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def _postgres_bin() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: Debian keeps them out of PATH, per version."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when this process is root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


class PostgresServer:
    """A server started in ``folder`` on ``port``; ``url(database)`` connects to it."""

    def __init__(self, bin_dir: Path, folder: Path, port: int):
        self.bin_dir, self.folder, self.port = bin_dir, folder, port
        self.data = folder / "data"

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        run = lambda command: subprocess.run(  # noqa: E731
            _as_server_user(command), check=True, capture_output=True, text=True, timeout=120)
        run([str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
             "postgres", "--no-sync"])
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c max_connections=100")
        run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l",
             str(self.folder / "server.log"), "-o", options, "-w", "-t", "60", "start"])

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
                                        "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL server, or a skip that says why none could start."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("needs PostgreSQL's initdb and pg_ctl (Debian: apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("needs psycopg (pip install 'trainwise[postgres]')")
    folder = Path(tempfile.mkdtemp(prefix="trainwise-pg-"))
    os.chmod(folder, 0o755)
    server = PostgresServer(bin_dir, folder, _free_port())
    try:
        server.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, LookupError,
            OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"no PostgreSQL server could start here: {detail.strip()[:300]}")
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database for one test."""
    return postgres_server.create_database()
