"""Trained models in the results database: find them, list them, record a new one.

The only code that reads or writes ``trained_models``. Recording runs under the
database-wide write lock together with saving the checkpoint, so two processes that trained
the same specification at once save and record one after the other, and the second can
adopt the first one's checkpoint instead of overwriting it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from harness.store.schema import Run, TrainedModel
from harness.store.session import Store


def find_by_spec(store: Store, spec_hash: str) -> TrainedModel | None:
    """The model recorded under this specification hash, if any."""
    with store.read() as s:
        return s.scalar(select(TrainedModel).where(TrainedModel.spec_hash == spec_hash))


def same_plugins_and_seed(
    store: Store, dataset: str, model: str, loss: str, seed: int
) -> list[TrainedModel]:
    """Models trained with these plugins and seed, oldest first (whatever their options)."""
    with store.read() as s:
        stmt = select(TrainedModel).where(
            TrainedModel.dataset == dataset,
            TrainedModel.model == model,
            TrainedModel.loss == loss,
            TrainedModel.seed == seed,
        )
        return list(s.scalars(stmt.order_by(TrainedModel.id)))


def get_model(store: Store, model_id: int) -> TrainedModel | None:
    """The recorded model with this id, if any."""
    with store.read() as s:
        return s.get(TrainedModel, model_id)


def runs_of_model(store: Store, model_id: int) -> list[int]:
    """The ids of the runs that attacked this trained model."""
    with store.read() as s:
        stmt = select(Run.id).where(Run.trained_model_id == model_id).order_by(Run.id)
        return [int(i) for i in s.scalars(stmt)]


def model_of_run(store: Store, run_id: int) -> TrainedModel | None:
    """The trained model a run attacked (None when the run or its model is unknown)."""
    with store.read() as s:
        run = s.get(Run, run_id)
        if run is None or run.trained_model_id is None:
            return None
        return s.get(TrainedModel, run.trained_model_id)


def list_models(
    store: Store, dataset: str | None = None, model: str | None = None
) -> list[TrainedModel]:
    """Recorded models, oldest first; ``dataset`` matches the corpus or the plugin name."""
    with store.read() as s:
        stmt = select(TrainedModel).order_by(TrainedModel.id)
        if dataset:
            stmt = stmt.where(or_(TrainedModel.dataset == dataset, TrainedModel.corpus == dataset))
        if model:
            stmt = stmt.where(TrainedModel.model == model)
        return list(s.scalars(stmt))


def record_model(
    store: Store,
    spec_hash: str,
    values: dict[str, Any],
    save: Callable[[], tuple[str, str]],
    adopt: Callable[[TrainedModel], bool] | None = None,
) -> tuple[TrainedModel, bool]:
    """Save a trained model and record it, under the write lock.

    ``save()`` writes the checkpoint and returns its folder and content hash. When a row for
    ``spec_hash`` exists and ``adopt(row)`` is true (its checkpoint is intact), that row is
    kept and nothing is saved; otherwise the row is created, or updated when its checkpoint
    was lost. Returns the row and whether it was adopted.
    """

    def txn(s: Session) -> tuple[TrainedModel, bool]:
        row = s.scalar(select(TrainedModel).where(TrainedModel.spec_hash == spec_hash))
        if row is not None and adopt is not None and adopt(row):
            return row, True
        path, content = save()
        fields = {**values, "checkpoint_path": path, "checkpoint_hash": content}
        if row is None:
            row = TrainedModel(spec_hash=spec_hash, **fields)
            s.add(row)
        else:
            for k, v in fields.items():
                setattr(row, k, v)
        s.flush()
        return row, False

    return store.serialised(txn)
