"""The one way tests run the command line: in this process (:func:`invoke`, :func:`cli_output`,
:func:`run_main`) or in a fresh interpreter exactly as a user's shell runs it
(:func:`run_cli`, :func:`popen_cli`), plus the small synthetic campaign most tests use."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

REPO = Path(__file__).resolve().parents[2]
ENTRY = "from harness.cli import main; main()"
FLAKY = "tests.plugins_for_tests.failing"

# Small synthetic corpus + linear model: trains in seconds on one core.
SYNTH = (
    "--dataset", "synthetic", "--dataset-opt", "n_docs=400", "--dataset-opt", "n_labels=100",
    "--dataset-opt", "doc_length=40",
)  # fmt: skip


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("XMTC_HARNESS_DB", None)
    env.pop("XMTC_HARNESS_PLUGINS", None)
    env.pop("XMTC_HARNESS_REGISTRY", None)
    env.update(extra or {})
    return env


def cli_cmd(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", ENTRY, *args]


def run_cli(
    args: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``xmtc-harness ARGS`` in a fresh interpreter (exactly what a user's shell runs)."""
    return subprocess.run(
        cli_cmd(args),
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _interruptible() -> None:
    """In the child: Ctrl-C's default, so Python turns SIGINT into KeyboardInterrupt even
    when the tests themselves run as a background job (which inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen_cli(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None):
    """The CLI as a child process the test can signal (SIGINT behaves as Ctrl-C)."""
    return subprocess.Popen(
        cli_cmd(args),
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )


def eval_args(
    tmp: Path,
    *extra: str,
    db: str | None = None,
    attack: str = "positive",
    plugins: Sequence[str] = (),
) -> list[str]:
    """An ``eval`` over the small synthetic corpus, models and caches inside ``tmp``."""
    pre = [a for p in plugins for a in ("--plugin", p)]
    return [
        *pre, "--db", db or str(tmp / "results.db"), "eval", *SYNTH,
        "--model", "linear", "--epochs", "3",
        "--model-dir", str(tmp / "models"), "--cache-dir", str(tmp / "cache"),
        "--attack", attack, "--labels-per-bin", "2", "--samples-per-bin", "1",
        "--substituter", "glove", "--substituter-opt", "k=4", "--similarity", "use",
        "--max-queries", "25", "--no-progress", *extra,
    ]  # fmt: skip


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed command, asserted to be a single line and no traceback."""
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, f"no error message (rc={res.returncode}, stdout={res.stdout!r})"
    last = lines[-1]
    assert last.startswith("error:") or last.startswith("Error:"), res.stderr
    # Only the error line itself (click usage errors add a "Usage:"/"Try" preamble).
    assert sum(ln.lower().startswith("error") for ln in lines) == 1, res.stderr
    return last


def invoke(*args: str | Path, db: str | Path | None = None, expect: int | None = 0) -> Result:
    """``xmtc-harness [--db DB] ARGS`` in this process (click's runner, exceptions not
    caught); ``expect`` is the exit code it must end with (None: any)."""
    from harness.cli import cli

    argv = [str(a) for a in args]
    if db is not None:
        argv = ["--db", str(db), *argv]
    result = CliRunner().invoke(cli, argv, catch_exceptions=expect is None)
    if expect is not None:
        assert result.exit_code == expect, result.output
    return result


def cli_output(db: str | Path, *args: str | Path) -> str:
    """The standard output of a successful ``xmtc-harness --db DB ARGS``."""
    return invoke(*args, db=db).stdout


def run_main(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The console-script entry (``harness.cli.main``) in this process: exit code, stdout,
    stderr, as a user's terminal would see them."""
    from harness.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def main_captured(argv: Sequence[str]) -> tuple[int, str, str]:
    """``xmtc-harness ARGV`` in this process: (exit code, stdout, stderr)."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def assert_clean_outcome(code: int, err: str, *allowed: str) -> str:
    """Exit 0 with nothing on stderr, or exit 2 with one line naming one of ``allowed``."""
    assert "Traceback" not in err, err
    if code == 0:
        assert err == "", err
        return ""
    assert code == 2, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert any(a in lines[0] for a in allowed), err
    return lines[0]


__all__ = ["click"]
