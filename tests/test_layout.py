"""Where things may live: SQL only in ``harness/store/``, flag names only in ``harness/cli/``,
the method only in ``docs/method.md`` (no reference to a file the project does not have)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [REPO / p for p in out.split() if (REPO / p).is_file()]


def python_in(folder: str) -> list[Path]:
    return [p for p in tracked(f"{folder}/*.py", f"{folder}/**/*.py")]


SQL = re.compile(r"^\s*(from|import) sqlalchemy|\bexec_driver_sql\b|\bsqlite3\.connect\b", re.M)
FLAG = re.compile(r"""(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*\b""")


def test_no_sql_outside_the_store() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in python_in("harness")
        if "harness/store/" not in p.as_posix() and SQL.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders


def test_no_flag_name_outside_the_command_line() -> None:
    offenders = []
    for p in python_in("harness"):
        if "harness/cli/" in p.as_posix():
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if FLAG.search(line):
                offenders.append(f"{p.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_method_has_one_home() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in tracked()
        if p.suffix in {".py", ".md", ".sh", ".cfg", ".toml", ".yaml", ".html"}
        and ("METHOD" + ".md" in p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not offenders, offenders
    assert (REPO / "docs" / "method.md").is_file()
