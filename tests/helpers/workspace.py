"""A tiny trained workspace (results database, model folder, cache folder) that the hostile
state tests copy and damage: a synthetic corpus, a ``linear`` model and a positive campaign
with a few trials, run once per session in this process. Campaigns here use the
``change-rate`` constraint as their similarity (no sentence encoder to load), so one more
``eval`` on a copy takes a fraction of a second."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.cli import SYNTH, main_captured

MODEL = ("--model", "linear", "--epochs", "3")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "results.db"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def selection(self) -> list[str]:
        """The model-selection options ``train`` and ``eval`` share."""
        return [*SYNTH, *MODEL, "--model-dir", str(self.models)]

    def eval_args(self, *extra: str, db: str | Path | None = None) -> list[str]:
        return [
            "--db", str(db if db is not None else self.db), "eval", *self.selection(),
            "--cache-dir", str(self.cache), "--labels-per-bin", "2", "--samples-per-bin", "1",
            "--substituter-opt", "k=4", "--similarity", "change-rate", "--max-queries", "25",
            "--no-progress", *extra,
        ]  # fmt: skip

    def train_args(self, *extra: str, db: str | Path | None = None) -> list[str]:
        db = db if db is not None else self.db
        return ["--db", str(db), "train", *self.selection(), "--no-progress", *extra]

    def copy(self, dest: Path) -> Workspace:
        """A copy (the database through SQLite's backup, so a copy is never half a WAL), its
        model rows pointing at the copied checkpoints."""
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("models", "cache"):
            if (self.root / name).exists():
                shutil.copytree(self.root / name, dest / name)
        src, dst = sqlite3.connect(self.db), sqlite3.connect(dest / "results.db")
        src.backup(dst)
        old, new = str(self.models.resolve()), str((dest / "models").resolve())
        dst.execute(  # the copy's model rows point at the copy's checkpoints
            "UPDATE trained_models SET checkpoint_path = ? || substr(checkpoint_path, ?)"
            " WHERE substr(checkpoint_path, 1, ?) = ?",
            (new, len(old) + 1, len(old), old),
        )
        dst.commit()
        src.close()
        dst.close()
        return Workspace(dest)


def make_workspace(root: Path, trials: int = 3) -> Workspace:
    """Train the tiny model and store ``trials`` trials of one positive run."""
    ws = Workspace(root)
    root.mkdir(parents=True, exist_ok=True)
    code, _out, err = main_captured(ws.eval_args("--limit", str(trials)))
    assert code == 0, err
    return ws


def stored_trials(db: Path) -> list[tuple[object, ...]] | None:
    """Every committed trial's identity and outcome, read through a read-only connection
    (None when the file cannot be read that far)."""
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return con.execute(
                "SELECT run_id, trial_index, sample_id, outcome, n_changed FROM trials "
                "ORDER BY run_id, trial_index"
            ).fetchall()
        finally:
            con.close()
    except (sqlite3.Error, UnicodeError):
        return None
