"""Dataset record types shared by every dataset plugin, model and attack.

A dataset plugin yields :class:`Document` records with label indices into ``label_names``;
the :class:`Corpus` holds both splits and derives the label statistics the rest of the
harness needs (training frequencies, label matrices, a fingerprint for checkpoints).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from harness.labelstats import propensities
from harness.text import tokenize


@dataclass(frozen=True)
class Document:
    """One labelled document: a stable id, its raw text and its label indices."""

    doc_id: str
    text: str
    labels: tuple[int, ...]

    @property
    def words(self) -> list[str]:
        return tokenize(self.text)


@dataclass
class Corpus:
    """Train and test splits over one label space.

    ``propensity_a`` / ``propensity_b`` are the Jain et al. (2016) constants for this
    dataset (docs/method.md, "Rebalanced losses"); a dataset plugin overrides them where the
    literature does.
    ``skipped`` counts input lines a reader skipped (its ``skip_bad_lines`` option), by reason.
    """

    name: str
    label_names: list[str]
    train: list[Document]
    test: list[Document]
    propensity_a: float = 0.55
    propensity_b: float = 1.5
    skipped: dict[str, int] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    def split(self, name: str) -> list[Document]:
        if name not in ("train", "test"):
            raise ValueError(f"unknown split {name!r}")
        return self.train if name == "train" else self.test

    def label_matrix(self, split: str) -> sp.csr_matrix:
        """Binary (documents x labels) CSR matrix of the split's labels."""
        return labels_to_csr((d.labels for d in self.split(split)), self.n_labels)

    @cached_property
    def label_counts(self) -> np.ndarray:
        """freq(l): the number of training documents carrying label l."""
        return np.asarray(self.label_matrix("train").sum(axis=0)).ravel().astype(np.int64)

    def propensities(self) -> np.ndarray:
        """Each label's propensity under this corpus's constants (docs/method.md, "Rebalanced
        losses"), from its training frequencies."""
        return propensities(
            self.label_counts, len(self.train), self.propensity_a, self.propensity_b
        )

    def fingerprint(self) -> str:
        """Hash of the dataset name and its label space; a checkpoint must match it."""
        h = hashlib.sha256()
        h.update(json.dumps([self.name, self.label_names]).encode())
        return h.hexdigest()[:16]


def labels_to_csr(label_lists: Iterable[Sequence[int]], n_labels: int) -> sp.csr_matrix:
    """Build a binary CSR matrix from per-row label index lists (duplicates collapse)."""
    indptr = [0]
    indices: list[int] = []
    for labels in label_lists:
        row = sorted(set(labels))
        indices.extend(row)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return sp.csr_matrix(
        (data, np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(indptr) - 1, n_labels),
    )
