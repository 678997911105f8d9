"""Read-side selection of runs and trials, shared by ``query``, ``leaderboard``, ``compare``,
``examples`` and ``report``.

Every reporting command selects runs by the same options, so the SQL for that selection
lives here once (SQLAlchemy 2.0 ``select()``); the commands only aggregate and print.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from harness.errors import HarnessError
from harness.store.schema import Run, Trial
from harness.vocab import RunStatus


@dataclass(frozen=True)
class RunFilter:
    """Which runs a reporting command looks at; an empty field means 'any'.

    Tuples, not single values, so each option may be repeated on the command line
    (two models, say) and becomes an ``IN`` clause.
    """

    run_ids: tuple[int, ...] = ()
    datasets: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    losses: tuple[str, ...] = ()
    weightings: tuple[str, ...] = ()
    attacks: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    cluster: bool | None = None
    without_superseded: bool = False
    """Leave out runs started over afresh (see :meth:`for_pooling`)."""

    def for_pooling(self) -> RunFilter:
        """This selection as results are pooled (leaderboards, reports): a run superseded by
        a fresh start of the same configuration is left out unless asked for by id or by
        status, so its trials are never counted beside the new run's."""
        if self.run_ids or self.statuses:
            return self
        return replace(self, without_superseded=True)

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        """Add this filter's conditions on :class:`Run` to a statement that has Run in FROM."""
        if self.datasets:  # a corpus's own name, or its dataset plugin's
            names = list(self.datasets)
            stmt = stmt.where(or_(Run.dataset.in_(names), Run.corpus.in_(names)))
        pairs: list[tuple[Any, Sequence[Any]]] = [
            (Run.id, self.run_ids),
            (Run.model, self.models),
            (Run.loss, self.losses),
            (Run.weighting, self.weightings),
            (Run.attack, self.attacks),
            (Run.status, self.statuses),
        ]
        for column, values in pairs:
            if values:
                stmt = stmt.where(column.in_(list(values)))
        if self.cluster is not None:
            stmt = stmt.where(Run.cluster.is_(self.cluster))
        if self.without_superseded:
            stmt = stmt.where(Run.status != RunStatus.SUPERSEDED)
        return stmt

    def describe(self) -> str:
        """The selection in words, for report headers."""
        parts = []
        for name, values in (
            ("run", self.run_ids),
            ("dataset", self.datasets),
            ("model", self.models),
            ("loss", self.losses),
            ("weighting", self.weightings),
            ("attack", self.attacks),
            ("status", self.statuses),
        ):
            if values:
                parts.append(f"{name} {', '.join(map(str, values))}")
        if self.cluster is not None:
            parts.append("clustered" if self.cluster else "not clustered")
        if self.without_superseded:
            parts.append("superseded runs left out")
        return "; ".join(parts) if parts else "all runs"


def runs_statement(flt: RunFilter) -> Select[tuple[Run]]:
    return flt.apply(select(Run)).order_by(Run.id)


def select_runs(session: Session, flt: RunFilter) -> list[Run]:
    """The runs the filter selects, oldest first."""
    return list(session.scalars(runs_statement(flt)))


def require_runs(session: Session, flt: RunFilter) -> list[Run]:
    """Like :func:`select_runs`, but a selection that matches nothing is the user's error."""
    runs = select_runs(session, flt)
    missing = sorted(set(flt.run_ids) - {r.id for r in runs})
    if missing:
        ids = ", ".join(map(str, missing))
        raise HarnessError(f"run {ids} does not exist or does not match ({flt.describe()})")
    if not runs:
        raise HarnessError(f"no run matches the selection ({flt.describe()})")
    return runs


def get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise HarnessError(f"no run with id {run_id} in this database (see `query runs`)")
    return run


def trials_statement(
    flt: RunFilter,
    outcomes: Iterable[str] = (),
    bins: Iterable[int] = (),
    limit: int | None = None,
) -> Select[tuple[Trial]]:
    """Trials of the selected runs, optionally only some outcomes and bins, in run order."""
    stmt = flt.apply(select(Trial).join(Run, Trial.run_id == Run.id))
    outcomes, bins = list(outcomes), list(bins)
    if outcomes:
        stmt = stmt.where(Trial.outcome.in_(outcomes))
    if bins:
        stmt = stmt.where(Trial.bin_index.in_(bins))
    stmt = stmt.order_by(Trial.run_id, Trial.trial_index)
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


def select_trials(
    session: Session,
    flt: RunFilter,
    outcomes: Iterable[str] = (),
    bins: Iterable[int] = (),
    limit: int | None = None,
) -> list[Trial]:
    return list(session.scalars(trials_statement(flt, outcomes, bins, limit)))


class TrialStat(NamedTuple):
    """The columns of one trial that the aggregate tables need (no texts: cheap to load)."""

    run_id: int
    bin_index: int
    outcome: str
    similarity: float | None
    change_rate: float | None
    n_words: int
    n_changed: int
    logical_queries: int
    forward_passes: int
    wall_seconds: float


def trial_stats(session: Session, run_ids: Iterable[int]) -> list[TrialStat]:
    """Per-trial numbers for aggregation; loads columns only, not ORM objects or texts."""
    ids = list(run_ids)
    if not ids:
        return []
    stmt = (
        select(
            Trial.run_id,
            Trial.bin_index,
            Trial.outcome,
            Trial.similarity,
            Trial.change_rate,
            Trial.n_words,
            Trial.n_changed,
            Trial.logical_queries,
            Trial.forward_passes,
            Trial.wall_seconds,
        )
        .where(Trial.run_id.in_(ids))
        .order_by(Trial.run_id, Trial.trial_index)
    )
    return [TrialStat(*row) for row in session.execute(stmt)]


class PairOutcome(NamedTuple):
    """One trial reduced to what a paired comparison needs."""

    trial_index: int
    sample_id: str
    targets: tuple[int, ...]
    bin_index: int
    outcome: str


def pair_outcomes(session: Session, run_id: int) -> list[PairOutcome]:
    """Each trial of a run keyed by (sample_id, target labels), in trial order."""
    stmt = (
        select(
            Trial.trial_index, Trial.sample_id, Trial.target_labels, Trial.bin_index, Trial.outcome
        )
        .where(Trial.run_id == run_id)
        .order_by(Trial.trial_index)
    )
    return [
        PairOutcome(ti, sid, tuple(int(t) for t in targets or ()), b, oc)
        for ti, sid, targets, b, oc in session.execute(stmt)
    ]


RUN_COLUMNS = (
    "id",
    "status",
    "dataset",
    "corpus",
    "model",
    "loss",
    "weighting",
    "attack",
    "cluster",
    "k",
    "seed",
    "n_planned",
    "n_trials",
    "started_at",
    "finished_at",
    "config_hash",
    "checkpoint_hash",
    "harness_version",
    "bins",
    "error",
)
RUN_BRIEF_COLUMNS = (
    "id",
    "status",
    "dataset",
    "model",
    "loss",
    "weighting",
    "attack",
    "cluster",
    "n_planned",
    "n_trials",
    "started_at",
)

TRIAL_COLUMNS = (
    "run_id",
    "trial_index",
    "sample_id",
    "target_labels",
    "target_names",
    "label_freq",
    "bin_index",
    "attack",
    "outcome",
    "similarity",
    "change_rate",
    "n_words",
    "n_changed",
    "logical_queries",
    "forward_passes",
    "wall_seconds",
    "rank_before",
    "rank_after",
    "topk_before",
    "topk_after",
    "changed_words",
    "original_text",
    "adversarial_text",
    "error_message",
    "created_at",
)
TRIAL_BRIEF_COLUMNS = (
    "run_id",
    "trial_index",
    "sample_id",
    "target_names",
    "label_freq",
    "bin_index",
    "outcome",
    "similarity",
    "change_rate",
    "n_changed",
    "logical_queries",
    "rank_before",
    "rank_after",
)


def trial_counts(session: Session, run_ids: Iterable[int]) -> dict[int, int]:
    """Number of stored trials per run (one GROUP BY, not one query per run)."""
    ids = list(run_ids)
    if not ids:
        return {}
    stmt = select(Trial.run_id, func.count()).where(Trial.run_id.in_(ids)).group_by(Trial.run_id)
    return {rid: int(n) for rid, n in session.execute(stmt)}


def run_record(run: Run, n_trials: int) -> dict[str, Any]:
    """A run as a flat dict of the :data:`RUN_COLUMNS` (JSON-able values)."""
    rec: dict[str, Any] = {c: getattr(run, c) for c in RUN_COLUMNS if c != "n_trials"}
    rec["n_trials"] = n_trials
    for key in ("started_at", "finished_at"):
        if rec[key] is not None:
            rec[key] = rec[key].isoformat(timespec="seconds")
    return {c: rec[c] for c in RUN_COLUMNS}


def trial_record(trial: Trial) -> dict[str, Any]:
    """A trial as a flat dict of the :data:`TRIAL_COLUMNS` (JSON-able values)."""
    rec: dict[str, Any] = {c: getattr(trial, c) for c in TRIAL_COLUMNS}
    if rec["created_at"] is not None:
        rec["created_at"] = rec["created_at"].isoformat(timespec="seconds")
    return rec


def run_bin_ranges(run: Run) -> dict[int, tuple[int, int]]:
    """A run's bins as ``{index: (freq_low, freq_high)}`` from its stored JSON."""
    out: dict[int, tuple[int, int]] = {}
    for b in run.bins or []:
        try:
            out[int(b["index"])] = (int(b["freq_low"]), int(b["freq_high"]))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed entry: the bin is then shown by index only
    return out


def label_names(run: Run) -> list[str] | None:
    """The label names the campaign stored in ``config['label_names']``, if any."""
    names = (run.config or {}).get("label_names")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    return None
