"""``check_dataset``: a reader loads a well-formed corpus, the same one every time."""

from __future__ import annotations

from collections.abc import Callable

from harness.contracts.checks import corpus_problem
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
    problem = corpus_problem(corpus)  # the rules the harness applies at every load, too
    c.expect(
        problem[0] if problem else "dataset.corpus", problem is None, str(problem and problem[1])
    )
    names = corpus.label_names
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
