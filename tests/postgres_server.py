"""A real PostgreSQL server started from this machine's binaries (Debian's ``postgresql``
package): the test suite's ``postgres_server`` fixture and ``benchmarks/bench_workers.py`` both
run one, in a temporary folder, on a free port of the loopback address."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The server's password for its superuser ``sweepnp`` (password authentication is on, so that
#: the tests see what a user with a wrong password sees).
POSTGRES_PASSWORD = "pg-Secret-7f3a"


def postgres_binary(name: str) -> str | None:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``), if installed."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """A PostgreSQL server started here, with password authentication."""

    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """A storage URL as the docs write it (``postgresql://user:password@host:port/db``)."""
        secret = self.password if password is None else password
        return f"postgresql://{self.user}:{secret}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; return its URL."""
        import sqlalchemy

        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sqlalchemy.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a server in a temporary folder (as the ``postgres`` user when run as root: the
    server refuses to run as root), yield it, and stop it and remove its folder.

    :raises FileNotFoundError: when ``initdb`` or ``pg_ctl`` is not installed.
    """
    initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="sweepnp-pg-"))
    password_file = root / "password"
    password_file.write_text(POSTGRES_PASSWORD + "\n")
    as_server_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
        as_server_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_server_user, *command], check=True, capture_output=True, timeout=120)

    run(initdb, "-D", str(data), "-U", "sweepnp", "--auth-host=scram-sha-256",
        "--auth-local=trust", f"--pwfile={password_file}", "-E", "UTF8")  # fmt: skip
    options = f"-p {port} -h 127.0.0.1 -k {root} -c max_connections=200"
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield PostgresServer("127.0.0.1", port, "sweepnp", POSTGRES_PASSWORD)
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
