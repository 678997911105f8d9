"""Opening the results database: URLs, migrations, transactions with bounded retries, the
database-wide write lock, and the read-only path for SQL the user types.

Backend differences (SQLite's pragmas and ``BEGIN IMMEDIATE``, how user SQL is kept
read-only) live in :mod:`harness.store.dialect`. A write that meets a lock is retried a
bounded number of times; a full disk or a read-only file becomes a :class:`StoreError` that
says so, and rows already committed stay readable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from harness.errors import StoreError
from harness.store.dialect import Rows, dialect_for, shown
from harness.store.schema import SCHEMA_VERSION, Base, SchemaVersion, free_text

T = TypeVar("T")

WRITE_RETRIES = 8


def normalise_url(db: str) -> str:
    """A SQLAlchemy URL as given, or ``sqlite:///PATH`` for a plain file path."""
    return db if "://" in db else f"sqlite:///{db}"


def _explain(exc: BaseException, url: str) -> StoreError:
    msg = " ".join(str(getattr(exc, "orig", exc)).split())  # a server's message: one line
    low = msg.lower()
    if "readonly" in low or "read-only" in low:
        return StoreError(f"{url}: the database is read-only ({msg}); committed rows are intact")
    if "disk is full" in low or "disk i/o" in low or "no space" in low:
        return StoreError(f"{url}: the disk is full ({msg}); committed rows are intact")
    if "locked" in low or "busy" in low:
        return StoreError(f"{url}: the database stayed locked after retries ({msg})")
    if "unable to open" in low:
        return StoreError(f"{url}: cannot open the database file ({msg})")
    return StoreError(f"{url}: database error: {msg}")


def _is_lock(exc: BaseException) -> bool:
    low = str(getattr(exc, "orig", exc)).lower()
    transient = ("locked", "busy", "deadlock detected", "could not serialize access")
    return any(word in low for word in transient)


def _add_corpus_columns(conn: Any) -> None:
    """Version 2: the corpus's own name beside the dataset plugin's, on runs and models
    (a database created at version 1 by this code already has them)."""
    kind = free_text(200).compile(dialect=conn.dialect)
    for table in ("runs", "trained_models"):
        if "corpus" not in {c["name"] for c in inspect(conn).get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN corpus {kind}"))


def _add_report_indexes(conn: Any) -> None:
    """Version 3: the covering index the leaderboard aggregates from (a database created
    at an earlier version by this code already has it)."""
    for index in Base.metadata.tables["trials"].indexes:
        index.create(conn, checkfirst=True)


# Migrations: version -> function(connection). Version 1 is the initial schema, created
# from the ORM metadata; later versions add their ALTER statements here, in order.
MIGRATIONS: dict[int, Callable[[Any], None]] = {
    1: lambda conn: Base.metadata.create_all(conn),
    2: _add_corpus_columns,
    3: _add_report_indexes,
}


class Store:
    """An open results database."""

    def __init__(self, db: str, *, create: bool = True):
        self.url = normalise_url(db)
        try:
            url = make_url(self.url)
        except (ArgumentError, ValueError) as exc:
            raise StoreError(f"{db!r} is neither a file path nor a database URL ({exc})") from None
        self.shown_url = shown(url)
        """The URL as messages show it (password hidden)."""
        self.dialect = dialect_for(url)
        self.path = self.dialect.path
        if self.path is not None:
            if not create and not self.path.exists():
                raise StoreError(f"{self.path}: no results database here (run an eval first)")
            if create and not self.path.parent.exists():
                raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        self.engine: Engine = create_engine(self.dialect.url, **self.dialect.engine_options())
        self.dialect.prepare(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            self.migrate()
        elif self.path is None and self.version() == 0:
            raise StoreError(f"{self.shown_url}: no results tables here (run an eval first)")

    # -- schema -------------------------------------------------------------------------
    def version(self) -> int:
        try:
            if not inspect(self.engine).has_table("schema_version"):
                return 0
            with self._sessions() as s:
                v = s.scalar(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()))
            return int(v or 0)
        except SQLAlchemyError as exc:
            raise _explain(exc, self.shown_url) from exc

    def migrate(self) -> None:
        """Upgrade the schema to SCHEMA_VERSION, one migration per transaction."""
        current = self.version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.shown_url}: schema version {current} is newer than this harness "
                f"understands ({SCHEMA_VERSION}); upgrade xmtc-harness"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):

            def step(conn: Any, version: int = version) -> None:
                self.dialect.lock(conn)  # one process migrates at a time; the others skip
                if inspect(conn).has_table("schema_version") and conn.scalar(
                    select(SchemaVersion.version).where(SchemaVersion.version == version)
                ):
                    return  # another process applied it while this one waited
                MIGRATIONS[version](conn)
                conn.execute(
                    SchemaVersion.__table__.insert().values(version=version)  # type: ignore[attr-defined]
                )

            self._retry(lambda: self._in_transaction(step))

    def _in_transaction(self, fn: Callable[[Any], None]) -> None:
        with self.engine.begin() as conn:
            fn(conn)

    # -- writing ------------------------------------------------------------------------
    def _retry(self, fn: Callable[[], T]) -> T:
        delay = 0.05
        for attempt in range(WRITE_RETRIES + 1):
            try:
                return fn()
            except OperationalError as exc:
                if _is_lock(exc) and attempt < WRITE_RETRIES:
                    time.sleep(delay + random.random() * delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise _explain(exc, self.shown_url) from exc
            except SQLAlchemyError as exc:
                raise _explain(exc, self.shown_url) from exc
        raise AssertionError("unreachable")

    def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in one transaction and commit it, retrying on a busy lock."""

        def attempt() -> T:
            with self._sessions() as s, s.begin():
                return fn(s)

        return self._retry(attempt)

    def serialised(self, fn: Callable[[Session], T]) -> T:
        """Like :meth:`write`, under the database-wide write lock taken before ``fn`` reads
        anything: two processes that look for a row and create it if missing (opening a
        run, recording a trained model) then run one after the other, never both missing
        it."""

        def locked(s: Session) -> T:
            self.dialect.lock(s.connection())
            return fn(s)

        return self.write(locked)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (nothing it does is committed)."""
        s = self._sessions()
        try:
            yield s
        except OperationalError as exc:
            raise _explain(exc, self.shown_url) from exc
        finally:
            # close() ends the transaction without writing anything, and, unlike rollback(),
            # does not expire the loaded rows: callers keep using them after the block.
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()

    # -- user SQL -------------------------------------------------------------------------
    def run_readonly_sql(self, sql: str) -> Rows:
        """Run one statement the user typed on a connection that cannot write (how depends
        on the backend: :meth:`harness.store.dialect.Dialect.run_readonly`)."""
        return self.dialect.run_readonly(self.engine, sql)


def open_store(db: str, *, create: bool = True) -> Store:
    """The results database at ``db`` (created and migrated unless ``create`` is false)."""
    return Store(db, create=create)
