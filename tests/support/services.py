"""Locate or start the PostgreSQL and NATS servers the test suite needs.

Why this module exists: developers usually have PostgreSQL on 5432 and a
JetStream-enabled ``nats-server`` on 4222 running already, and reusing them
keeps the suite fast.  A fresh CI machine has the binaries installed (see
``.ci/run``) but nothing running, and we do not want CI to depend on
systemd or on ``pg_ctlcluster``.  So every helper here first probes for a
running server and otherwise starts a throwaway one in a temporary
directory, registering an :mod:`atexit` hook that stops it and deletes its
files when the Python process (normally pytest) exits.

Only the standard library is used, plus psycopg 3 to probe PostgreSQL and
to create/drop databases (the application depends on psycopg anyway).

The module is deliberately free of pytest imports so that scripts (for
example a local "start me a dev database" helper) can use it too; the
pytest fixtures live in :mod:`tests.support.fixtures`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = [
    "NatsProcess",
    "PostgresProcess",
    "ServiceUnavailableError",
    "database_name",
    "drop_database",
    "fresh_database",
    "nats_url",
    "postgres_dsn",
    "start_nats_server",
    "start_postgres_server",
]

LOCAL_HOST = "127.0.0.1"
DEFAULT_PG_PORT = 5432
DEFAULT_NATS_PORT = 4222

#: How long we are willing to wait for a freshly started server.  Startup
#: normally takes well under a second; the margin is for loaded CI runners.
STARTUP_TIMEOUT = 30.0
#: How long a graceful shutdown may take before we escalate to SIGKILL.
SHUTDOWN_TIMEOUT = 10.0
#: How often we retry with a new port when another process grabbed the free
#: port we picked between choosing it and the server binding it.
PORT_RETRIES = 3

_POLL_INTERVAL = 0.05
_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1

_lock = threading.Lock()
_cached_pg: dict[bool, str] = {}
_cached_nats: dict[bool, str] = {}


class ServiceUnavailableError(RuntimeError):
    """No server is running and none could be started.

    A distinct type so fixtures can turn it into a skip on developer
    machines that lack the binaries while still failing loudly in CI.
    """


# ---------------------------------------------------------------------------
# small shared helpers
# ---------------------------------------------------------------------------


def _free_port() -> int:
    """Ask the kernel for an unused TCP port on the loopback interface.

    There is an unavoidable race between closing this socket and the server
    binding the port; callers retry with a new port if startup fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, max_chars: int = 4000) -> str:
    """Return the end of a server log so startup errors are diagnosable."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    return text[-max_chars:]


def _terminate(process: subprocess.Popen[bytes], first_signal: signal.Signals) -> None:
    """Stop ``process`` gently, escalating to SIGKILL if it ignores us.

    We always reap the child so no zombie outlives the test session.
    """
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(first_signal)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()


_OWNER_FILE = "strata-owner.pid"


def _make_service_dir(prefix: str) -> Path:
    """Create a temporary directory for one server, sweeping dead ones first.

    The directory records the PID of the Python process that owns it.  When
    that process was killed (so :mod:`atexit` never ran) the server itself
    dies with it (see :func:`_die_with_parent`), but its directory (~40 MB
    for a PostgreSQL cluster) would stay behind; later runs remove such
    orphans here.  Directories of live owners are left alone, so
    concurrent test runs on one machine do not disturb each other.
    """
    base = Path(tempfile.gettempdir())
    for stale in base.glob(f"{prefix}*"):
        try:
            owner = int((stale / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if not _pid_alive(owner):
            shutil.rmtree(stale, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    (root / _OWNER_FILE).write_text(f"{os.getpid()}\n")
    return root


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _die_with_parent(sig: signal.Signals) -> list[str]:
    """Return a command prefix making the server receive ``sig`` if we die.

    :mod:`atexit` covers normal exits, but a CI timeout that SIGKILLs or
    SIGTERMs pytest would otherwise leave orphaned servers holding ports.
    ``setpriv --pdeathsig`` (util-linux, always on Debian) sets Linux's
    ``PR_SET_PDEATHSIG`` and then execs the server, so the PID we hold is
    still the server itself; it avoids ``preexec_fn``, which is unsafe
    once threads (e.g. a connection pool) exist.  The signal fires when
    the *thread* that forked the child exits, so it is only used from the
    main thread: a server started from a short-lived worker thread would
    otherwise die as soon as that thread finished.
    """
    if threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:  # not util-linux: rely on atexit only
        return []
    return [setpriv, "--pdeathsig", sig.name, "--"]


def _is_root() -> bool:
    return os.geteuid() == 0


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


def _pg_conninfo(port: int, dbname: str = "postgres") -> str:
    return make_conninfo(host=LOCAL_HOST, port=str(port), user="postgres", dbname=dbname)


def _pg_accepts(conninfo: str, timeout: int = 2) -> bool:
    """Return True if we can log in with ``conninfo`` right now.

    A full login (rather than a TCP probe) is used because a server that is
    still starting up, or one that wants a password, is no use to the tests.
    """
    try:
        with psycopg.connect(conninfo, connect_timeout=timeout, autocommit=True):
            return True
    except psycopg.Error:
        return False


def _version_key(bindir: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([\d.]+)/bin", bindir)
    if match is None:
        return (0,)
    return tuple(int(part) for part in match.group(1).split(".") if part)


def _pg_bindir() -> Path:
    """Find the directory holding ``initdb`` and ``postgres``.

    Debian keeps them in ``/usr/lib/postgresql/<major>/bin`` (not on PATH;
    ``/usr/local/bin/initdb`` may be a convenience symlink).  We prefer the
    newest major version and fall back to whatever PATH offers.
    """
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if os.access(os.path.join(bindir, "initdb"), os.X_OK) and os.access(
            os.path.join(bindir, "postgres"), os.X_OK
        ):
            return Path(bindir)
    initdb = shutil.which("initdb")
    if initdb is not None:
        # Resolve symlinks so we find the matching ``postgres`` next to it.
        bindir_path = Path(initdb).resolve().parent
        if os.access(bindir_path / "postgres", os.X_OK):
            return bindir_path
    raise ServiceUnavailableError(
        "PostgreSQL is not running on 127.0.0.1:5432 and no initdb/postgres "
        "binaries were found (apt-get install postgresql)"
    )


class PostgresProcess:
    """A throwaway PostgreSQL cluster owned by this Python process.

    Created by :func:`start_postgres_server`.  ``stop()`` shuts the server
    down and deletes its data directory; it is idempotent and is also
    registered with :mod:`atexit`, so forgetting to call it only costs a few
    seconds at interpreter exit rather than leaking a server.
    """

    def __init__(self, process: subprocess.Popen[bytes], port: int, root: Path) -> None:
        self.process = process
        self.port = port
        self.root = root
        self.data_dir = root / "data"
        self.dsn = _pg_conninfo(port)
        self._stopped = False
        atexit.register(self.stop)

    @property
    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Fast-shutdown the server and remove its directory.

        SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients
        instead of waiting for them (SIGTERM, "smart", would hang on any
        connection a test leaked).
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            _terminate(self.process, signal.SIGINT)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.stop)

    def __enter__(self) -> PostgresProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PostgresProcess(port={self.port}, root={str(self.root)!r})"


def _initdb(bindir: Path, root: Path, data_dir: Path) -> None:
    """Create a trust-auth cluster in ``data_dir``.

    initdb and postgres refuse to run as root, so as root we chown the
    temporary directory to the ``postgres`` OS user and run initdb via
    ``runuser``.  ``-N`` skips fsync: a throwaway cluster needs no
    durability, and fsyncs are what make initdb slow on busy CI disks.  Locale C avoids
    depending on which locales the machine has generated.
    """
    command = [
        str(bindir / "initdb"),
        "-D",
        str(data_dir),
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--locale=C",
        "-N",
    ]
    if _is_root():
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        command = [runuser, "-u", "postgres", "--", *command]
    result = subprocess.run(
        command,
        cwd=root,  # the postgres user may not be able to enter our cwd
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if result.returncode != 0:
        output = result.stdout.decode(errors="replace")
        raise ServiceUnavailableError(
            f"initdb failed with exit code {result.returncode}:\n{output}"
        )


def _spawn_postgres(
    bindir: Path, root: Path, data_dir: Path, port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start the postmaster directly (not through runuser or pg_ctl).

    Running the binary ourselves, switching user via ``Popen(user=...)``
    when we are root (the ``setpriv`` prefix execs, it does not fork),
    means ``process.pid`` *is* the postmaster, so we can signal it
    precisely and reap it.  A new session keeps a Ctrl+C in the
    developer's terminal from killing the server under running tests.
    """
    command = [
        *_die_with_parent(signal.SIGINT),
        str(bindir / "postgres"),
        "-D",
        str(data_dir),
        "-p",
        str(port),
        "-k",
        str(root),
        "-c",
        f"listen_addresses={LOCAL_HOST}",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
    ]
    as_root = _is_root()
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user="postgres" if as_root else None,
            group="postgres" if as_root else None,
            extra_groups=[] if as_root else None,
        )


def _chown_to_postgres(path: Path) -> None:
    try:
        shutil.chown(path, user="postgres", group="postgres")
    except LookupError as exc:
        raise ServiceUnavailableError(
            "running as root but there is no 'postgres' OS user to run "
            "initdb/postgres as (apt-get install postgresql creates it)"
        ) from exc


def start_postgres_server(port: int | None = None) -> PostgresProcess:
    """Initialise and start a brand-new PostgreSQL cluster.

    The server listens on 127.0.0.1 only (and on a unix socket inside its
    temporary directory, so it never collides with the system socket in
    /var/run/postgresql), trusts every local user and runs with fsync off.
    Pass ``port`` to pin it; by default a free port is chosen, retrying a
    few times if another process races us to it.
    """
    bindir = _pg_bindir()
    root = _make_service_dir("strata-pg-")
    try:
        if _is_root():
            _chown_to_postgres(root)
        data_dir = root / "data"
        _initdb(bindir, root, data_dir)
        attempts = 1 if port is not None else PORT_RETRIES
        last_error = ""
        for _ in range(attempts):
            chosen = port if port is not None else _free_port()
            log_path = root / f"postgres-{chosen}.log"
            process = _spawn_postgres(bindir, root, data_dir, chosen, log_path)
            ready_error = _wait_for_postgres(process, chosen, log_path)
            if ready_error is None:
                return PostgresProcess(process, chosen, root)
            _terminate(process, signal.SIGINT)
            last_error = ready_error
        raise ServiceUnavailableError(last_error)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _wait_for_postgres(process: subprocess.Popen[bytes], port: int, log_path: Path) -> str | None:
    """Poll until the server accepts logins; return an error text if not."""
    conninfo = _pg_conninfo(port)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return (
                f"postgres exited with code {process.returncode} during "
                f"startup on port {port}:\n{_log_tail(log_path)}"
            )
        if _pg_accepts(conninfo):
            return None
        time.sleep(_POLL_INTERVAL)
    return (
        f"postgres did not accept connections on port {port} within "
        f"{STARTUP_TIMEOUT:.0f}s:\n{_log_tail(log_path)}"
    )


def postgres_dsn(prefer_running: bool = True) -> str:
    """Return a superuser conninfo for a usable PostgreSQL server.

    With ``prefer_running`` (the default) a server already accepting
    trust logins as ``postgres`` on 127.0.0.1:5432 is reused.  Otherwise,
    or with ``prefer_running=False`` (which lets tests exercise the CI code
    path on a developer machine), a throwaway cluster is started once per
    process and stopped at exit.  Results are cached, so calling this from
    many fixtures is cheap.
    """
    with _lock:
        cached = _cached_pg.get(prefer_running)
        if cached is not None:
            return cached
        dsn: str | None = None
        if prefer_running:
            candidate = _pg_conninfo(DEFAULT_PG_PORT)
            if _pg_accepts(candidate):
                dsn = candidate
        if dsn is None:
            dsn = _cached_pg.get(False)
        if dsn is None:
            dsn = start_postgres_server().dsn
            _cached_pg[False] = dsn
        _cached_pg[prefer_running] = dsn
        return dsn


def _database_name(prefix: str) -> str:
    """Build a unique, valid, lower-case database name from ``prefix``.

    Only ``[a-z0-9_]`` survives so the name never needs quoting when a
    human copies it into psql, and it is truncated to fit PostgreSQL's
    63-byte identifier limit together with the random suffix.
    """
    cleaned = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_") or "db"
    suffix = uuid.uuid4().hex[:12]
    cleaned = cleaned[: _MAX_IDENTIFIER_BYTES - len(suffix) - 1].rstrip("_")
    return f"{cleaned}_{suffix}"


def fresh_database(admin_dsn: str, prefix: str) -> str:
    """Create a new, uniquely named, empty database and return its conninfo.

    ``TEMPLATE template0`` is used because cloning the default template1
    fails whenever anything else (another test worker, a psql session) is
    connected to template1.  Encoding UTF8 with the C locale makes sorting
    and text behaviour identical on every machine.
    """
    name = _database_name(prefix)
    statement = sql.SQL(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    ).format(sql.Identifier(name))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(statement)
    return make_conninfo(admin_dsn, dbname=name)


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database ``name`` if it exists, even if connections remain.

    ``WITH (FORCE)`` (PostgreSQL 13+) terminates sessions a test may have
    leaked, e.g. an unclosed pool, so cleanup never hangs or fails.
    """
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(statement)


def database_name(dsn: str) -> str:
    """Return the database name a conninfo points at (for drop_database)."""
    name = conninfo_to_dict(dsn).get("dbname")
    if not isinstance(name, str) or not name:
        raise ValueError(f"conninfo has no dbname: {dsn!r}")
    return name


# ---------------------------------------------------------------------------
# NATS
# ---------------------------------------------------------------------------


def _nats_info(host: str, port: int, timeout: float = 2.0) -> dict[str, object] | None:
    """Read the ``INFO {...}`` greeting a NATS server sends on connect.

    Returns the parsed JSON, or None if nothing listens or the peer is not
    a NATS server.  We disconnect without sending CONNECT, which the server
    treats as an ordinary aborted client.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            buffer = b""
            while b"\r\n" not in buffer and len(buffer) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                buffer += chunk
    except OSError:
        return None
    line = buffer.split(b"\r\n", 1)[0].decode(errors="replace")
    if not line.startswith("INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) else None


def _nats_has_jetstream(host: str, port: int) -> bool:
    info = _nats_info(host, port)
    return info is not None and info.get("jetstream") is True


def _nats_binary() -> str:
    """Find ``nats-server``; Debian installs it in /usr/sbin, off users' PATH."""
    found = shutil.which("nats-server")
    if found is not None:
        return found
    for candidate in ("/usr/sbin/nats-server", "/usr/local/bin/nats-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise ServiceUnavailableError(
        "no JetStream-enabled NATS server on 127.0.0.1:4222 and no "
        "nats-server binary found (apt-get install nats-server)"
    )


class NatsProcess:
    """A throwaway ``nats-server -js`` owned by this Python process.

    Meant for tests that need to kill and restart NATS without disturbing
    the shared server: ``restart()`` brings it back on the same port with
    the same JetStream store (so streams and consumers survive, as they
    would in production), ``stop()`` shuts it down for good and removes the
    store.  ``stop()`` is idempotent and registered with :mod:`atexit`.
    """

    def __init__(self, binary: str, port: int, root: Path) -> None:
        self.binary = binary
        self.port = port
        self.root = root
        self.store_dir = root / "jetstream"
        self.log_path = root / "nats-server.log"
        self.url = f"nats://{LOCAL_HOST}:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._stopped = False
        atexit.register(self.stop)

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _spawn(self) -> str | None:
        """Start the server process; return an error text on failure."""
        command = [
            *_die_with_parent(signal.SIGTERM),
            self.binary,
            "-js",
            "-a",
            LOCAL_HOST,
            "-p",
            str(self.port),
            "-sd",
            str(self.store_dir),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return (
                    f"nats-server exited with code {self.process.returncode} "
                    f"on port {self.port}:\n{_log_tail(self.log_path)}"
                )
            if _nats_has_jetstream(LOCAL_HOST, self.port):
                return None
            time.sleep(_POLL_INTERVAL)
        _terminate(self.process, signal.SIGTERM)
        return (
            f"nats-server did not answer on port {self.port} within "
            f"{STARTUP_TIMEOUT:.0f}s:\n{_log_tail(self.log_path)}"
        )

    def kill(self) -> None:
        """SIGKILL the server, keeping its store, to simulate a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop the server if running and start it again, same port/store."""
        if self._stopped:
            raise RuntimeError("NatsProcess was stopped; start a new one")
        if self.process is not None:
            _terminate(self.process, signal.SIGTERM)
        error = self._spawn()
        if error is not None:
            raise ServiceUnavailableError(error)

    def stop(self) -> None:
        """Shut the server down (SIGTERM, then SIGKILL) and delete its files."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.process is not None:
                _terminate(self.process, signal.SIGTERM)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.stop)

    def __enter__(self) -> NatsProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NatsProcess(url={self.url!r}, running={self.is_running})"


def start_nats_server(port: int | None = None) -> NatsProcess:
    """Start a separate JetStream-enabled ``nats-server`` and wait for it.

    Listens on 127.0.0.1 only, with its JetStream store in a fresh
    temporary directory.  Pass ``port`` to pin it (e.g. to bring a server
    back where clients expect it); by default a free port is chosen,
    retrying if another process races us to it.
    """
    binary = _nats_binary()
    attempts = 1 if port is not None else PORT_RETRIES
    last_error = ""
    for _ in range(attempts):
        chosen = port if port is not None else _free_port()
        root = _make_service_dir("strata-nats-")
        server = NatsProcess(binary, chosen, root)
        try:
            error = server._spawn()
        except BaseException:
            server.stop()
            raise
        if error is None:
            return server
        server.stop()
        last_error = error
    raise ServiceUnavailableError(last_error)


def nats_url(prefer_running: bool = True) -> str:
    """Return the URL of a JetStream-enabled NATS server.

    With ``prefer_running`` (the default) a server on 127.0.0.1:4222 is
    reused if its INFO greeting advertises JetStream; a plain core-NATS
    server there is ignored because the application needs streams.
    Otherwise a throwaway server is started once per process and stopped
    at exit.
    """
    with _lock:
        cached = _cached_nats.get(prefer_running)
        if cached is not None:
            return cached
        url: str | None = None
        if prefer_running and _nats_has_jetstream(LOCAL_HOST, DEFAULT_NATS_PORT):
            url = f"nats://{LOCAL_HOST}:{DEFAULT_NATS_PORT}"
        if url is None:
            url = _cached_nats.get(False)
        if url is None:
            url = start_nats_server().url
            _cached_nats[False] = url
        _cached_nats[prefer_running] = url
        return url
