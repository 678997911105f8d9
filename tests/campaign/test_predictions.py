"""The cached test predictions: each document's top labels with scores, bounded, sparse,
checked when read back (a damaged or foreign file is recomputed, never trusted)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from harness.campaign import predictions
from harness.campaign.predictions import (
    Predictions,
    depth_for,
    load_predictions,
    predict_split,
    predict_topk,
    save_predictions,
)
from harness.data import Document
from tests.helpers.toymodel import train_toy


@pytest.fixture(scope="module")
def toy():
    return train_toy(n_docs=120)


def _docs(toy) -> list[Document]:
    return [
        Document(str(i), " ".join(w), lab)
        for i, (w, lab) in enumerate(zip(toy.docs, toy.labels, strict=True))
    ]


def test_predictions_are_the_models_top_labels_with_scores(toy, tmp_path: Path) -> None:
    docs = _docs(toy)
    L = toy.model.n_labels
    pred = predict_split(toy.model, docs, 3, tmp_path / "p.npz", False, batch=7)
    assert pred.depth == depth_for(3, L) == min(predictions.DEPTH, L)
    assert pred.indices.dtype == np.int32 and pred.scores.dtype == np.float32
    whole = toy.model.predict_topk(toy.docs, pred.depth, ())
    assert np.array_equal(pred.indices, whole.indices)
    assert np.allclose(pred.scores, whole.scores, atol=1e-6)  # batches of 7 vs one
    assert np.array_equal(pred.top(3), whole.indices[:, :3])
    assert np.array_equal(predict_topk(toy.model, toy.docs, 3, None, False, batch=5), pred.top(3))
    with pytest.raises(ValueError):
        pred.top(pred.depth + 1)


def test_a_valid_cache_is_read_not_recomputed(toy, tmp_path: Path) -> None:
    docs, path = _docs(toy), tmp_path / "p.npz"
    first = predict_split(toy.model, docs, 3, path, False)
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp - 10**9, stamp - 10**9))
    again = predict_split(toy.model, docs, 3, path, False)
    assert path.stat().st_mtime_ns == stamp - 10**9  # not rewritten
    assert np.array_equal(again.indices, first.indices)
    assert np.array_equal(again.scores, first.scores)
    assert load_predictions(path, len(docs) + 1, toy.model.n_labels, first.depth) is None
    assert load_predictions(path, len(docs), toy.model.n_labels + 1, first.depth) is None


def _damaged(good: Predictions, how: str) -> dict[str, np.ndarray]:
    idx, sc = good.indices.copy(), good.scores.copy()
    arrays = {"format": np.int64(predictions.FORMAT), "n_labels": np.int64(good.n_labels)}
    if how == "out-of-range":
        idx[3, 1] = good.n_labels
    elif how == "negative":
        idx[0, 0] = -1
    elif how == "repeated":
        idx[2, 1] = idx[2, 0]
        sc[2, 1] = sc[2, 0]
    elif how == "nan":
        sc[1, 2] = np.nan
    elif how == "ascending":
        sc[4] = np.sort(sc[4])
    elif how == "float-indices":
        idx = idx.astype(np.float32)
    elif how == "short":
        idx, sc = idx[:-1], sc[:-1]
    elif how == "format":
        arrays["format"] = np.int64(predictions.FORMAT + 1)
    elif how == "extra-key":
        arrays["more"] = np.zeros(1)
    return {**arrays, "indices": idx, "scores": sc}


@pytest.mark.parametrize(
    "how",
    ["out-of-range", "negative", "repeated", "nan", "ascending", "float-indices", "short",
     "format", "extra-key", "truncated", "not-npz"],
)  # fmt: skip
def test_a_damaged_cache_is_refused_and_rewritten(toy, tmp_path: Path, how: str) -> None:
    docs, path = _docs(toy), tmp_path / "p.npz"
    good = predict_split(toy.model, docs, 3, path, False)
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "not-npz":
        path.write_text("top labels\n")
    else:
        np.savez(path, **_damaged(good, how))
    assert load_predictions(path, len(docs), good.n_labels, good.depth) is None
    again = predict_split(toy.model, docs, 3, path, False)
    assert np.array_equal(again.indices, good.indices)
    assert load_predictions(path, len(docs), good.n_labels, good.depth) is not None


def test_saved_files_round_trip_and_leave_no_temporary(tmp_path: Path) -> None:
    idx = np.array([[2, 0, 1], [1, 2, 0]], dtype=np.int32)
    sc = np.array([[0.9, 0.5, 0.5], [0.7, 0.2, 0.1]], dtype=np.float32)
    save_predictions(Predictions(idx, sc, 3), tmp_path / "p.npz")
    back = load_predictions(tmp_path / "p.npz", 2, 3, 3)
    assert back is not None and np.array_equal(back.indices, idx)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]
