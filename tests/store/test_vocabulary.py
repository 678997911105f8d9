"""The schema takes only the words of the vocabulary, and every status is selectable."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.vocab import RunStatus
from tests.helpers.cli import invoke
from tests.helpers.report_db import _run, build_report_db


def test_an_unknown_outcome_or_status_is_refused_on_write(tmp_path: Path) -> None:
    store = build_report_db(tmp_path / "r.db")
    with pytest.raises(StoreError, match="not a RunStatus"):
        store.write(lambda s: s.add(_run(model="m", loss="l", weighting="none",
                                         attack="positive", status="paused")))  # fmt: skip
    store.dispose()


def test_every_run_status_is_a_query_choice(tmp_path: Path) -> None:
    build_report_db(tmp_path / "r.db").dispose()
    for status in RunStatus:
        res = invoke("query", "runs", "--status", status, "--format", "json", db=tmp_path / "r.db")
        assert '"rows"' in res.stdout
