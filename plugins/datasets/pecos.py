"""``pecos``: the PECOS ``xmc-base`` layout (how ``data fetch`` unpacks EUR-Lex-4K,
Wiki10-31K and AmazonCat-13K).

A dataset folder holds ``X.trn.txt`` and ``X.tst.txt`` (one raw-text document per line),
``Y.trn.npz`` and ``Y.tst.npz`` (scipy sparse documents x labels matrices, row i for line i;
non-zero means the label applies) and ``output-items.txt`` (label i's name on line i; without
it the labels are named by their index). The text files are streamed line by line; the label
matrices are read with :func:`scipy.sparse.load_npz`, which refuses pickled content.

Label names must be unique to key a checkpoint: a repeated name gets ``#<line>`` appended (the
count is in the corpus metadata). Documents with no label are dropped and counted, as the other
readers do. ``fraction`` keeps the first share of each split (for scaled-down runs).
"""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness import hookimpl
from harness.components import Component, Option
from harness.data import Document
from harness.errors import DatasetNotFoundError, InputError
from plugins.datasets._common import (
    COMMON_OPTIONS,
    ENCODING_OPTION,
    BadLines,
    iter_lines,
    make_corpus,
    require_dir,
    require_encoding,
    require_plain_name,
)
from plugins.datasets._limits import BYTES_PER_LABEL, MemoryBudget

NAME = "pecos"
SPLITS = {"train": "trn", "test": "tst"}
REQUIRED = ("X.trn.txt", "X.tst.txt", "Y.trn.npz", "Y.tst.npz")
LABELS_FILE = "output-items.txt"


ZIP_DAMAGE = (
    OSError, EOFError, ValueError, KeyError, OverflowError, struct.error, zipfile.BadZipFile,
    zlib.error, lzma.LZMAError, NotImplementedError, RuntimeError,
)  # fmt: skip
"""What a damaged ``.npz`` raises on the way through zipfile, its decompressors and numpy's
reader: a flipped header byte can name an unknown compression method or zip version
(NotImplementedError) or set the encryption flag (RuntimeError)."""


def read_label_matrix(path: Path, budget: MemoryBudget) -> sp.csr_matrix:
    """A split's label matrix as binary CSR, or an InputError naming the file. Its row count
    is charged to ``budget`` before the conversion to CSR allocates a pointer per row (a COO
    file may claim any shape)."""
    try:  # a damaged archive fails in zipfile, zlib or numpy's reader, each its own way
        M = sp.load_npz(path)
        budget.charge(8 * (M.shape[0] + 1), path, None, f"{M.shape[0]:,} rows")
        Y = sp.csr_matrix(M)
    except ZIP_DAMAGE as exc:
        raise InputError(path, None, f"not a scipy sparse .npz label matrix ({exc})") from None
    Y.eliminate_zeros()
    Y.sort_indices()
    return Y


class PecosReader:
    """Reads a PECOS xmc-base dataset folder into a Corpus."""

    def __init__(
        self,
        data_dir: str | None = None,
        skip_bad_lines: bool = False,
        propensity_a: float | None = None,
        propensity_b: float | None = None,
        encoding: str = "utf-8",
        fraction: float = 1.0,
        name: str | None = None,
    ):
        self.options = dict(propensity_a=propensity_a, propensity_b=propensity_b)
        self.data_dir = data_dir
        self.skip_bad_lines = skip_bad_lines
        self.encoding = encoding
        self.fraction = fraction
        self.name = name

    def load(self, progress: bool = False):
        require_encoding(NAME, self.encoding)
        require_plain_name(NAME, "name", self.name)
        root = require_dir(self.data_dir, NAME, " ".join(REQUIRED) + f" and {LABELS_FILE}")
        missing = [f for f in REQUIRED if not (root / f).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"dataset {NAME}: {root} lacks {', '.join(missing)} (PECOS xmc-base layout: "
                f"{', '.join(REQUIRED)}, {LABELS_FILE}; `xmtc-harness data fetch` makes one)"
            )
        budget = MemoryBudget()
        budget.charge_files([root / f for f in (*REQUIRED, LABELS_FILE) if (root / f).is_file()])
        bad = BadLines(self.skip_bad_lines)
        matrices = {
            s: read_label_matrix(root / f"Y.{tag}.npz", budget) for s, tag in SPLITS.items()
        }
        n_labels = matrices["train"].shape[1]
        budget.charge(n_labels * BYTES_PER_LABEL, root / "Y.trn.npz", None, f"{n_labels:,} labels")
        if matrices["test"].shape[1] != n_labels:
            raise InputError(
                root / "Y.tst.npz",
                None,
                f"has {matrices['test'].shape[1]} label columns, Y.trn.npz {n_labels}",
            )
        names, renamed = self._label_names(root, n_labels, bad, progress)
        dropped: Counter[str] = Counter()
        docs = {
            split: self._read_split(root, split, matrices[split], bad, dropped, progress)
            for split in SPLITS
        }
        meta = {"format": NAME, "dropped": dict(dropped), "renamed_duplicate_labels": renamed}
        return make_corpus(
            self.name or root.name,
            names,
            docs["train"],
            docs["test"],
            self.options,
            bad.counts,
            meta,
            sources={split: root / f"X.{tag}.txt" for split, tag in SPLITS.items()},
        )

    def _label_names(
        self, root: Path, n_labels: int, bad: BadLines, progress: bool
    ) -> tuple[list[str], int]:
        path = root / LABELS_FILE
        if not path.is_file():
            return [str(i) for i in range(n_labels)], 0
        names: list[str] = []
        for line in iter_lines(path, self.encoding, progress):
            bad.usable(path, line)  # a bad name line still holds its label's place
            names.append(line.text.rstrip("\n"))
        if len(names) != n_labels:
            raise InputError(
                path, None, f"names {len(names)} labels but the label matrices have {n_labels}"
            )
        seen: set[str] = set()
        renamed = 0
        for i, n in enumerate(names):
            if n in seen or not n:
                names[i] = f"{n}#{i + 1}"
                renamed += 1
            seen.add(names[i])
        return names, renamed

    def _read_split(
        self,
        root: Path,
        split: str,
        Y: sp.csr_matrix,
        bad: BadLines,
        dropped: Counter[str],
        progress: bool,
    ) -> list[Document]:
        tag = SPLITS[split]
        path = root / f"X.{tag}.txt"
        # Reading stops one line past the kept ones (a file longer than Y is caught there).
        keep = int(round(Y.shape[0] * self.fraction)) if self.fraction < 1 else Y.shape[0]
        docs: list[Document] = []
        n_lines = 0
        for line in iter_lines(path, self.encoding, progress):
            n_lines = line.number
            if n_lines > keep:
                break
            if not bad.usable(path, line):
                continue
            i = line.number - 1
            labels = Y.indices[Y.indptr[i] : Y.indptr[i + 1]]
            if len(labels) == 0:
                dropped["no-labels"] += 1
                continue
            text = line.text.rstrip("\n")
            docs.append(Document(f"{tag}-{line.number}", text, tuple(np.sort(labels).tolist())))
        if n_lines > Y.shape[0]:
            raise InputError(path, n_lines, f"goes on past the {Y.shape[0]} rows of Y.{tag}.npz")
        if n_lines < keep:
            raise InputError(path, None, f"has {n_lines} lines but Y.{tag}.npz has {Y.shape[0]}")
        return docs


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    return [
        Component(
            kind="dataset",
            name=NAME,
            description="PECOS xmc-base folder: X.{trn,tst}.txt raw texts, Y.{trn,tst}.npz "
            "label matrices, output-items.txt label names",
            factory=PecosReader,
            options=COMMON_OPTIONS
            + (
                ENCODING_OPTION,
                Option(
                    "fraction",
                    float,
                    1.0,
                    "Share of each split to read (its first documents).",
                    min=0.0,
                    max=1.0,
                    min_inclusive=False,
                ),
                Option("name", str, None, "Corpus name; default the folder's name."),
            ),
        )
    ]
