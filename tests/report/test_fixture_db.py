"""The reporting tests' database (tests/helpers/report_db.py) holds what they rely on."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.report_db import build_report_db


def test_builder_writes_every_outcome(tmp_path: Path) -> None:
    import sqlite3

    from harness.store.schema import OUTCOMES

    build_report_db(tmp_path / "r.db").dispose()
    con = sqlite3.connect(tmp_path / "r.db")
    seen = {o for (o,) in con.execute("SELECT DISTINCT outcome FROM trials")}
    assert seen == set(OUTCOMES)
    (n_runs,) = con.execute("SELECT COUNT(*) FROM runs").fetchone()
    assert n_runs == 4
