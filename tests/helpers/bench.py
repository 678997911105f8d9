"""Run a ``bench/`` script's quick mode in a temporary folder, as its tests do.

Every benchmark test checks the same things first (the script exits 0, it wrote its JSON);
the models and database go to the test's folder so the repository's are never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run_quick(script: str, tmp_path: Path, *extra: str, timeout: int = 900) -> dict[str, Any]:
    """``bench/<script> --quick --quiet`` with ``extra`` arguments; its JSON results."""
    out = tmp_path / f"{Path(script).stem}.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / script),
            "--quick",
            "--quiet",
            *extra,
            "--out",
            str(out),
            "--model-dir",
            str(tmp_path / "models"),
            "--db",
            str(tmp_path / "results.db"),
        ],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())
