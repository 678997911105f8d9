"""Each test document's predicted top-k, cached on disk per checkpoint, documents and k.

Planning needs every test document's top-k (correct pairs to attack, labels to keep out of
negative targets) for the attacked model and every paired one; scoring a whole test split
is the slow part of starting a campaign, so the result is kept in a cache file
(:mod:`harness.campaign.cache_files`: safetensors, no pickle) together with the hash of
what it was computed from and of its content. A cache is used only when both hashes hold
and every row is ``k`` distinct label indices in range; otherwise it is recomputed, so a
damaged or edited cache can neither crash the process nor change a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from harness.campaign.cache_files import read_array, write_array
from harness.contracts.checks import ContractViolation, topk_problem
from harness.contracts.model import XMTCModel
from harness.ranking import TopK


def topk_rows_problem(arr: np.ndarray, n: int, k: int, n_labels: int) -> str | None:
    """Why ``arr`` is not ``n`` rows of ``k`` distinct label indices in ``0..n_labels-1``."""
    dummy = np.zeros((n, k), dtype=np.float32)
    empty = np.zeros((n, 0))
    return topk_problem(TopK(arr, dummy, (), empty, empty), n, k, n_labels, ())


def predict_topk(
    model: XMTCModel,
    docs: Sequence[list[str]],
    k: int,
    cache: Path | None,
    progress: bool,
    batch: int = 256,
    *,
    source: dict[str, Any] | None = None,
    n_labels: int | None = None,
    subject: str = "model",
) -> np.ndarray:
    """Top-k label indices for each document, ``(len(docs), k)``, best first (ties to the
    lower label index); read from ``cache`` when it was computed from ``source`` and holds
    valid rows, else computed (each batch held to the model contract, a wrong answer named
    as ``subject``'s) and written there atomically."""
    n_labels = n_labels if n_labels is not None else model.n_labels
    source = {**(source or {}), "k": k, "n_docs": len(docs), "n_labels": n_labels}
    if cache is not None:
        arr = read_array(cache, source, max_bytes=len(docs) * k * 8)
        if arr is not None and topk_rows_problem(arr, len(docs), k, n_labels) is None:
            return arr.astype(np.int64, copy=False)
    out = np.empty((len(docs), k), dtype=np.int64)
    bar = tqdm(total=len(docs), desc="predicting test split", unit="doc", disable=not progress)
    for start in range(0, len(docs), batch):
        part = docs[start : start + batch]
        answer = model.predict_topk(part, k, ())
        problem = topk_problem(answer, len(part), k, n_labels, ())
        if problem is not None:
            raise ContractViolation("model.predict_topk", subject, problem)
        out[start : start + len(part)] = answer.indices
        bar.update(len(part))
    bar.close()
    if cache is not None:
        write_array(cache, out, source)
    return out
