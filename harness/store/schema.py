"""The results database schema (SQLAlchemy 2.0 ORM).

One row per evaluation run, per trained model, per attack trial, and per accepted word
substitution within a trial. Everything needed to reproduce a run is stored with it: the
full configuration and its hash, the seed, package versions and the checkpoint's hash.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from harness.vocab import AttackKind, Outcome, RunStatus, Weighting, values

SCHEMA_VERSION = 3

OUTCOMES = values(Outcome)
"""The closed set of trial outcomes (docs/method.md, 'Trial outcomes')."""

RUN_STATUSES = values(RunStatus)


def utcnow() -> datetime:
    return datetime.now(UTC)


class VocabString(TypeDecorator[str]):
    """A string column that only takes the words of one :mod:`harness.vocab` enum.

    Checked when a row is written (an unknown word is a bug, raised before it reaches the
    database); stored and read back as plain text, so the DDL is an ordinary VARCHAR.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int):
        super().__init__(length)
        self.enum = enum
        self.allowed = frozenset(values(enum))

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if str(value) not in self.allowed:
            raise ValueError(
                f"{value!r} is not a {self.enum.__name__}; expected one of {sorted(self.allowed)}"
            )
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value


class JSONText(TypeDecorator[Any]):
    """JSON kept as its text, as SQLite keeps it: what PostgreSQL's JSON columns hold.

    PostgreSQL's ``json`` type refuses ``NaN`` and ``Infinity``, which a metric with nothing
    to average over is; stored as text, every value reads back exactly as SQLite gives it.
    (Cast with ``::json`` to use PostgreSQL's JSON operators in a user's SQL query.)
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        return json.dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp written in UTC and read back as naive UTC on every backend (SQLite drops
    the zone; PostgreSQL's ``timestamptz`` answers in the session's zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value


PortableJSON = JSON().with_variant(JSONText(), "postgresql")


def free_text(length: int) -> String:
    """A column for text from the data (document ids, words, corpus names): VARCHAR(length)
    on SQLite, which never enforces the length, TEXT on PostgreSQL, which would refuse a
    longer value that SQLite keeps."""
    return String(length).with_variant(Text(), "postgresql")  # type: ignore[return-value]


SEED = Integer().with_variant(BigInteger(), "postgresql")
"""Seeds are any non-negative integer the user gives; PostgreSQL's INTEGER stops at 2**31."""


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: PortableJSON, list[Any]: PortableJSON}


class SchemaVersion(Base):
    """The schema version this database has been upgraded to (see session.MIGRATIONS)."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainedModel(Base):
    """A trained, saved model: what it was trained on, how, where its checkpoint is, how good."""

    __tablename__ = "trained_models"
    id: Mapped[int] = mapped_column(primary_key=True)
    spec_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    corpus: Mapped[str | None] = mapped_column(free_text(200))
    """The corpus's own name (its folder's, or ``name=``); ``dataset`` is the plugin's."""
    dataset_fingerprint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(100), index=True)
    model_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    loss: Mapped[str] = mapped_column(String(100))
    weighting: Mapped[str] = mapped_column(VocabString(Weighting, 20))
    loss_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(SEED)
    checkpoint_path: Mapped[str] = mapped_column(Text)
    checkpoint_hash: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    n_train: Mapped[int | None] = mapped_column(Integer)
    n_test: Mapped[int | None] = mapped_column(Integer)
    package_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)

    runs: Mapped[list[Run]] = relationship(back_populates="trained_model")

    @property
    def corpus_name(self) -> str:
        """The corpus's own name; the dataset plugin's for models recorded before schema 2."""
        return self.corpus or self.dataset


class Run(Base):
    """One evaluation campaign; resuming the same configuration reuses its row."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    config_hash: Mapped[str] = mapped_column(String(64), index=True)
    config: Mapped[dict[str, Any]] = mapped_column()
    seed: Mapped[int] = mapped_column(SEED)
    status: Mapped[str] = mapped_column(VocabString(RunStatus, 20), default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    corpus: Mapped[str | None] = mapped_column(free_text(200))
    """The corpus's own name (its folder's, or ``name=``); ``dataset`` is the plugin's."""
    model: Mapped[str] = mapped_column(String(100), index=True)
    loss: Mapped[str] = mapped_column(String(100))
    weighting: Mapped[str] = mapped_column(VocabString(Weighting, 20))
    attack: Mapped[str] = mapped_column(VocabString(AttackKind, 20), index=True)
    cluster: Mapped[bool] = mapped_column(Boolean, default=False)
    k: Mapped[int] = mapped_column(Integer)
    trained_model_id: Mapped[int | None] = mapped_column(ForeignKey("trained_models.id"))
    checkpoint_hash: Mapped[str | None] = mapped_column(String(64))
    package_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    harness_version: Mapped[str] = mapped_column(String(20))
    n_planned: Mapped[int] = mapped_column(Integer, default=0)
    bins: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text)

    trained_model: Mapped[TrainedModel | None] = relationship(back_populates="runs")

    @property
    def corpus_name(self) -> str:
        """The corpus's own name; the dataset plugin's for runs recorded before schema 2."""
        return self.corpus or self.dataset

    trials: Mapped[list[Trial]] = relationship(back_populates="run", cascade="all, delete-orphan")


class Trial(Base):
    """One attack trial: the pair attacked, the outcome, what it cost, and the texts."""

    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("run_id", "trial_index", name="uq_trial_run_index"),
        Index("ix_trials_run_bin", "run_id", "bin_index"),
        Index(
            "ix_trials_run_bin_stats",
            "run_id",
            "bin_index",
            "outcome",
            "similarity",
            "change_rate",
            "n_words",
            "n_changed",
            "logical_queries",
            "forward_passes",
            "wall_seconds",
        ),
        Index(
            "ix_trials_run_pairs",
            "run_id",
            "trial_index",
            "sample_id",
            "target_labels",
            "bin_index",
            "outcome",
        ).ddl_if(dialect="sqlite"),
    )
    """``ix_trials_run_bin_stats`` covers every column the leaderboard sums, and
    ``ix_trials_run_pairs`` every column ``compare`` pairs trials by, so either reads a
    run's trials from the index, not from the rows with their texts (schema version 3). The
    second is SQLite's only: PostgreSQL's ``json`` type has no ordering to index."""
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    trial_index: Mapped[int] = mapped_column(Integer)
    sample_id: Mapped[str] = mapped_column(free_text(200))
    target_labels: Mapped[list[Any]] = mapped_column()
    target_names: Mapped[list[Any]] = mapped_column()
    label_freq: Mapped[int] = mapped_column(Integer)
    bin_index: Mapped[int] = mapped_column(Integer)
    attack: Mapped[str] = mapped_column(VocabString(AttackKind, 20))
    outcome: Mapped[str] = mapped_column(VocabString(Outcome, 40), index=True)
    similarity: Mapped[float | None] = mapped_column(Float)
    change_rate: Mapped[float | None] = mapped_column(Float)
    n_words: Mapped[int] = mapped_column(Integer, default=0)
    n_changed: Mapped[int] = mapped_column(Integer, default=0)
    changed_words: Mapped[list[Any]] = mapped_column(default=list)
    logical_queries: Mapped[int] = mapped_column(Integer, default=0)
    forward_passes: Mapped[int] = mapped_column(Integer, default=0)
    rank_before: Mapped[int | None] = mapped_column(Integer)
    rank_after: Mapped[int | None] = mapped_column(Integer)
    topk_before: Mapped[list[Any]] = mapped_column(default=list)
    topk_after: Mapped[list[Any]] = mapped_column(default=list)
    original_text: Mapped[str] = mapped_column(Text, default="")
    adversarial_text: Mapped[str | None] = mapped_column(Text)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[Run] = relationship(back_populates="trials")
    substitutions: Mapped[list[Substitution]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", order_by="Substitution.step"
    )


class Substitution(Base):
    """A word replacement the search accepted, in the order it was made."""

    __tablename__ = "substitutions"
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    old_word: Mapped[str] = mapped_column(free_text(200))
    new_word: Mapped[str] = mapped_column(free_text(200))
    gain: Mapped[float] = mapped_column(Float)

    trial: Mapped[Trial] = relationship(back_populates="substitutions")
