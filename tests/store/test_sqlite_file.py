"""The results database as hostile input (issue 13, items 4 and 6): an empty or in-memory
``--db``, a URL whose backend or driver is missing, a file that is not SQLite, a SQLite
file of another program, a damaged harness database. Each is one line naming the problem
(and how to recover), exit code 2, the file byte for byte unchanged, and, for a command
that writes, refused before anything is written or trained.

Then generated damage (hypothesis): a realistic results database truncated, with bytes
replaced at random offsets, with pages overwritten, or replaced by a foreign schema, read
by every reporting command (several hundred examples), and an ``eval`` on a damaged copy of
a trained workspace: exit 0 or exit 2 with one line, never a traceback, within a CPU bound;
a reading command leaves the file unchanged, and a write keeps every committed trial.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.cli import main_captured
from tests.helpers.report_db import build_report_db
from tests.helpers.workspace import Workspace, make_workspace, stored_trials

CPU_BOUND_S = 20.0  # a hang detector, not a measurement: a command takes well under a second
READERS = (
    ["query"],
    ["query", "trials", "--format", "json"],
    ["query", "--sql", "SELECT count(*) FROM trials"],
    ["leaderboard"],
    ["leaderboard", "--summary", "--format", "csv"],
    ["models"],
    ["examples", "--run", "1"],
    ["compare", "1", "2"],
)


def one_line(code: int, err: str, *needles: str) -> str:
    assert code == 2 and "Traceback" not in err, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("dbfile") / "ws", trials=3)


@pytest.fixture(scope="module")
def report_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A realistic results database (four runs, every outcome), checkpointed into one file
    (read its bytes; never write it)."""
    path = tmp_path_factory.mktemp("reportdb") / "r.db"
    build_report_db(path, per_bin=3).dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


# --- item 4: a database that keeps nothing ----------------------------------------------------


@pytest.mark.parametrize("db", ["", "  ", "sqlite://", "sqlite:///:memory:"])
def test_empty_or_in_memory_database_is_refused_before_training(
    workspace: Workspace, tmp_path: Path, db: str
) -> None:
    ws = Workspace(tmp_path)  # nothing trained here: a refusal must come first
    code, _out, err = main_captured(ws.eval_args(db=db))
    one_line(code, err, "--db" if not db.strip() else "in-memory")
    assert not ws.models.exists() and not ws.cache.exists()


def test_empty_database_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XMTC_HARNESS_DB", "")
    monkeypatch.chdir(tmp_path)
    code, _out, err = main_captured(["query"])
    one_line(code, err, "--db", "$XMTC_HARNESS_DB is set but empty")
    assert list(tmp_path.iterdir()) == []


def test_unknown_and_unsupported_backends(tmp_path: Path) -> None:
    """A backend SQLAlchemy does not know, and one it knows but the harness does not
    support (whether or not its driver is installed), are one line naming what is
    supported, with the password masked."""
    code, _out, err = main_captured(["--db", "nosuchdb://u:secret@host/x", "query"])
    one_line(code, err, "unsupported database 'nosuchdb'")
    assert "secret" not in err and "***" in err
    for url in ("mssql+pyodbc", "mysql+mysqldb"):
        code, _out, err = main_captured(["--db", f"{url}://u:secret@host/x", "query"])
        one_line(code, err, "unsupported database")
        assert "PostgreSQL" in err and "secret" not in err and "***" in err


# --- item 6: files that are not (sound) results databases -------------------------------------


def _foreign(path: Path) -> Path:
    con = sqlite3.connect(path)  # a rollback-journal database of another program
    con.execute("CREATE TABLE people (name TEXT, age INTEGER)")
    con.execute("INSERT INTO people VALUES ('ada', 36)")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("kind", ["foreign", "not-sqlite"])
def test_other_files_are_never_modified(workspace: Workspace, tmp_path: Path, kind: str) -> None:
    db = tmp_path / "other.db"
    if kind == "foreign":
        _foreign(db)
    else:
        db.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 50)
    before = digest(db)
    for args in (
        ["--db", str(db), "query"],
        ["--db", str(db), "leaderboard"],
        ["--db", str(db), "models"],
        workspace.eval_args("--limit", "1", db=db),
        workspace.train_args("--force", db=db),
    ):
        code, _out, err = main_captured(args)
        one_line(code, err, str(db), "not a results database", "new database path")
        assert digest(db) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]  # no -wal, no -shm


def _damage_middle(db: Path) -> None:
    data = bytearray(db.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = b"\xff" * 3000
    db.write_bytes(bytes(data))


def test_garbage_mid_file_is_refused_before_writing(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace.copy(tmp_path / "ws")
    _damage_middle(ws.db)
    before = digest(ws.db)
    code, _out, err = main_captured(ws.eval_args())
    line = one_line(code, err, str(ws.db), "damaged", "integrity_check", ".recover")
    assert "quick check" in line or "malformed" in line
    assert digest(ws.db) == before


def test_damaged_database_reading_commands_are_one_line(tmp_path: Path, report_db: Path) -> None:
    db = tmp_path / "r.db"
    db.write_bytes(report_db.read_bytes())
    _damage_middle(db)
    before = digest(db)
    outcomes = [main_captured(["--db", str(db), *cmd]) for cmd in READERS]
    assert any(code == 2 for code, _, _ in outcomes)  # the damage is met by some reader
    for code, _out, err in outcomes:
        if code != 0:
            one_line(code, err, str(db), "damaged")
    assert digest(db) == before


@pytest.mark.parametrize(
    "sql, needle",
    [
        (
            "DROP TABLE schema_version; CREATE TABLE schema_version (version TEXT);"
            " INSERT INTO schema_version VALUES ('two')",
            "schema_version holds 'two'",
        ),
        ("UPDATE schema_version SET version = -3 WHERE version = 1", "schema_version holds -3"),
        ("UPDATE schema_version SET version = 99999999999 WHERE version = 2", "newer than this"),
        ("DELETE FROM schema_version", "schema_version holds no version"),
        ("DROP TABLE trials", "table trials is missing"),
        ("UPDATE runs SET config = '{not json' WHERE id = 1", "runs.config of row id 1"),
        ("UPDATE runs SET k = 'five' WHERE id = 1", "runs.k of row id 1 holds 'five'"),
        ("UPDATE runs SET status = 'sleeping' WHERE id = 1", "runs.status of row id 1"),
    ],
)
def test_damaged_schema_record_or_values(
    workspace: Workspace, tmp_path: Path, sql: str, needle: str
) -> None:
    ws = workspace.copy(tmp_path / "ws")
    con = sqlite3.connect(ws.db)
    con.executescript(sql)
    con.commit()
    con.close()
    before = digest(ws.db)
    for args in (["--db", str(ws.db), "query"], ws.eval_args("--limit", "1")):
        code, _out, err = main_captured(args)
        one_line(code, err, needle)
        assert digest(ws.db) == before


def test_damaged_trial_value_is_refused_before_writing(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A trial's value of the wrong type: a reading command that meets it says so in one
    line; a writing command is refused before writing (it checks every value first)."""
    ws = workspace.copy(tmp_path / "ws")
    con = sqlite3.connect(ws.db)
    con.execute("UPDATE trials SET target_labels = '[1, 2' WHERE trial_index = 1")
    con.commit()
    con.close()
    before = digest(ws.db)
    code, _out, err = main_captured(["--db", str(ws.db), "query", "trials"])
    one_line(code, err, "trials.target_labels of row id")
    code, _out, err = main_captured(ws.eval_args())
    one_line(code, err, "trials.target_labels of row id")
    assert digest(ws.db) == before


# --- generated damage -------------------------------------------------------------------------

PAGE = 4096


@st.composite
def damage(draw: st.DrawFn, size: int) -> tuple[str, object]:
    """A damage to a file of ``size`` bytes, as a small description (what a failing example
    prints): a truncation, bytes replaced at random offsets, or a page overwritten."""
    kind = draw(st.sampled_from(["truncate", "bytes", "page"]))
    if kind == "truncate":
        return kind, draw(st.integers(0, size - 1))
    if kind == "page":
        return kind, (
            draw(st.integers(0, size // PAGE - 1)),
            draw(st.binary(min_size=16, max_size=64)),
        )
    n = draw(st.sampled_from([1, 1, 2, 5, 30]))
    return kind, draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, 255)),
                               min_size=n, max_size=n))  # fmt: skip


def damaged(data: bytes, how: tuple[str, object]) -> bytes:
    """``data`` with the damage ``how`` done to it."""
    kind, arg = how
    b = bytearray(data)
    if kind == "truncate":
        return bytes(b[: int(arg)])  # type: ignore[call-overload]
    if kind == "page":
        index, junk = arg  # type: ignore[misc]
        start = index * PAGE
        b[start : start + PAGE] = (junk * (PAGE // len(junk) + 1))[:PAGE]
        return bytes(b)
    for offset, xor in arg:  # type: ignore[union-attr]
        b[offset] ^= xor  # never the byte it was
    return bytes(b)


IDENT = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)


@st.composite
def foreign_schema(draw: st.DrawFn) -> list[str]:
    """SQL for a database of another program, sometimes with the harness's table names."""
    names = draw(
        st.lists(st.one_of(IDENT, st.sampled_from(["runs", "trials", "schema_version"])),
                 min_size=1, max_size=4, unique=True)
    )  # fmt: skip
    sql = []
    for name in names:
        cols = draw(st.lists(IDENT, min_size=1, max_size=4, unique=True))
        columns = ", ".join(f'"{c}" TEXT' for c in cols)  # quoted: a name may be a keyword
        sql.append(f'CREATE TABLE "{name}" ({columns})')
        sql.append(f'INSERT INTO "{name}" ("{cols[0]}") VALUES ({draw(st.integers(-5, 5))})')
    return sql


def _clean(code: int, err: str, progress: bool = False) -> None:
    """Exit 0, or exit 2 with one error line and no traceback (``progress``: after the
    lines an eval reports its progress with)."""
    assert "Traceback" not in err, err
    if code == 0:
        return
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    if progress:
        lines = [ln for ln in lines if not ln.startswith("run ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err


def _fresh_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(data)
    return path


REPORT_DB_BYTES = 34 * PAGE  # at least what build_report_db(per_bin=3) writes (checked)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(how=damage(REPORT_DB_BYTES), command=st.sampled_from(READERS))
def test_generated_damage_reading_commands(
    tmp_path_factory: pytest.TempPathFactory, report_db: Path, how: tuple[str, object],
    command: list[str],
) -> None:  # fmt: skip
    folder = tmp_path_factory.getbasetemp() / "damage-read"
    folder.mkdir(exist_ok=True)
    data = report_db.read_bytes()
    assert len(data) >= REPORT_DB_BYTES
    db = _fresh_file(folder, "r.db", damaged(data, how))
    before = digest(db)
    start = time.process_time()
    code, _out, err = main_captured(["--db", str(db), *command])
    assert time.process_time() - start < CPU_BOUND_S
    _clean(code, err)
    assert digest(db) == before  # reading never writes, whatever the damage


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(sql=foreign_schema(), command=st.sampled_from(READERS[:4] + (["models"],)))
def test_generated_foreign_schemas(
    tmp_path_factory: pytest.TempPathFactory, sql: list[str], command: list[str]
) -> None:
    folder = tmp_path_factory.getbasetemp() / "damage-foreign"
    folder.mkdir(exist_ok=True)
    db = _fresh_file(folder, "f.db", b"")
    con = sqlite3.connect(db)
    for statement in sql:
        con.execute(statement)
    con.commit()
    con.close()
    before = digest(db)
    code, _out, err = main_captured(["--db", str(db), *command])
    _clean(code, err)
    assert code == 2  # never read as results
    assert digest(db) == before


WORKSPACE_DB_BYTES = 16 * PAGE  # at least what the tiny workspace's database holds (checked)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(how=damage(WORKSPACE_DB_BYTES))
def test_generated_damage_eval(
    tmp_path_factory: pytest.TempPathFactory, workspace: Workspace, how: tuple[str, object]
) -> None:
    """An eval on a damaged copy of a trained workspace's database: refused with the file
    unchanged, or (damage SQLite cannot see, in a text) run with every committed trial
    kept."""
    folder = tmp_path_factory.getbasetemp() / "damage-eval"
    folder.mkdir(exist_ok=True)
    pristine = folder / "pristine.db"
    if not pristine.exists():
        src, dst = sqlite3.connect(workspace.db), sqlite3.connect(pristine)
        src.backup(dst)
        src.close()
        dst.close()
    data = pristine.read_bytes()
    assert len(data) >= WORKSPACE_DB_BYTES
    db = _fresh_file(folder, "results.db", damaged(data, how))
    before, committed = digest(db), stored_trials(db)
    start = time.process_time()
    code, _out, err = main_captured(workspace.eval_args("--limit", "1", "--no-train", db=db))
    assert time.process_time() - start < CPU_BOUND_S
    _clean(code, err, progress=True)
    if code == 2 and ("damaged" in err or "not a results database" in err):
        assert digest(db) == before  # refused before anything was written
    elif code == 2:
        assert (stored_trials(db) or []) == (committed or [])  # refused later: nothing stored
    else:
        after = stored_trials(db)
        assert committed is not None and after is not None
        assert set(committed) <= set(after)
