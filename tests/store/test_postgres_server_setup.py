"""The PostgreSQL tests skip for one reason only, the server binaries being absent, and say
so; a server that is installed but does not start, or CI ($XMTC_TEST_POSTGRES=required)
without one, fails them instead. Each case runs one PostgreSQL test in a pytest of its own,
pointed at a binaries folder through $XMTC_TEST_PG_BINDIR."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import REPO, cli_env
from tests.helpers.postgres import BINDIR_ENV, REQUIRED_ENV

A_POSTGRES_TEST = "tests/store/test_backends.py::test_a_postgres_database_without_results_is_named"


def _pytest(bindir: Path, required: bool) -> subprocess.CompletedProcess[str]:
    env = cli_env({BINDIR_ENV: str(bindir)})
    env.pop(REQUIRED_ENV, None)
    if required:
        env[REQUIRED_ENV] = "required"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-ra", A_POSTGRES_TEST],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_no_binaries_skips_with_the_reason(tmp_path: Path) -> None:
    res = _pytest(tmp_path / "nowhere", required=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 skipped" in res.stdout
    assert "SKIPPED" in res.stdout and "server binaries (initdb, pg_ctl, postgres) not found" in (
        res.stdout
    )


def test_no_binaries_fails_where_postgres_is_required(tmp_path: Path) -> None:
    res = _pytest(tmp_path / "nowhere", required=True)
    assert res.returncode != 0
    assert "1 error" in res.stdout and " skipped" not in res.stdout.splitlines()[-1]
    assert "PostgreSQL is required here" in res.stdout


@pytest.mark.parametrize("required", [False, True])
def test_binaries_that_do_not_start_fail_never_skip(tmp_path: Path, required: bool) -> None:
    """A broken installation (every binary exits 1) is an error, required or not."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tmp_path.chmod(0o755)  # reachable by the account the server runs as under root
    for name in ("initdb", "pg_ctl", "postgres"):
        script = bindir / name
        script.write_text("#!/bin/sh\necho 'broken installation' >&2\nexit 1\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    res = _pytest(bindir, required=required)
    assert res.returncode != 0
    assert "1 error" in res.stdout and " skipped" not in res.stdout.splitlines()[-1]
    assert "the PostgreSQL test server did not start" in res.stdout
