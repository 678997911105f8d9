"""Each test document's top labels with their scores, cached on disk per checkpoint.

Planning needs every test document's top-k (correct pairs to attack, labels to keep out of
negative targets) for the attacked model and every paired one; scoring a whole test split
is the slow part of starting a campaign, so the answer is kept. It is sparse and bounded:
each document's best :data:`DEPTH` labels (or ``k`` where that is more) with their scores,
``(documents, depth)`` arrays, never a documents x labels matrix, so one file serves every
``k`` up to the depth.

The file is a cache file of :mod:`harness.campaign.cache_files` (safetensors, no pickle,
written atomically) with the hash of what it was computed from (checkpoint, dataset, the
documents as the model reads them, depth) and of its content. It is used only when both
hashes hold and every row passes :func:`problem`; otherwise it is recomputed, so a damaged
or edited cache can neither crash the process nor change a plan. Every batch the model
answers is held to the model contract first, so a wrong answer is named as the model's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from harness.campaign.cache_files import cache_path, documents_hash, read_arrays, write_arrays
from harness.contracts.checks import ContractViolation, topk_problem
from harness.contracts.model import XMTCModel
from harness.data import Document

DEPTH = 100
"""Labels kept per test document (when ``k`` is larger, ``k``): 100 labels of 4-byte index
and 4-byte score take 800 bytes a document, 245 MB for AmazonCat-13K's 306,782."""
BATCH = 256
ARRAYS = ("indices", "scores")


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


def prediction_source(
    docs: Iterable[tuple[str, Sequence[str]]], n_docs: int, n_labels: int, depth: int,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What a cached answer was computed from: the caller's ``source`` (checkpoint,
    dataset) with the documents' hash (streamed over (id, words) pairs), their number, the
    label count and the depth."""
    return {
        **(source or {}),
        "documents": documents_hash(docs),
        "n_docs": n_docs,
        "n_labels": n_labels,
        "depth": depth,
    }


def predictions_file(cache_dir: Path, source: dict[str, Any]) -> Path:
    """Where the answer computed from ``source`` (:func:`prediction_source`) is cached."""
    return cache_path(cache_dir, "topk", source).with_suffix(".safetensors")


def save_predictions(pred: Predictions, path: Path, source: dict[str, Any]) -> None:
    """Write ``pred`` atomically with its source and content hash."""
    arrays = {"indices": pred.indices.astype(np.int32), "scores": pred.scores.astype(np.float32)}
    write_arrays(path, arrays, source)


def load_predictions(path: Path, source: dict[str, Any]) -> Predictions | None:
    """The answer cached at ``path`` if it was computed from ``source`` and is valid for it
    (see :func:`problem`); None when it is missing, damaged, edited or for something
    else."""
    n_docs, n_labels, depth = source["n_docs"], source["n_labels"], source["depth"]
    found = read_arrays(path, source, ARRAYS, max_bytes=n_docs * depth * 8)
    if found is None:
        return None
    pred = Predictions(found["indices"], found["scores"], n_labels)
    return pred if problem(pred, n_docs, n_labels, depth) is None else None


def _predict(
    model: XMTCModel,
    batches: Iterable[Sequence[list[str]]],
    n_docs: int,
    depth: int,
    n_labels: int,
    bar: tqdm,
    subject: str,
) -> Predictions:
    indices = np.empty((n_docs, depth), dtype=np.int32)
    scores = np.empty((n_docs, depth), dtype=np.float32)
    start = 0
    for words in batches:
        answer = model.predict_topk(words, depth, ())
        wrong = topk_problem(answer, len(words), depth, n_labels, ())
        if wrong is not None:
            raise ContractViolation("model.predict_topk", subject, wrong)
        indices[start : start + len(words)] = answer.indices
        scores[start : start + len(words)] = answer.scores
        start += len(words)
        bar.update(len(words))
    bar.close()
    return Predictions(indices, scores, n_labels)


def predict_split(
    model: XMTCModel,
    docs: Sequence[Document],
    k: int,
    cache_dir: Path | None,
    progress: bool,
    batch: int = BATCH,
    *,
    source: dict[str, Any] | None = None,
    n_labels: int | None = None,
    subject: str = "model",
) -> Predictions:
    """The model's best :func:`depth_for` labels of each document with their scores,
    ``batch`` documents at a time (each cut to the model's ``max_words`` when its batch
    comes: no word list of the whole split is held). With ``cache_dir``, read from the
    cache file of this checkpoint and these documents when it holds a valid answer, else
    written there. ``n_labels``: the corpus's label count the answer must index into
    (default the model's); ``subject`` names the model in a contract error."""
    n_labels = n_labels if n_labels is not None else model.n_labels
    depth = depth_for(k, n_labels)
    path = full = None
    if cache_dir is not None:
        pairs = ((d.doc_id, d.words[: model.max_words]) for d in docs)
        full = prediction_source(pairs, len(docs), n_labels, depth, source)
        path = predictions_file(cache_dir, full)
        found = load_predictions(path, full)
        if found is not None:
            return found
    batches = (
        [d.words[: model.max_words] for d in docs[s : s + batch]]
        for s in range(0, len(docs), batch)
    )
    bar = tqdm(total=len(docs), desc="predicting test split", unit="doc", disable=not progress)
    pred = _predict(model, batches, len(docs), depth, n_labels, bar, subject)
    if path is not None and full is not None:
        save_predictions(pred, path, full)
    return pred


def predict_topk(
    model: XMTCModel, docs: Sequence[list[str]], k: int, progress: bool = False,
    batch: int = BATCH, subject: str = "model",
) -> np.ndarray:  # fmt: skip
    """Top-k label indices of word lists, ``(len(docs), k)``, best first (ties to the lower
    label index), ``batch`` at a time, uncached (benchmarks; a campaign uses
    :func:`predict_split`)."""
    k = min(k, model.n_labels)
    batches = (docs[s : s + batch] for s in range(0, len(docs), batch))
    bar = tqdm(total=len(docs), desc="predicting", unit="doc", disable=not progress)
    return _predict(model, batches, len(docs), k, model.n_labels, bar, subject).top(k)
