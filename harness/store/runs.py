"""Writing a campaign: open or resume its run, set its plan, record each trial as it ends,
finish it. The only code that writes ``runs``, ``trials`` and ``substitutions``.

Each trial is committed in its own transaction under the unique (run, trial index) key, so a
campaign killed at any moment resumes exactly: :func:`done_indices` says what is stored,
and a trial another process stored first is reported, not written twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from harness.attack.search import Substitution
from harness.errors import StoreError
from harness.store import schema
from harness.store.schema import Run, Trial, utcnow
from harness.store.session import Store
from harness.vocab import RunStatus


@dataclass(frozen=True)
class NewRun:
    """What a run row holds when it is created (everything but its trials and status)."""

    config_hash: str
    config: dict[str, Any]
    seed: int
    dataset: str
    corpus: str
    model: str
    loss: str
    weighting: str
    attack: str
    cluster: bool
    k: int
    trained_model_id: int | None
    checkpoint_hash: str | None
    package_versions: dict[str, str]
    harness_version: str
    bins: list[dict[str, Any]]


def open_run(store: Store, new: NewRun, fresh: bool = False) -> int:
    """The id of the run with ``new.config_hash`` (resumed: status back to running), or of a
    new run created from ``new``; with ``fresh`` the existing one is marked superseded first.

    Runs under the database-wide write lock, so two processes started with one configuration
    cannot both miss the run and open two."""

    def create_or_resume(s: Session) -> int:
        stmt = select(Run).where(
            Run.config_hash == new.config_hash, Run.status != RunStatus.SUPERSEDED
        )
        existing = s.scalars(stmt.order_by(Run.id.desc())).first()
        if existing is not None and fresh:
            existing.status = RunStatus.SUPERSEDED
            existing = None
        if existing is not None:
            existing.status = RunStatus.RUNNING
            existing.error = None
            return int(existing.id)
        run = Run(status=RunStatus.RUNNING, **new.__dict__)
        s.add(run)
        s.flush()
        return int(run.id)

    return store.serialised(create_or_resume)


def resumable_run(store: Store, config_hash: str) -> Run | None:
    """The run :func:`open_run` would resume for this configuration hash, if any."""
    with store.read() as s:
        stmt = select(Run).where(Run.config_hash == config_hash, Run.status != RunStatus.SUPERSEDED)
        return s.scalars(stmt.order_by(Run.id.desc())).first()


def stored_pairs(store: Store, run_id: int) -> dict[int, tuple[str, tuple[int, ...]]]:
    """Each stored trial of a run as ``index -> (sample id, target labels)``: what its plan
    drew, to compare with a plan made again."""
    with store.read() as s:
        stmt = select(Trial.trial_index, Trial.sample_id, Trial.target_labels).where(
            Trial.run_id == run_id
        )
        return {
            int(i): (str(sid), tuple(int(t) for t in (targets or ())))
            for i, sid, targets in s.execute(stmt)
        }


def set_planned(store: Store, run_id: int, n_planned: int) -> None:
    """Record how many trials the run's plan holds."""

    def update(s: Session) -> None:
        run = s.get(Run, run_id)
        assert run is not None
        run.n_planned = n_planned

    store.write(update)


def done_indices(store: Store, run_id: int) -> set[int]:
    """The trial indices of the run already stored (what a resume skips)."""
    with store.read() as s:
        return set(s.scalars(select(Trial.trial_index).where(Trial.run_id == run_id)))


@dataclass
class TrialRecord:
    """The columns of one trial row, and its substitutions."""

    run_id: int
    trial_index: int
    sample_id: str
    target_labels: list[int]
    target_names: list[str]
    label_freq: int
    bin_index: int
    attack: str
    outcome: str
    n_words: int
    original_text: str
    logical_queries: int
    forward_passes: int
    wall_seconds: float
    similarity: float | None = None
    change_rate: float | None = None
    n_changed: int = 0
    changed_words: list[list[Any]] = field(default_factory=list)
    rank_before: int | None = None
    rank_after: int | None = None
    topk_before: list[int] = field(default_factory=list)
    topk_after: list[int] = field(default_factory=list)
    adversarial_text: str | None = None
    error_message: str | None = None
    substitutions: Sequence[Substitution] = ()


def record_trial(store: Store, record: TrialRecord) -> dict[str, Any] | None:
    """Commit one trial with its substitutions; returns the stored row as JSON-able values
    (what the ``xmtc_trial_recorded`` hook receives), or None when a trial with this
    (run, index) was already stored by another process."""
    columns = {k: v for k, v in record.__dict__.items() if k != "substitutions"}
    subs = [schema.Substitution(**s.__dict__) for s in record.substitutions]

    def insert(s: Session) -> dict[str, Any]:
        trial = Trial(**columns, substitutions=subs)
        s.add(trial)
        s.flush()
        cols = [c.name for c in Trial.__table__.columns]  # type: ignore[attr-defined]
        return json.loads(json.dumps({c: getattr(trial, c) for c in cols}, default=str))

    try:
        return store.write(insert)
    except IntegrityError:
        return None  # another process stored this trial first (same run, same index)
    except StoreError as exc:  # Store.write wraps IntegrityError in a StoreError
        if isinstance(exc.__cause__, IntegrityError):
            return None
        raise


def finish_run(store: Store, run_id: int, status: str, error: str | None = None) -> None:
    """Set the run's final status (and error message) and its finishing time."""

    def update(s: Session) -> None:
        run = s.get(Run, run_id)
        assert run is not None
        run.status = status
        run.error = error
        run.finished_at = utcnow()

    store.write(update)
