"""Each test document's top labels with their scores, cached on disk per checkpoint.

Planning needs every test document's top-k (correct pairs to attack, labels to keep out of
negative targets) for the attacked model and every paired one; scoring a whole test split
is the slow part of starting a campaign, so the answer is kept. It is sparse and bounded:
each document's best :data:`DEPTH` labels (or ``k`` where that is more) with their scores,
``(documents, depth)`` arrays, never a documents x labels matrix, so one file serves every
``k`` up to the depth. The file format (an uncompressed ``.npz`` read without unpickling,
every array checked before use) lives in this module only.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from harness.contracts.model import XMTCModel
from harness.data import Document

DEPTH = 100
"""Labels kept per test document (when ``k`` is larger, ``k``): 100 labels of 4-byte index
and 4-byte score take 800 bytes a document, 245 MB for AmazonCat-13K's 306,782."""
FORMAT = 1
"""Version of the cache file's layout; a file of another version is recomputed."""
BATCH = 256


@dataclass(frozen=True)
class Predictions:
    """The best ``depth`` labels of each document, best first (ties to the lower label
    index), and their scores: ``indices`` int32 and ``scores`` float32, both
    ``(documents, depth)``."""

    indices: np.ndarray
    scores: np.ndarray
    n_labels: int

    @property
    def depth(self) -> int:
        return int(self.indices.shape[1])

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def top(self, k: int) -> np.ndarray:
        """Each document's top-``k`` label indices, ``(documents, k)`` int64."""
        if not 1 <= k <= self.depth:
            raise ValueError(f"k must be in [1, {self.depth}], got {k}")
        return self.indices[:, :k].astype(np.int64)


def depth_for(k: int, n_labels: int) -> int:
    """The depth a campaign with this ``k`` keeps: at least :data:`DEPTH`, at most L."""
    return min(max(k, DEPTH), n_labels)


def cache_path(cache_dir: Path, checkpoint_hash: str, depth: int) -> Path:
    return cache_dir / f"predictions-{checkpoint_hash}-top{depth}.npz"


def problem(pred: Predictions, n_docs: int, n_labels: int, depth: int) -> str | None:
    """Why ``pred`` is not a valid answer for this test split, or None: shapes and dtypes,
    label indices in range and distinct within a row, scores not NaN and descending along
    each row. (How ties are ordered is the model's ranking, not checked here.)"""
    idx, sc = pred.indices, pred.scores
    if pred.n_labels != n_labels:
        return f"{pred.n_labels} labels, expected {n_labels}"
    if idx.shape != (n_docs, depth) or sc.shape != (n_docs, depth):
        return f"arrays of shape {idx.shape} and {sc.shape}, expected {(n_docs, depth)}"
    if not np.issubdtype(idx.dtype, np.integer) or not np.issubdtype(sc.dtype, np.floating):
        return f"dtypes {idx.dtype} and {sc.dtype}, expected integer indices and float scores"
    for start in range(0, n_docs, 65_536):  # bounded temporaries
        i = idx[start : start + 65_536].astype(np.int64)
        s = sc[start : start + 65_536]
        if i.size and (i.min() < 0 or i.max() >= n_labels):
            return f"label indices outside [0, {n_labels})"
        if np.isnan(s).any():
            return "NaN scores"
        if (np.diff(s, axis=1) > 0).any():
            return "rows not best first (a score above the one before it)"
        if depth > 1 and (np.diff(np.sort(i, axis=1), axis=1) == 0).any():
            return "a label repeated within a row"
    return None


def save_predictions(pred: Predictions, path: Path) -> None:
    """Write ``pred`` atomically (a temporary file renamed over ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(
        tmp,
        format=np.int64(FORMAT),
        n_labels=np.int64(pred.n_labels),
        indices=pred.indices.astype(np.int32),
        scores=pred.scores.astype(np.float32),
    )
    os.replace(tmp, path)


def load_predictions(path: Path, n_docs: int, n_labels: int, depth: int) -> Predictions | None:
    """The cached answer at ``path`` if it is one for this split (see :func:`problem`);
    None when it is missing, damaged, of another format or for something else."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if set(f.files) != {"format", "n_labels", "indices", "scores"}:
                return None
            if f["format"].shape != () or int(f["format"]) != FORMAT:
                return None
            if f["n_labels"].shape != ():
                return None
            pred = Predictions(f["indices"], f["scores"], int(f["n_labels"]))
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None  # damaged or not an npz: recomputed
    return pred if problem(pred, n_docs, n_labels, depth) is None else None


def _predict(
    model: XMTCModel, batches: Iterable[Sequence[list[str]]], n_docs: int, depth: int, bar: tqdm
) -> Predictions:
    indices = np.empty((n_docs, depth), dtype=np.int32)
    scores = np.empty((n_docs, depth), dtype=np.float32)
    start = 0
    for words in batches:
        answer = model.predict_topk(words, depth, ())
        indices[start : start + len(words)] = answer.indices
        scores[start : start + len(words)] = answer.scores
        start += len(words)
        bar.update(len(words))
    bar.close()
    return Predictions(indices, scores, model.n_labels)


def predict_split(
    model: XMTCModel,
    docs: Sequence[Document],
    k: int,
    cache: Path | None,
    progress: bool,
    batch: int = BATCH,
) -> Predictions:
    """The model's best :func:`depth_for` labels of each document with their scores,
    ``batch`` documents at a time (each tokenized when its batch comes: no word list of the
    whole split is held). Read from ``cache`` when it holds a valid answer (anything else
    there is recomputed), written there atomically otherwise."""
    depth = depth_for(k, model.n_labels)
    if cache is not None and cache.exists():
        found = load_predictions(cache, len(docs), model.n_labels, depth)
        if found is not None:
            return found
    batches = (
        [d.words[: model.max_words] for d in docs[s : s + batch]]
        for s in range(0, len(docs), batch)
    )
    bar = tqdm(total=len(docs), desc="predicting test split", unit="doc", disable=not progress)
    pred = _predict(model, batches, len(docs), depth, bar)
    if cache is not None:
        save_predictions(pred, cache)
    return pred


def predict_topk(
    model: XMTCModel,
    docs: Sequence[list[str]],
    k: int,
    cache: Path | None,
    progress: bool,
    batch: int = BATCH,
) -> np.ndarray:
    """Top-k label indices of word lists, ``(len(docs), k)``, best first (ties to the lower
    label index), ``batch`` at a time (benchmarks; a campaign uses :func:`predict_split`).
    With ``cache``, the answer is read and written in this module's format."""
    k = min(k, model.n_labels)
    if cache is not None and cache.exists():
        found = load_predictions(cache, len(docs), model.n_labels, k)
        if found is not None:
            return found.top(k)
    batches = (docs[s : s + batch] for s in range(0, len(docs), batch))
    bar = tqdm(total=len(docs), desc="predicting", unit="doc", disable=not progress)
    pred = _predict(model, batches, len(docs), k, bar)
    if cache is not None:
        save_predictions(pred, cache)
    return pred.top(k)
