"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a fresh data
directory, 127.0.0.1 on a free port, one server per test session, one database per test.

``postgres`` refuses to run as root, so on a machine that runs the tests as root the server
runs as the unprivileged ``postgres`` account the Debian package creates (else ``nobody``).
Where the server binaries are missing, :func:`start_server` raises :class:`PostgresMissing`:
the fixtures skip with that reason locally, and fail when ``$XMTC_TEST_POSTGRES`` is
``required`` (``.ci/run`` sets it, so CI never skips). Binaries that are present but do not
give a running server (or psycopg missing beside them) raise :class:`PostgresUnavailable`,
which always fails: a broken setup is never mistaken for an absent one.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED_ENV = "XMTC_TEST_POSTGRES"
BINDIR_ENV = "XMTC_TEST_PG_BINDIR"
SUPERUSER = "xmtc"


class PostgresUnavailable(RuntimeError):
    """No server could be started here; the message says why."""


class PostgresMissing(PostgresUnavailable):
    """No PostgreSQL server binaries on this machine (the only reason the tests may skip)."""


def required() -> bool:
    """Whether a missing server fails the tests instead of skipping them (CI)."""
    return os.environ.get(REQUIRED_ENV, "").lower() in ("1", "required", "yes", "true")


def find_bindir() -> Path | None:
    """The folder with ``initdb``, ``pg_ctl`` and ``postgres``: ``$XMTC_TEST_PG_BINDIR``
    when set (and then only it), else ``PATH``, else Debian's newest
    ``/usr/lib/postgresql/N/bin``."""
    candidates: list[Path] = []
    if os.environ.get(BINDIR_ENV):
        candidates.append(Path(os.environ[BINDIR_ENV]))
    else:
        candidates += _found_bindirs()
    for folder in candidates:
        if all((folder / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _found_bindirs() -> list[Path]:
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(debian, key=_version_key, reverse=True)]
    return candidates


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> str | None:
    """The account the server runs as: None (this one) unless this process is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and no unprivileged account to run postgres")


@dataclass
class PostgresServer:
    """A running server; :meth:`create_database` gives each test its own database."""

    bindir: Path
    root: Path
    """A folder the server's account owns: ``data/`` (the cluster), ``server.log``, sockets."""
    port: int
    user: str | None
    _names: itertools.count = field(default_factory=itertools.count)

    def url(self, database: str = "postgres", role: str = SUPERUSER) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}",
            autocommit=True,
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, prefix: str = "t", owner: str = SUPERUSER) -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        _pg(self, "pg_ctl", "stop", "-D", "data", "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _pg(server: PostgresServer, binary: str, *args: str, check: bool = True):
    res = subprocess.run(
        [str(server.bindir / binary), *args],
        user=server.user,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
        cwd=server.root,
    )
    if check and res.returncode != 0:
        raise PostgresUnavailable(
            f"{binary} failed (rc={res.returncode}): {(res.stderr or res.stdout).strip()[-500:]}"
        )
    return res


def start_server() -> PostgresServer:
    """initdb a data directory and start a server on 127.0.0.1 (raises
    :class:`PostgresUnavailable` with the reason when it cannot)."""
    bindir = find_bindir()
    if bindir is None:
        where = os.environ.get(BINDIR_ENV) or "PATH or /usr/lib/postgresql/*/bin"
        raise PostgresMissing(
            f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {where}; "
            f"apt-get install postgresql, or set ${BINDIR_ENV}"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is installed but psycopg is not (pip install -e '.[test]'): {exc}"
        ) from None
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="xmtc-pg-"))
    if user is not None:
        os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    server = PostgresServer(bindir, root, _free_port(), user)
    try:
        _pg(server, "initdb", "-D", "data", "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        opts = (
            f"-p {server.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=300"
        )
        _pg(server, "pg_ctl", "start", "-w", "-t", "60", "-D", "data", "-l", "server.log",
            "-o", opts)  # fmt: skip
    except (PostgresUnavailable, OSError, subprocess.TimeoutExpired) as exc:
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"{exc} {tail}".strip()) from None
    return server
