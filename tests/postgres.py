"""A real PostgreSQL server for the tests (and for benches): started once, a fresh database per test.

`PostgresServer` runs the Debian `postgresql` package's own binaries (`initdb`, `pg_ctl` in
/usr/lib/postgresql/*/bin, or on PATH, or in $PG_BIN): a cluster in a temporary folder, trust
authentication, listening on 127.0.0.1 on a free port, fsync off, stopped and deleted at the end.
PostgreSQL refuses to run as root, so as root (CI runs as root) the cluster belongs to an
unprivileged user (`nobody`, or $NEWSBOT_PG_USER) and the binaries run as that user.

    server = PostgresServer().start()
    url = server.url(server.create_database("bench"))   # postgresql://postgres@127.0.0.1:PORT/bench
    ...
    server.stop()

As a pytest plugin (`pytest_plugins = ["tests.postgres"]`) it gives:
- `postgres_server` (session): the server's base URL (its `postgres` database); `pg_server` is the
  `PostgresServer` itself;
- `postgres_url`: a new empty database for one test, dropped after it;
- `database_url`: parametrised over sqlite and postgres, a DATABASE_URL for either backend;
- `store_factory` / `store`: parametrised over sqlite and postgres, opened stores on one database.

Without PostgreSQL's binaries the postgres cases fail (they do not skip): install the `postgresql`
package (`.ci/run` does).
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "postgres"  # the cluster's superuser (a role name, not a system account)


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def find_bindir() -> Path:
    """The folder with initdb and pg_ctl: $PG_BIN, the newest /usr/lib/postgresql/*/bin, or PATH."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", Path(path).parent.parent.name)) or (0,)

    candidates += [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version,
                                                   reverse=True)]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)  # type: ignore[arg-type]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresMissing(
        "PostgreSQL is not installed: no initdb/pg_ctl in /usr/lib/postgresql/*/bin, on PATH or in $PG_BIN. "
        "Install the server (`apt-get install postgresql`; .ci/run does it) to run the PostgreSQL tests.")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(folder: Path) -> bool:
    """Every folder on the way is open to other users (the cluster's owner is not the one running this)."""
    return all(os.stat(p).st_mode & 0o001 for p in [folder, *folder.resolve().parents])


class PostgresServer:
    """One throwaway PostgreSQL cluster on a loopback port. `start()` it, `stop()` it."""

    def __init__(self, *, bindir: Path | None = None, user: str | None = None,
                 options: dict[str, str] | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.port = 0
        self.folder: Path | None = None
        self._uid: int | None = None
        self._gid: int | None = None
        if os.geteuid() == 0:  # initdb and postgres refuse root: run them as an unprivileged account
            account = pwd.getpwnam(user or os.environ.get("NEWSBOT_PG_USER", "nobody"))
            self._uid, self._gid = account.pw_uid, account.pw_gid
        self.options = {
            "listen_addresses": "127.0.0.1",
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": "400", "shared_buffers": "32MB",
            "log_min_messages": "warning", "log_min_error_statement": "panic",
            **(options or {}),
        }
        self._numbers = itertools.count(1)
        self._spare_lock = threading.Lock()
        self._spare: Future[str] | None = None  # the next database, being made
        self._executor: ThreadPoolExecutor | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    # --- life -----------------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        assert self.folder is not None, "the server is not started"
        return self.folder / "data"

    @property
    def log(self) -> Path:
        assert self.folder is not None, "the server is not started"
        return self.folder / "server.log"

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary as the cluster's owner."""
        assert self.folder is not None
        extra: dict[str, Any] = {}
        if self._uid is not None:
            extra = {"user": self._uid, "group": self._gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        env.pop("PGDATA", None)
        done = subprocess.run([str(a) for a in args], cwd=self.folder, env=env, capture_output=True, text=True,
                              timeout=120, check=False, **extra)
        if check and done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(str(args[0])).name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                               f"\n{log}")
        return done

    def start(self) -> PostgresServer:
        base = None
        if self._uid is not None and not reachable(Path(tempfile.gettempdir())):
            base = "/tmp"  # $TMPDIR under /root: the cluster's owner could not reach its folder
        self.folder = Path(tempfile.mkdtemp(prefix="newsbot-pg-", dir=base))
        atexit.register(self.stop)  # a script that forgets (or dies on an exception) leaves no server behind
        try:
            if self._uid is not None:
                os.chown(self.folder, self._uid, self._gid)  # type: ignore[arg-type]
            self._run(self.bindir / "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust", "--no-sync",
                      "--encoding=UTF8", "--locale=C", "--no-instructions")
            for attempt in range(5):  # a free port may be taken between looking and binding
                self.port = free_port()
                options = {**self.options, "port": str(self.port), "unix_socket_directories": str(self.folder)}
                flags = " ".join(f"-c {k}={v}" for k, v in options.items())
                done = self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-o", flags, "-w",
                                 "-t", "60", "start", check=attempt == 4)
                if done.returncode == 0:
                    break
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
            raise
        self._watch()
        return self

    def _watch(self) -> None:
        """A watchdog that stops the server and deletes its folder if this process dies without
        `stop()` (killed by a CI timeout, say): no server outlives its test run."""
        folder, pidfile = shlex.quote(str(self.folder)), shlex.quote(str(self.data / "postmaster.pid"))
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                  f"pid=$(head -n 1 {pidfile} 2>/dev/null) && kill -QUIT \"$pid\" 2>/dev/null; "
                  "for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.5; done; "
                  f"rm -rf {folder}")
        self._watchdog = subprocess.Popen(["sh", "-c", script], start_new_session=True, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        """Stop at once (nothing here needs to be kept) and delete the cluster."""
        if self.folder is None:
            return
        atexit.unregister(self.stop)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        with self._spare_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor, self._spare = None, None
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- databases ------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The major version of the cluster (from its data folder)."""
        return int((self.data / "PG_VERSION").read_text().strip().split(".")[0])

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (named `name`, or t_<n>); its name.

        Unnamed ones are made one ahead in a thread (CREATE DATABASE takes a checkpoint: 0.1-0.5 s),
        so a test gets its database at once.
        """
        if name is not None:
            return self._create(name)
        with self._spare_lock:
            spare, self._spare = self._spare, None
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="pg-create")
            self._spare = self._executor.submit(self._create, f"t_{next(self._numbers)}")
        if spare is not None:
            with suppress(Exception):
                return spare.result()
        return self._create(f"t_{next(self._numbers)}")

    def _create(self, name: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        # FILE_COPY (PostgreSQL 15+) copies the small template in a tenth of the default's time
        strategy = " STRATEGY FILE_COPY" if self.version >= 15 else ""
        self._admin(f'CREATE DATABASE "{name}"{strategy}')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_database_url(server: PostgresServer) -> str:
    """A postgresql:// URL to a new empty database on `server` (for tests that build their own settings)."""
    return server.url(server.create_database())


# --- pytest fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(pg_server: PostgresServer) -> str:
    """The session's PostgreSQL server: its base URL (the `postgres` database)."""
    return pg_server.url()


@pytest.fixture
def postgres_url(pg_server: PostgresServer) -> Iterator[str]:
    """A new, empty database for this test, dropped after it."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """DATABASE_URL for one backend: sqlite:///<tmp>/newsbot.sqlite3, or a fresh PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'newsbot.sqlite3'}"


StoreFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def store_factory(database_url: str) -> AsyncIterator[StoreFactory]:
    """Opens stores on this test's database (each call: a new instance, like another process).

    Keyword arguments go to `PostgresStore` (pool_size, timeout_s); SQLite takes none.
    """
    from bot.store.postgres import PostgresStore
    from bot.store.sqlite import SQLiteStore

    opened: list[Any] = []

    async def make(**postgres_options: Any) -> Any:
        if database_url.startswith("postgresql://"):
            store: Any = PostgresStore(database_url, **postgres_options)
        else:
            store = SQLiteStore(database_url.removeprefix("sqlite:///"))
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(store_factory: StoreFactory) -> Any:
    """An opened store, on SQLite and on PostgreSQL."""
    return await store_factory()
