"""``check_dataset``: a reader loads a well-formed corpus, the same one every time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.contracts.dataset import DatasetReader
from harness.data import Corpus
from harness.errors import HarnessError
from harness.testing.rules import Checker


def _snapshot(corpus: Corpus) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(d.doc_id, d.text, d.labels) for d in corpus.train + corpus.test]


def check_dataset(
    make_reader: Callable[[], object],
    *,
    make_missing: Callable[[], object] | None = None,
    name: str = "dataset",
) -> list[str]:
    """Check a dataset reader against :class:`harness.contracts.dataset.DatasetReader`.

    :param make_reader: builds a reader of a valid corpus (called twice: determinism).
    :param make_missing: builds a reader pointed at an empty folder, whose ``load`` must
        raise a :class:`~harness.errors.HarnessError` (a missing-files message), not crash
        (a generator that reads no files may load the same corpus instead).
    :returns: the rules passed; the first broken one raises
        :class:`~harness.testing.ConformanceError`.
    """
    c = Checker(name)
    reader = c.call("dataset.build", make_reader)
    c.expect("dataset.contract", isinstance(reader, DatasetReader), "no load(progress) method")
    assert isinstance(reader, DatasetReader)
    corpus = c.call("dataset.load", reader.load, progress=False)
    c.expect("dataset.load", isinstance(corpus, Corpus), f"load() returned {type(corpus)}")
    names = corpus.label_names
    c.expect(
        "dataset.label_names",
        bool(names) and all(isinstance(n, str) and n for n in names),
        "label names must be non-empty strings",
    )
    c.expect("dataset.label_names", len(set(names)) == len(names), "label names repeat")
    c.expect("dataset.splits", bool(corpus.train) and bool(corpus.test), "a split is empty")
    docs = corpus.train + corpus.test
    ids = [d.doc_id for d in docs]
    c.expect(
        "dataset.doc_ids",
        all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids),
        "document ids must be strings, unique across both splits",
    )
    c.expect("dataset.text", all(isinstance(d.text, str) for d in docs), "a text is not a str")
    L = len(names)
    bad = [
        d.doc_id
        for d in docs
        if not isinstance(d.labels, tuple)
        or list(d.labels) != sorted(set(d.labels))
        or any(not isinstance(j, int | np.integer) or not 0 <= j < L for j in d.labels)
    ]
    c.expect(
        "dataset.label_indices",
        not bad,
        f"labels must be sorted, unique indices into label_names (first bad: {bad[:1]})",
    )
    a, b = corpus.propensity_a, corpus.propensity_b
    c.expect(
        "dataset.propensity",
        bool(np.isfinite([a, b]).all()) and a > 0 and b > 0,
        f"propensity constants must be positive, got {a}, {b}",
    )
    again = c.call("dataset.deterministic", lambda: make_reader().load(progress=False))
    c.expect(
        "dataset.deterministic",
        again.label_names == names and _snapshot(again) == _snapshot(corpus),
        "two loads with the same options gave different corpora",
    )
    if make_missing is not None:
        rule = "dataset.missing_files"
        refused, elsewhere = c.raised(
            rule, lambda: make_missing().load(progress=False), HarnessError
        )  # type: ignore[attr-defined]
        # a generator ignores the folder; a reader of files must not load something else
        c.expect(
            rule,
            refused or _snapshot(elsewhere) == _snapshot(corpus),  # type: ignore[arg-type]
            "an empty folder loaded a corpus instead of a missing-files error",
        )
    return c.passed
