"""Test-only plugins of every kind that fail, or answer the wrong thing, where their option
says (load with ``--plugin tests.plugins_for_tests.hostile``).

Each component works normally with its default options, on a keyword corpus and a keyword
model that train in milliseconds (:mod:`harness.testing.fixtures`), so a whole campaign of
them runs in about a second:

* ``hostile-reader`` (dataset): ``fail=init|load`` raises there; ``fail=empty-test``,
  ``two-train``, ``bad-labels``, ``not-corpus`` return what the dataset contract forbids;
  ``name=`` sets the corpus's name (whatever it contains).
* ``hostile-model`` (model): ``fail=init|fit|predict`` raises there; ``fail=topk`` answers
  ``predict_topk`` with label indices out of range; ``fail=lie`` answers the attack's
  questions with a well-formed list that contradicts the ranks it gives.
* ``hostile-loss`` (loss): ``fail=init|bind`` raises there.
* ``hostile-sub`` (substituter), ``hostile-imp`` (importance), ``hostile-con`` (similarity):
  ``fail=init|start|...`` raises there; ``returns=`` picks a wrong answer (a string for a
  list of words, ``None`` for scores, ``"yes"`` for verdicts, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness import hookimpl
from harness.components import Component, Option
from harness.contracts.loss import LOSS_OPTIONS
from harness.data import Corpus, Document
from harness.ranking import TopK
from harness.testing.fixtures import KeywordModel, PlainBCE, tiny_corpus

MESSAGE = "hostile test plugin fails on purpose"


def _fail(option: str, where: str) -> None:
    if option == where:
        raise RuntimeError(f"{MESSAGE} in {where}")


class HostileReader:
    def __init__(self, fail: str = "none", name: str = "hostile"):
        _fail(fail, "init")
        self.fail = fail
        self.name = name

    def load(self, progress: bool = True) -> Any:
        _fail(self.fail, "load")
        c = tiny_corpus(n_train=160, n_test=40)
        train, test, names = list(c.train), list(c.test), list(c.label_names)
        if self.fail == "empty-test":
            test = []
        elif self.fail == "two-train":
            train = train[:2]
        elif self.fail == "bad-labels":
            train[3] = Document(train[3].doc_id, train[3].text, (0, 99))
        elif self.fail == "not-corpus":
            return {"train": train, "test": test}
        return Corpus(self.name, names, train, test)


class HostileModel(KeywordModel):
    def __init__(self, fail: str = "none", **options: Any):
        _fail(fail, "init")
        super().__init__(fail=fail, **options)
        self.fail = fail

    def fit(self, docs, Y, loss, **kwargs: Any) -> HostileModel:  # noqa: ANN001
        _fail(self.fail, "fit")
        super().fit(docs, Y, loss, **kwargs)
        return self

    def predict_topk(self, docs: Sequence[Sequence[str]], k: int, labels: Sequence[int]) -> TopK:
        _fail(self.fail, "predict")
        answer = super().predict_topk(docs, k, labels)
        if self.fail == "topk":
            return TopK(
                answer.indices - 1, answer.scores, answer.labels, answer.label_scores,
                answer.label_ranks,
            )  # fmt: skip
        if self.fail == "lie" and labels:
            # well-formed, but the asked labels head the list while their ranks say they
            # are far below it: believed, every positive attack would succeed at once
            rows = [
                (list(labels) + [j for j in row if j not in labels])[:k] for row in answer.indices
            ]
            return TopK(
                np.asarray(rows, dtype=np.int64), answer.scores, answer.labels,
                answer.label_scores, np.abs(answer.label_ranks) + k,
            )  # fmt: skip
        return answer


class HostileLoss(PlainBCE):
    name = "hostile-loss"

    def __init__(self, fail: str = "none", **options: Any):
        _fail(fail, "init")
        super().__init__(**options)
        self.fail = fail

    def bind(self, *args: Any, **kwargs: Any) -> Any:
        _fail(self.fail, "bind")
        return super().bind(*args, **kwargs)


CANDIDATES = ["river", "mountain", "bridge"]
WRONG_CANDIDATES: dict[str, Any] = {
    "string": "theirs",  # letters of a string; 'the' and 'i' ... would be proposed
    "none": None,
    "ints": [1, 2, 3],
    "stopword": ["the", "river"],
    "nested": [["river"]],
}


class HostileSource:
    def __init__(self, fail: str, returns: str):
        self.fail, self.returns = fail, returns

    def candidates(self, current: list[str], position: int) -> Any:
        _fail(self.fail, "candidates")
        if self.returns == "current":
            return [current[position], *CANDIDATES]
        return WRONG_CANDIDATES.get(self.returns, list(CANDIDATES))


class HostileSubstituter:
    def __init__(self, fail: str = "none", returns: str = "ok"):
        _fail(fail, "init")
        self.fail, self.returns = fail, returns

    def start(self, original: list[str]) -> Any:
        _fail(self.fail, "start")
        if self.returns == "no-source":
            return "candidates"
        return HostileSource(self.fail, self.returns)


class HostileImportance:
    def __init__(self, fail: str = "none", returns: str = "ok"):
        _fail(fail, "init")
        self.fail, self.returns = fail, returns

    def scores(self, words, positions, engine, goal, base) -> Any:  # noqa: ANN001
        _fail(self.fail, "scores")
        n = len(positions)
        wrong = {
            "none": None,
            "short": np.ones(max(0, n - 1)),
            "nan": np.full(n, np.nan),
            "string": "high",
            "matrix": np.ones((n, 2)),
        }
        return wrong.get(self.returns, -np.asarray(positions, dtype=float))


class HostileCheck:
    def __init__(self, fail: str, returns: str):
        self.fail, self.returns = fail, returns

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> Any:
        _fail(self.fail, "check")
        n = len(texts)
        wrong = {
            "yes": "yes",
            "ints": np.ones(n, dtype=np.int64),
            "short": np.ones(max(0, n - 1), dtype=bool),
            "none": None,
            "scalar": True,
        }
        return wrong.get(self.returns, np.ones(n, dtype=bool))

    def max_changes(self) -> Any:
        return -1 if self.returns == "negative-budget" else None

    def similarity(self, texts: Sequence[list[str]]) -> Any:
        if self.returns == "similarity-2":
            return np.full(len(texts), 2.0)
        return np.ones(len(texts))


class HostileConstraint:
    name = "hostile-con"

    def __init__(self, fail: str = "none", returns: str = "ok"):
        _fail(fail, "init")
        self.fail, self.returns = fail, returns

    def start(self, original: list[str]) -> Any:
        _fail(self.fail, "start")
        return HostileCheck(self.fail, self.returns)


def _opts(*extra: Option) -> tuple[Option, ...]:
    return (Option("fail", str, "none", "where to raise (tests only)"), *extra)


RETURNS = Option("returns", str, "ok", "which wrong answer to give (tests only)")


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    opts = _opts(Option("name", str, "hostile"), Option("data_dir", str, None))
    return [Component("dataset", "hostile-reader", "fails where told", _reader, options=opts)]


def _reader(fail: str, name: str, data_dir: str | None) -> HostileReader:
    return HostileReader(fail, name)


@hookimpl
def xmtc_register_models() -> list[Component]:
    return [Component("model", "hostile-model", "fails where told", HostileModel, options=_opts())]


@hookimpl
def xmtc_register_losses() -> list[Component]:
    return [
        Component(
            "loss", "hostile-loss", "fails where told", HostileLoss,
            options=(*LOSS_OPTIONS, *_opts()),
        )
    ]  # fmt: skip


@hookimpl
def xmtc_register_substituters() -> list[Component]:
    return [
        Component(
            "substituter", "hostile-sub", "fails where told", HostileSubstituter,
            options=_opts(RETURNS),
        )
    ]  # fmt: skip


@hookimpl
def xmtc_register_importance_scorers() -> list[Component]:
    return [
        Component(
            "importance", "hostile-imp", "fails where told", HostileImportance,
            options=_opts(RETURNS),
        )
    ]  # fmt: skip


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [
        Component(
            "similarity", "hostile-con", "fails where told", HostileConstraint,
            options=_opts(RETURNS),
        )
    ]  # fmt: skip
