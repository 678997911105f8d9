"""Shared fixtures: where the real data lives, and an isolated results database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.postgres import (
    PostgresMissing,
    PostgresServer,
    PostgresUnavailable,
    required,
    start_server,
)

REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("XMTC_DATA_DIR", REPO.parent / "shared" / "data"))
# Subprocesses and the dataset plugins find the corpus through the same variable.
os.environ.setdefault("XMTC_DATA_DIR", str(DATA_ROOT))


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


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster for one test module: 2 CPUs, no dashboard, a small object store,
    shut down (every Ray process with it) when the module ends. Yields its address (what
    ``--ray-address`` joins); this process stays connected, so a test can find, kill or
    question the workers a campaign started."""
    import logging

    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        logging_level=logging.ERROR,
        log_to_driver=False,
        namespace="xmtc-harness",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (tests/helpers/postgres.py); skipped
    with the reason only where the server binaries are missing (failed instead when
    $XMTC_TEST_POSTGRES=required); failed whenever binaries that are present do not start."""
    try:
        server = start_server()
    except PostgresMissing as exc:
        if required():
            pytest.fail(f"PostgreSQL is required here ($XMTC_TEST_POSTGRES) but: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")
    except PostgresUnavailable as exc:
        pytest.fail(f"the PostgreSQL test server did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh results database on each backend in turn: a SQLite file path, or the URL of
    an empty PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "results.db")
    return str(request.getfixturevalue("postgres_url"))
