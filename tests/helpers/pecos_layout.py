"""Writing a corpus in the PECOS xmc-base layout, for the pecos reader and data-fetch tests."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def label_matrix(rows: Sequence[Sequence[int]], n_labels: int) -> sp.csr_matrix:
    indptr = np.cumsum([0, *[len(r) for r in rows]])
    indices = np.asarray([i for r in rows for i in r], dtype=np.int32)
    data = np.ones(len(indices), dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_labels))


def write_pecos(
    folder: Path,
    train: Sequence[tuple[str, Sequence[int]]],
    test: Sequence[tuple[str, Sequence[int]]],
    names: Sequence[str] | None,
    n_labels: int | None = None,
) -> Path:
    """X.{trn,tst}.txt, Y.{trn,tst}.npz and (when ``names``) output-items.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    n_labels = n_labels or (len(names) if names else 0)
    for tag, docs in (("trn", train), ("tst", test)):
        (folder / f"X.{tag}.txt").write_text("".join(t + "\n" for t, _ in docs), "utf-8")
        sp.save_npz(folder / f"Y.{tag}.npz", label_matrix([ls for _, ls in docs], n_labels))
    if names is not None:
        (folder / "output-items.txt").write_text("".join(n + "\n" for n in names), "utf-8")
    return folder


def tar_gz(root: Path) -> bytes:
    """A gzipped tar of everything under ``root`` (paths relative to it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


TRAIN = [
    ("oil prices rose as crude supply fell", [0, 2]),
    ("the central bank cut interest rates", [1]),
    ("wheat and corn harvests were large", [3]),
    ("crude oil output from the gulf", [0]),
]
TEST = [("bank rates and oil", [0, 1]), ("corn exports", [3])]
NAMES = ["crude", "money-fx", "energy", "grain"]
