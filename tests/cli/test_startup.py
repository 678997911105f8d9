"""The read commands start without torch: the group imports a command's module only when it
runs, and only ``train``, ``eval`` and ``compare-models`` need the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.report_db import build_report_db

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import sys
from harness.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
print(sorted(m for m in ("torch", "transformers", "tensorflow") if m in sys.modules))
"""


def test_read_commands_do_not_import_torch(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    build_report_db(db).dispose()
    for argv in (
        ["query", "runs"],
        ["leaderboard"],
        ["leaderboard", "--summary"],
        ["compare", "1", "2"],
        ["examples", "--run", "1"],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, "--db", str(db), *argv],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, (argv, proc.stderr[-2000:])
        assert proc.stdout.strip().splitlines()[-1] == "[]", (argv, proc.stdout[-300:])


def test_every_command_is_listed_and_loads() -> None:
    from harness.cli import COMMAND_MODULES, all_commands

    assert sorted(c.name for c in all_commands()) == sorted(COMMAND_MODULES)
    help_text = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main(['--help'])"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    for name in COMMAND_MODULES:
        assert f"  {name} " in help_text
