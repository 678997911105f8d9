"""SQLite files the harness is given: is it a results database, is it sound, and how to read
it without writing anything.

Only SQLite keeps a results database in a file of its own, so these checks live apart from
the backend-neutral store (:class:`~harness.store.dialect.SQLiteDialect` calls them). Every
check runs on a read-only connection, before the store writes anything: a file that is not
SQLite, a SQLite file of some other program, or a damaged results database is refused with
one line that says what is wrong and how to recover, and the file is left byte for byte as
it was (no journal-mode switch, no tables added).

Reading never needs write access: :class:`ReadOnlyFile` opens the file ``mode=ro`` where
SQLite can keep its WAL index beside it, else (a read-only folder or mount) ``immutable=1``
when no write-ahead log holds committed rows, else a private copy of the file and its log,
so committed trials stay readable whatever the permissions.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Table, Text
from sqlalchemy.types import TypeDecorator

from harness.errors import StoreError

HEADER = b"SQLite format 3\x00"
SQLITE_ERRORS = (sqlite3.Error, UnicodeError)
"""What a damaged file makes the driver raise (an error message in bad UTF-8 too)."""
TIMEOUT_S = 30.0
HARNESS_TABLES = ("schema_version", "trained_models", "runs", "trials", "substitutions")
ADDED_IN = {2: ("corpus",)}
"""Columns a schema version added (a database at an earlier version lacks them until the
store migrates it)."""
SMALL_TABLES = ("schema_version", "trained_models", "runs")
"""Tables checked value by value on every open (a few rows per model and run); the trials
and their substitutions are checked before writing and when a read fails."""


def recovery(path: Path) -> str:
    """What a user can do about a damaged database file (the file itself is left alone)."""
    return (
        f"the file was not changed; check it with `sqlite3 {path} 'PRAGMA integrity_check'`, "
        f"recover what is readable with `sqlite3 {path} .recover | sqlite3 NEW.db`, or use a "
        "new database path"
    )


def _cannot_open_in_place(exc: Exception) -> bool:
    low = str(exc).lower()
    return "unable to open" in low or "readonly" in low or "read-only" in low


class ReadOnlyFile:
    """Read-only connections to one SQLite file, the way of opening it chosen once.

    ``mode=ro`` in place first; where SQLite cannot create the WAL index beside the file
    (a read-only folder or mount, another user's file), ``immutable=1`` when no write-ahead
    log holds rows (everything committed is in the file), else a private copy of the file
    and its log, opened where SQLite may recover the log. :meth:`close` removes the copy.
    """

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        self.mode = "ro"
        self._copy: Path | None = None
        try:
            self._probe(self._uri("mode=ro"))
        except SQLITE_ERRORS as exc:
            if not _cannot_open_in_place(exc):
                raise damaged(self.path, str(exc)) from None
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                self._copy_with_log(wal)
            else:
                self.mode = "immutable"
            try:
                self._probe(self.uri())
            except SQLITE_ERRORS as exc2:
                raise damaged(self.path, str(exc2)) from None

    def _uri(self, query: str, path: Path | None = None) -> str:
        return f"{(path or self.path).as_uri()}?{query}"

    def uri(self) -> str:
        """The ``file:`` URI every connection of this reader opens."""
        if self._copy is not None:
            return self._uri("mode=ro", self._copy)
        return self._uri("immutable=1" if self.mode == "immutable" else "mode=ro")

    def _copy_with_log(self, wal: Path) -> None:
        folder = Path(tempfile.mkdtemp(prefix="xmtc-readonly-"))
        target = folder / self.path.name
        try:
            shutil.copyfile(self.path, target)
            shutil.copyfile(wal, Path(f"{target}-wal"))
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise StoreError(
                f"{self.path}: cannot be read in place (read-only folder, and its write-ahead "
                f"log holds rows) nor copied to read ({exc.strerror or exc})"
            ) from None
        self._copy = target
        self.mode = "copy"

    @staticmethod
    def _probe(uri: str) -> None:
        con = sqlite3.connect(uri, uri=True, timeout=TIMEOUT_S)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()

    def connect(self) -> sqlite3.Connection:
        """A new read-only connection (the DB-API ``creator`` of a read-only engine)."""
        con = sqlite3.connect(self.uri(), uri=True, timeout=TIMEOUT_S, check_same_thread=False)
        con.execute("PRAGMA query_only=ON")
        return con

    def close(self) -> None:
        if self._copy is not None:
            shutil.rmtree(self._copy.parent, ignore_errors=True)
            self._copy = None


def damaged(path: Path, problem: str) -> StoreError:
    problem = " ".join(problem.replace("*** in database main ***", "").split())
    if len(problem) > 200:
        problem = problem[:197] + "..."
    return StoreError(f"{path}: the database file is damaged ({problem}); {recovery(path)}")


def not_ours(path: Path, what: str) -> StoreError:
    return StoreError(
        f"{path}: {what}, not a results database of this harness; the file was not changed; "
        "use a new database path"
    )


def check_header(path: Path) -> bool:
    """False for an empty file (a new database); raises for a file that is not SQLite."""
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a database file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(HEADER))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the database file ({exc.strerror})") from None
    if not head:
        return False
    if head != HEADER:
        raise not_ours(path, "not a SQLite database (the file does not start with its header)")
    return True


def _tables(con: sqlite3.Connection) -> list[str]:
    rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(str(r[0]) for r in rows if not str(r[0]).startswith("sqlite_"))


def check_schema(con: sqlite3.Connection, path: Path, *, writing: bool) -> None:
    """Refuse a SQLite file that is not a results database, or whose schema record is
    damaged; an empty database is fine to create the schema in (``writing``)."""
    from harness.store.schema import SCHEMA_VERSION

    tables = _tables(con)
    if not tables:
        if writing:
            return
        raise StoreError(f"{path}: holds no results yet (an empty database)")
    if "schema_version" not in tables:
        shown = ", ".join(tables[:6]) + (", ..." if len(tables) > 6 else "")
        raise not_ours(path, f"a SQLite database of other tables ({shown})")
    rows = con.execute("SELECT version, typeof(version) FROM schema_version").fetchall()
    for value, kind in rows:
        if kind != "integer" or value < 1:
            raise damaged(path, f"schema_version holds {value!r}, not a version number")
    if not rows:
        if tables == ["schema_version"] and writing:
            return  # created, then stopped before the first migration committed
        raise damaged(path, "schema_version holds no version")
    newest = max(v for v, _ in rows)
    if newest > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {newest} is newer than this harness understands "
            f"({SCHEMA_VERSION}); upgrade xmtc-harness"
        )
    missing = [t for t in HARNESS_TABLES if t not in tables]
    if missing:
        raise damaged(path, f"table {missing[0]} is missing")
    later = {c for version, cols in ADDED_IN.items() if version > newest for c in cols}
    for table in _harness_tables(HARNESS_TABLES):
        present = {r[1] for r in con.execute(f'PRAGMA table_info("{table.name}")')}
        needed = [c.name for c in table.columns if c.name not in later]
        lacking = [c for c in needed if c not in present]
        if lacking:
            raise damaged(path, f"table {table.name} has no column {lacking[0]}")


# -- values: every stored value as its column declares it -----------------------------------


NO_NUL = "instr(CAST({0} AS BLOB), x'00') = 0"
"""SQLite's functions stop at a NUL byte; Python's parsers do not."""
_D, _T = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]", "[0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
DATETIME_FORMS = (_D, f"{_D} {_T}", f"{_D} {_T}.[0-9][0-9][0-9][0-9][0-9][0-9]")
"""How SQLAlchemy stores a datetime in SQLite (and a bare date)."""


def _condition(column: str, coltype: object, nullable: bool) -> str:
    """An SQL condition true when ``column`` holds a value of its declared type."""
    q = f'"{column}"'
    allowed = getattr(coltype, "allowed", None)
    if isinstance(coltype, TypeDecorator):
        coltype = coltype.impl_instance
    if allowed is not None:
        words = ", ".join("'" + w.replace("'", "''") + "'" for w in sorted(allowed))
        cond = f"{q} IN ({words})"
    elif isinstance(coltype, Boolean):
        cond = f"{q} IN (0, 1)"
    elif isinstance(coltype, Integer):
        cond = f"typeof({q}) = 'integer'"
    elif isinstance(coltype, Float):
        cond = f"typeof({q}) IN ('real', 'integer')"
    elif isinstance(coltype, JSON):
        cond = f"typeof({q}) = 'text' AND {NO_NUL.format(q)} AND json_valid({q})"
    elif isinstance(coltype, DateTime):
        forms = " OR ".join(f"{q} GLOB '{form}'" for form in DATETIME_FORMS)
        cond = f"typeof({q}) = 'text' AND {NO_NUL.format(q)} AND ({forms})"
        cond += f" AND datetime({q}) IS NOT NULL"
    elif isinstance(coltype, String | Text):
        cond = f"typeof({q}) = 'text'"
    else:
        return "1"
    return f"({q} IS NULL OR {cond})" if nullable else f"({cond})"


def value_problem(con: sqlite3.Connection, tables: Iterable[Table]) -> str | None:
    """The first stored value that is not of its column's declared type (a damaged or
    hand-edited file), as ``table.column of row id N holds ...``; None when all are."""
    for table in tables:
        present = {r[1] for r in con.execute(f'PRAGMA table_info("{table.name}")')}
        cols = [c for c in table.columns if c.name in present]
        if not cols:
            continue
        conds = [_condition(c.name, c.type, bool(c.nullable)) for c in cols]
        sql = (
            f'SELECT rowid, {", ".join(conds)} FROM "{table.name}" '
            f"WHERE NOT ({' AND '.join(conds)}) LIMIT 1"
        )
        row = con.execute(sql).fetchone()
        if row is None:
            continue
        bad = next(c for c, ok in zip(cols, row[1:], strict=True) if not ok)
        (value,) = con.execute(
            f'SELECT "{bad.name}" FROM "{table.name}" WHERE rowid = ?', (row[0],)
        ).fetchone()
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"{table.name}.{bad.name} of row id {row[0]} holds {shown}"
    return None


def _harness_tables(names: Iterable[str]) -> list[Table]:
    from harness.store.schema import Base

    return [Base.metadata.tables[n] for n in names if n in Base.metadata.tables]


def check_file(path: Path, reader: ReadOnlyFile | None, *, writing: bool) -> None:
    """Refuse ``path`` unless it is a new database or a sound results database: a file that
    is not SQLite, a SQLite database of other tables, a damaged schema record or a value
    that is not of its column's type (and, before writing, one that fails SQLite's quick
    check) is one :class:`StoreError` naming the problem and how to recover."""
    if reader is None:
        return  # an empty file: a new database
    con = sqlite3.connect(reader.uri(), uri=True, timeout=TIMEOUT_S)
    try:
        check_schema(con, path, writing=writing)
        tables = set(_tables(con))
        if writing:
            (result,) = con.execute("PRAGMA quick_check(1)").fetchone()
            if result != "ok":
                raise damaged(path, f"quick check: {result}")
        names = HARNESS_TABLES if writing else SMALL_TABLES
        problem = value_problem(con, _harness_tables(n for n in names if n in tables))
        if problem is not None:
            raise damaged(path, problem)
    except SQLITE_ERRORS as exc:
        raise damaged(path, str(exc)) from None
    finally:
        con.close()


def check_writable(path: Path) -> None:
    """Refuse, before any work, a database this process may not write: the file read-only,
    or (in WAL mode) a folder where SQLite cannot create its log beside it."""
    logs = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    folder_needed = not all(p.exists() for p in logs)
    if (
        not os.access(path, os.W_OK)
        or (folder_needed and not os.access(path.parent, os.W_OK | os.X_OK))
        or any(p.exists() and not os.access(p, os.W_OK) for p in logs)
    ):
        raise StoreError(
            f"{path}: the database is read-only (no permission to write it or its folder); "
            "committed rows are intact and can be read (query, leaderboard)"
        )


def diagnose(reader: ReadOnlyFile, path: Path) -> str | None:
    """Why the file cannot be read as a results database (quick check, schema, every
    stored value), as one line; None when nothing is wrong with it."""
    try:
        con = sqlite3.connect(reader.uri(), uri=True, timeout=TIMEOUT_S)
    except SQLITE_ERRORS as exc:
        return str(damaged(path, str(exc)))
    try:
        (result,) = con.execute("PRAGMA quick_check(1)").fetchone()
        if result != "ok":
            return str(damaged(path, f"quick check: {result}"))
        check_schema(con, path, writing=False)
        problem = value_problem(con, _harness_tables(set(_tables(con))))
        return None if problem is None else str(damaged(path, problem))
    except StoreError as exc:
        return str(exc)
    except SQLITE_ERRORS as exc:
        return str(damaged(path, str(exc)))
    finally:
        con.close()
