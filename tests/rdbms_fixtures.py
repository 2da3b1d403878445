"""Real database servers for the rdbms tests: PostgreSQL (Debian's `postgresql-15`) and MariaDB, each on a
free loopback port with its own data directory under a fresh temporary directory, stopped at the end.

Both servers refuse to run as root. When the tests run as root (the CI container), the data directory
is handed to the servers' own system user (`postgres`, `mysql`; else `nobody`) and the binaries are run
through `setpriv` as that user. A test skips only when a server binary is missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app_fixtures import free_port

__all__ = ["MariaDB", "Postgres", "init_postgres", "mariadb_server", "postgres_argv", "postgres_missing",
           "postgres_server", "q", "rdbms_app", "run", "silent_port", "wait_accepting", "x"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _user(preferred: str) -> pwd.struct_passwd | None:
    """The system user to run a server as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in (preferred, "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(f"running as root and neither {preferred!r} nor 'nobody' exists to run the server")


def _as(user: pwd.struct_passwd | None, argv: list[str]) -> list[str]:
    if user is None:
        return argv
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--", *argv]


def _workdir(prefix: str, user: pwd.struct_passwd | None) -> Path:
    # Not under pytest's tmp_path: its parents are private to root, and the server user must reach it.
    d = Path(tempfile.mkdtemp(prefix=prefix))
    if user is not None:
        os.chown(d, user.pw_uid, user.pw_gid)
    return d


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Postgres:
    """A running PostgreSQL cluster: `address` is a libpq keyword string, `url` the same as a URL."""

    port: int
    datadir: Path
    user: pwd.struct_passwd | None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        log = self.datadir.parent / "postgres.log"
        out = log.open("ab")
        if self.user is not None:
            os.chown(log, self.user.pw_uid, self.user.pw_gid)
        # `postgres` itself (not pg_ctl) so that the fixture owns the process and can kill -9 it.
        self.proc = subprocess.Popen(postgres_argv(self.datadir, self.user, "127.0.0.1", self.port),
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        _wait_port(self.port, self.proc, "postgres", log)
        wait_accepting(self.address)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: "fast" shutdown (SIGTERM's "smart" one waits for clients)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        """Run one statement from the test side (psycopg, not the code under test)."""
        import psycopg

        with psycopg.connect(self.address, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


def wait_accepting(address: str, timeout: float = 30) -> None:
    """Wait until PostgreSQL at `address` accepts sessions (its port opens before recovery ends: "the
    database system is starting up")."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(address, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def init_postgres(trust_network: bool = False) -> tuple[Path, Path, pwd.struct_passwd | None]:
    """A new PostgreSQL cluster (trust auth, superuser `postgres`) in a fresh temporary directory:
    (that directory, the data directory, the user to run it as). `trust_network`: accept any IPv4 client
    (for the namespace hosts of the multi-host test), not only loopback."""
    user = _user("postgres")
    work = _workdir("wasmhive-pg-", user)
    datadir = work / "data"
    proc = subprocess.run(_as(user, [str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust",
                                     "-E", "UTF8", "--no-sync", "--locale=C"]), capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{proc.stdout}\n{proc.stderr}")
    if trust_network:
        with (datadir / "pg_hba.conf").open("a") as f:
            f.write("host all all 0.0.0.0/0 trust\n")
    return work, datadir, user


def postgres_argv(datadir: Path, user: pwd.struct_passwd | None, listen: str, port: int) -> list[str]:
    """The command line that runs `postgres` itself on `listen:port` (as `user` when we are root)."""
    return _as(user, [str(PG_BIN / "postgres"), "-D", str(datadir), "-p", str(port),
                      "-c", f"listen_addresses={listen}", "-c", f"unix_socket_directories={datadir}",
                      "-c", "fsync=off", "-c", "max_connections=50"])


def postgres_missing() -> str | None:
    """Why the PostgreSQL tests cannot run here (server or psycopg missing), or None."""
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL 15 is not installed (apt-get install -y postgresql; .ci/run does this)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'wasmhive[postgres]')"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A real PostgreSQL 15 on a free loopback port for this test session (trust auth, user `postgres`)."""
    why = postgres_missing()
    if why:
        pytest.skip(why)
    work, datadir, user = init_postgres()
    pg = Postgres(free_port(), datadir, user)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class MariaDB:
    """A running MariaDB: `url` is a `mysql://` URL as the Spin SDK passes it."""

    port: int
    work: Path
    user: pwd.struct_passwd | None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mysql://spin:spinpw@127.0.0.1:{self.port}/spin"

    def start(self) -> None:
        log = self.work / "mariadb.log"
        out = log.open("ab")
        self.proc = subprocess.Popen(
            _as(self.user, ["mariadbd", "--no-defaults", f"--datadir={self.work / 'data'}", f"--port={self.port}",
                            "--bind-address=127.0.0.1", f"--socket={self.work / 'mysqld.sock'}",
                            f"--pid-file={self.work / 'mysqld.pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
                            "--skip-name-resolve", "--max-connections=50"]),
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        _wait_port(self.port, self.proc, "mariadbd", log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def sql(self, statement: str, database: str | None = "spin") -> list[tuple[object, ...]]:
        """Run one statement as root over the server's own socket (PyMySQL, not the code under test)."""
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.work / "mysqld.sock"), user="root", database=database,
                               autocommit=True, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return list(cur.fetchall())
        finally:
            conn.close()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    """A real MariaDB on a free loopback port for this test session, database `spin`, user `spin`."""
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        pytest.skip("MariaDB is not installed (apt-get install -y mariadb-server; .ci/run does this)")
    pytest.importorskip("pymysql", reason="PyMySQL is not installed (pip install 'wasmhive[mysql]')")
    user = _user("mysql")
    work = _workdir("wasmhive-mariadb-", user)
    args = ["mariadb-install-db", "--no-defaults", f"--datadir={work / 'data'}", "--auth-root-authentication-method=normal",
            "--skip-test-db"]
    if user is not None:
        args.append(f"--user={user.pw_name}")
    proc = subprocess.run(_as(user, args), capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(f"mariadb-install-db failed:\n{proc.stdout}\n{proc.stderr}")
    db = MariaDB(free_port(), work, user)
    try:
        db.start()
        # root has no password and is reachable only over the server's private socket.
        db.sql("CREATE DATABASE spin CHARACTER SET utf8mb4", database=None)
        db.sql("CREATE USER 'spin'@'127.0.0.1' IDENTIFIED BY 'spinpw'", database=None)
        db.sql("GRANT ALL ON spin.* TO 'spin'@'127.0.0.1'", database=None)
        yield db
    finally:
        db.stop()
        shutil.rmtree(work, ignore_errors=True)


# -- the guest (tests/app/rdbms) and how tests talk to it -------------------------------------------
APP = Path(__file__).parent / "app" / "rdbms"


@pytest.fixture(scope="module")
def rdbms_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spin-sdk guest (tests/app/rdbms) copied and built; its `spin.toml`."""
    from app_fixtures import build_spin_sdk_app

    dest = tmp_path_factory.mktemp("rdbms")
    shutil.copy(APP / "spin.toml", dest / "spin.toml")
    shutil.copy(APP / "app.py", dest / "app.py")
    build_spin_sdk_app(dest / "app.py", dest / "app.wasm")
    return dest / "spin.toml"


def run(server: Any, iface: str, address: str, *ops: dict[str, Any], status: int = 200) -> list[Any]:
    """POST a job to the guest: open `address` through `iface` ("pg2", "pg3", "pg4", "mysql"), run `ops`."""
    import httpx

    r = httpx.post(server.url + "/db", json={"iface": iface, "address": address, "ops": list(ops)}, timeout=60)
    assert r.status_code == status, server.output()[-3000:]
    return r.json() if status == 200 else []  # type: ignore[no-any-return]


def q(sql: str, *params: list[Any]) -> dict[str, Any]:
    """A `query` op with `[case, value]` parameters."""
    return {"op": "query", "sql": sql, "params": list(params)}


def x(sql: str, *params: list[Any]) -> dict[str, Any]:
    """An `execute` op with `[case, value]` parameters."""
    return {"op": "execute", "sql": sql, "params": list(params)}


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a server gone silent)."""
    import threading

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(lsock.accept()[0])

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield int(lsock.getsockname()[1])
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            lsock.shutdown(socket.SHUT_RDWR)
        lsock.close()
        t.join(5)
        for c in held:
            c.close()
