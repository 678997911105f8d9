"""Each test document's predicted top-k, cached on disk per checkpoint and k.

Planning needs every test document's top-k (correct pairs to attack, labels to keep out of
negative targets) for the attacked model and every paired one; scoring a whole test split
is the slow part of starting a campaign, so the result is kept as a ``.npy`` file named by
the checkpoint's hash and loaded without unpickling.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from harness.contracts.model import XMTCModel


def predict_topk(
    model: XMTCModel,
    docs: Sequence[list[str]],
    k: int,
    cache: Path | None,
    progress: bool,
    batch: int = 256,
) -> np.ndarray:
    """Top-k label indices for each document, ``(len(docs), k)``, best first (ties to the
    lower label index); read from ``cache`` when it holds an array of the right shape (a
    damaged file is recomputed), written there atomically otherwise."""
    if cache is not None and cache.exists():
        try:
            arr = np.load(cache, allow_pickle=False)
            if arr.shape == (len(docs), k):
                return arr
        except (OSError, ValueError):
            pass  # a damaged cache is recomputed
    out = np.empty((len(docs), k), dtype=np.int64)
    bar = tqdm(total=len(docs), desc="predicting test split", unit="doc", disable=not progress)
    for start in range(0, len(docs), batch):
        part = model.predict_topk(docs[start : start + batch], k, ()).indices
        out[start : start + len(part)] = part
        bar.update(len(part))
    bar.close()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.tmp{os.getpid()}.npy")
        np.save(tmp, out)
        os.replace(tmp, cache)
    return out
