"""Shared fixtures: where the real data lives, and an isolated results database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("XMTC_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (``../shared/data`` beside the checkout, or $XMTC_DATA_DIR)."""
    return DATA_ROOT


@pytest.fixture(scope="session")
def reuters_dir(data_root: Path) -> Path:
    path = data_root / "reuters21578"
    if not (path / "reut2-000.sgm").exists():
        pytest.fail(f"Reuters-21578 not found at {path}; set XMTC_DATA_DIR")
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite results database in a temporary folder."""
    return f"sqlite:///{tmp_path / 'results.db'}"
