"""Read-side selection of runs and trials, shared by ``query``, ``leaderboard``, ``compare``,
``examples`` and ``report``.

Every reporting command selects runs by the same options, so the SQL for that selection
lives here once (SQLAlchemy 2.0 ``select()``). Aggregation happens in the database: the
leaderboard reads per (run, bin) sums (:func:`cell_sums`), never every trial's row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Float,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, defer

from harness.errors import HarnessError
from harness.store.schema import Run, Trial
from harness.vocab import Outcome, RunStatus


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
    """The selected runs without their configuration (which holds every label name, a
    megabyte a run at 10^5 labels; reading it raises: :func:`get_run` loads it)."""
    return flt.apply(select(Run)).options(defer(Run.config, raiseload=True)).order_by(Run.id)


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


EXPORT_BATCH = 1000
"""Trials fetched at a time by :func:`iter_trials`."""


def iter_trials(
    session: Session,
    flt: RunFilter,
    outcomes: Iterable[str] = (),
    bins: Iterable[int] = (),
    limit: int | None = None,
) -> Iterator[Trial]:
    """The trials :func:`select_trials` lists, fetched :data:`EXPORT_BATCH` at a time (a
    server-side cursor on PostgreSQL), so exporting 10^6 trials never holds them all."""
    stmt = trials_statement(flt, outcomes, bins, limit).execution_options(yield_per=EXPORT_BATCH)
    yield from session.scalars(stmt)


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


class CellSums(NamedTuple):
    """Sums over the trials of one (run, bin): what every leaderboard number is computed
    from (means are sums over counts, so cells add up into rows and totals exactly as their
    trials would)."""

    run_id: int
    bin_index: int
    n_trials: int
    n_skipped: int
    n_errors: int
    successes: int
    similarity_sum: float
    """Over successes with a similarity."""
    similarity_n: int
    angular_sum: float
    """Σ 1 − arccos(clip(similarity, −1, 1))/π over the same successes."""
    rate_sum: float
    """Σ change rate over successes (n_changed / n_words where no rate was stored)."""
    rate_n: int
    changed_sum: int
    """Σ n_changed over successes (the pooled change rate's numerator)."""
    words_sum: int
    """Σ n_words over successes."""
    queries_sum: int
    """Σ logical queries over attempted trials (neither skipped nor errored)."""
    passes_sum: int
    seconds_sum: float


_SQL_ACOS: dict[str, bool] = {}


def _has_acos(session: Session) -> bool:
    """Whether the database has ``acos`` (PostgreSQL does; SQLite when built with its math
    functions, as Python's usually is), asked once per database on a connection of its own."""
    bind = session.get_bind()
    key = str(bind.url)
    if key not in _SQL_ACOS:
        try:
            with bind.connect() as conn:
                conn.execute(select(func.acos(0.5))).scalar()
            _SQL_ACOS[key] = True
        except SQLAlchemyError:
            _SQL_ACOS[key] = False
    return _SQL_ACOS[key]


def _with_similarity() -> Any:
    return and_(Trial.outcome == Outcome.SUCCESS, Trial.similarity.is_not(None))


def cell_sums_statement(run_ids: Sequence[int], sql_acos: bool) -> Select[Any]:
    """The ``GROUP BY (run, bin)`` of :func:`cell_sums`: every column it reads is in the
    covering index ``ix_trials_run_bin_stats``. Without ``sql_acos`` the angular sum is NULL."""
    success = Trial.outcome == Outcome.SUCCESS
    attempted = Trial.outcome.not_in([Outcome.SKIPPED_NOT_ATTACKABLE, Outcome.ERROR])
    with_sim = _with_similarity()
    rate = case(
        (Trial.change_rate.is_not(None), Trial.change_rate),
        (Trial.n_words != 0, cast(Trial.n_changed, Float) / Trial.n_words),
    )
    clipped = case(
        (Trial.similarity > 1.0, literal(1.0)),
        (Trial.similarity < -1.0, literal(-1.0)),
        else_=Trial.similarity,
    )
    angular = (
        func.sum(case((with_sim, 1.0 - func.acos(clipped) / math.pi)))
        if sql_acos
        else literal(None)
    )

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    return (
        select(
            Trial.run_id,
            Trial.bin_index,
            func.count(),
            count_if(Trial.outcome == Outcome.SKIPPED_NOT_ATTACKABLE),
            count_if(Trial.outcome == Outcome.ERROR),
            count_if(success),
            func.sum(case((with_sim, Trial.similarity))),
            func.count(case((with_sim, Trial.similarity))),
            angular,
            func.sum(case((success, rate))),
            func.count(case((success, rate))),
            func.sum(case((success, Trial.n_changed))),
            func.sum(case((success, Trial.n_words))),
            func.sum(case((attempted, Trial.logical_queries))),
            func.sum(case((attempted, Trial.forward_passes))),
            func.sum(case((attempted, Trial.wall_seconds))),
        )
        .where(Trial.run_id.in_(list(run_ids)))
        .group_by(Trial.run_id, Trial.bin_index)
        .order_by(Trial.run_id, Trial.bin_index)
    )


def cell_sums(
    session: Session, run_ids: Iterable[int], sql_acos: bool | None = None
) -> list[CellSums]:
    """Per (run, bin) sums of the selected runs' trials, read in one ``GROUP BY``
    (:func:`cell_sums_statement`). The angular similarity is summed in SQL where the
    database has ``acos`` (``sql_acos``: None asks it), else from the successes'
    similarities read back."""
    ids = list(run_ids)
    if not ids:
        return []
    use_acos = _has_acos(session) if sql_acos is None else sql_acos
    rows = [list(r) for r in session.execute(cell_sums_statement(ids, use_acos))]
    if not use_acos:
        sims = session.execute(
            select(Trial.run_id, Trial.bin_index, Trial.similarity).where(
                Trial.run_id.in_(ids), _with_similarity()
            )
        ).all()
        totals: dict[tuple[int, int], float] = {}
        for rid, b, sim in sims:
            angle = math.acos(min(1.0, max(-1.0, float(sim))))
            totals[(rid, b)] = totals.get((rid, b), 0.0) + (1.0 - angle / math.pi)
        for r in rows:
            r[8] = totals.get((r[0], r[1]), 0.0)
    return [
        CellSums(
            run_id=int(r[0]),
            bin_index=int(r[1]),
            n_trials=int(r[2]),
            n_skipped=int(r[3] or 0),
            n_errors=int(r[4] or 0),
            successes=int(r[5] or 0),
            similarity_sum=float(r[6] or 0.0),
            similarity_n=int(r[7] or 0),
            angular_sum=float(r[8] or 0.0),
            rate_sum=float(r[9] or 0.0),
            rate_n=int(r[10] or 0),
            changed_sum=int(r[11] or 0),
            words_sum=int(r[12] or 0),
            queries_sum=int(r[13] or 0),
            passes_sum=int(r[14] or 0),
            seconds_sum=float(r[15] or 0.0),
        )
        for r in rows
    ]


class PairOutcome(NamedTuple):
    """One trial reduced to what a paired comparison needs."""

    trial_index: int
    sample_id: str
    targets: tuple[int, ...]
    bin_index: int
    outcome: str


@lru_cache(maxsize=65_536)
def _targets_of(stored: str) -> tuple[int, ...]:
    """A stored target list (JSON text) as label indices; runs repeat few distinct lists,
    so each is parsed once."""
    return tuple(int(t) for t in json.loads(stored) or ())


def pair_outcomes(session: Session, run_id: int) -> list[PairOutcome]:
    """Each trial of a run keyed by (sample_id, target labels), in trial order.

    Read on the session's connection without the ORM's row handling and with the target
    lists as their stored text, from the covering index ``ix_trials_run_pairs`` on SQLite: a
    run of 50,000 trials in a third of a second, not one and a half."""
    stmt = (
        select(
            Trial.trial_index,
            Trial.sample_id,
            type_coerce(Trial.target_labels, String),
            Trial.bin_index,
            Trial.outcome,
        )
        .where(Trial.run_id == run_id)
        .order_by(Trial.trial_index)
    )
    out = []
    for ti, sid, targets, b, oc in session.connection().execute(stmt):
        if isinstance(targets, str):
            labels = _targets_of(targets)
        else:  # a driver that decodes JSON itself (psycopg) hands a list, or None
            labels = tuple(int(t) for t in targets or ())
        out.append(PairOutcome(ti, sid, labels, b, oc))
    return out


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
