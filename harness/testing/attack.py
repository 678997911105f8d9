"""``check_importance``, ``check_substituter``, ``check_constraint``: the attack's plugins
answer in the shapes, order and determinism the search relies on. The value rules are those
the harness also applies to every answer at run time (:mod:`harness.contracts.checks`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.attack.engine import QueryEngine
from harness.attack.goals import Goal
from harness.contracts.checks import (
    candidates_problem,
    candidates_rule_problem,
    max_changes_problem,
    scores_problem,
    similarities_problem,
    verdicts_problem,
)
from harness.contracts.constraint import Constraint, ConstraintCheck, SimilarityCheck
from harness.contracts.importance import ImportanceScorer
from harness.contracts.model import XMTCModel
from harness.contracts.substituter import CandidateSource, Substituter
from harness.ranking import top_k
from harness.testing.fixtures import SENTENCE, keyword_model, tiny_corpus
from harness.testing.rules import Checker
from harness.text import is_attackable


def check_importance(
    make_scorer: Callable[[], object], model: XMTCModel | None = None, *, name: str = "importance"
) -> list[str]:
    """Check an importance scorer against
    :class:`harness.contracts.importance.ImportanceScorer`, on ``model`` (default a keyword
    model with gradients, :class:`harness.testing.fixtures.KeywordModel`).

    :returns: the rules passed; the first broken one raises
        :class:`~harness.testing.ConformanceError`.
    """
    c = Checker(name)
    scorer = c.call("importance.build", make_scorer)
    c.expect("importance.contract", isinstance(scorer, ImportanceScorer), "no scores() method")
    assert isinstance(scorer, ImportanceScorer)
    corpus = tiny_corpus()
    model = model or keyword_model(corpus)
    engine = QueryEngine(model)
    words = corpus.test[0].words[: model.max_words]
    positions = [i for i, w in enumerate(words) if is_attackable(w)]
    dense = model.predict_proba([words])[0]
    for kind, target in (("positive", int(top_k(dense, 1)[0])), ("negative", None)):
        if target is None:
            target = int(top_k(dense, model.n_labels)[-1])
        goal = Goal(kind, (target,), 3)
        base = engine.scores([words], goal.k, goal.targets)
        raw = c.call("importance.scores", scorer.scores, words, positions, engine, goal, base)
        problem = scores_problem(raw, len(positions))
        c.expect("importance.shape", problem is None, f"{kind} goal: {problem}")
        s = np.asarray(raw, dtype=np.float64)
        again = np.asarray(scorer.scores(words, positions, engine, goal, base))
        c.expect("importance.deterministic", np.allclose(again, s), "two calls disagree")
        rev = np.asarray(scorer.scores(words, positions[::-1], engine, goal, base))
        c.expect(
            "importance.position_order",
            np.allclose(rev[::-1], s),
            "a position's score depends on the order positions are given in",
        )
        empty = np.asarray(scorer.scores(words, [], engine, goal, base))
        c.expect("importance.empty", empty.shape == (0,), f"no positions gave {empty.shape}")
    return c.passed


def check_substituter(
    make_substituter: Callable[[], object], *, name: str = "substituter"
) -> list[str]:
    """Check a substituter against :class:`harness.contracts.substituter.Substituter`: real,
    different, attackable single words, deterministically.

    :returns: the rules passed; the first broken one raises
        :class:`~harness.testing.ConformanceError`.
    """
    c = Checker(name)
    sub = c.call("substituter.build", make_substituter)
    c.expect("substituter.contract", isinstance(sub, Substituter), "no start() method")
    assert isinstance(sub, Substituter)
    words = list(SENTENCE)
    source = c.call("substituter.start", sub.start, words)
    c.expect(
        "substituter.start", isinstance(source, CandidateSource), "start() gave no candidates()"
    )
    proposed = 0
    for pos in (i for i, w in enumerate(words) if is_attackable(w)):
        cands = c.call("substituter.candidates", source.candidates, words, pos)
        problem = candidates_problem(cands)
        c.expect("substituter.candidates", problem is None, str(problem))
        problem = candidates_rule_problem(cands, words[pos])
        c.expect("substituter.filtered", problem is None, str(problem))
        again = sub.start(words).candidates(words, pos)
        c.expect("substituter.deterministic", again == cands, "two calls disagree")
        proposed += bool(cands)
    c.expect("substituter.proposes", proposed > 0, "no candidates for any word of the sentence")
    return c.passed


def check_constraint(
    make_constraint: Callable[[], object], *, name: str = "constraint"
) -> list[str]:
    """Check a constraint against :class:`harness.contracts.constraint.Constraint` (and
    :class:`~harness.contracts.constraint.SimilarityCheck` when it measures similarity).

    :returns: the rules passed; the first broken one raises
        :class:`~harness.testing.ConformanceError`.
    """
    c = Checker(name)
    con = c.call("constraint.build", make_constraint)
    c.expect("constraint.contract", isinstance(con, Constraint), "needs name and start()")
    assert isinstance(con, Constraint)
    original = list(SENTENCE)
    check = c.call("constraint.start", con.start, original)
    c.expect("constraint.start", isinstance(check, ConstraintCheck), "no check()/max_changes()")
    texts = [original] + [
        [*original[:i], w, *original[i + 1 :]]
        for i, w in ((3, "weak"), (6, "loss"), (4, "annual"), (9, "gas"))
    ]
    changed = [0, 1, 1, 1, 1]
    raw = c.call("constraint.check", check.check, texts, changed)
    problem = verdicts_problem(raw, len(texts))
    c.expect("constraint.check", problem is None, str(problem))
    ok = np.asarray(raw)
    c.expect("constraint.original_passes", bool(ok[0]), "the unchanged original is rejected")
    rev = np.asarray(check.check(texts[::-1], changed[::-1]))
    c.expect(
        "constraint.batch_order", np.array_equal(rev[::-1], ok), "answers depend on text order"
    )
    empty = np.asarray(check.check([], []))
    c.expect("constraint.empty", empty.shape == (0,), f"no texts gave shape {empty.shape}")
    problem = max_changes_problem(check.max_changes())
    c.expect("constraint.max_changes", problem is None, str(problem))
    if isinstance(check, SimilarityCheck):
        raw = c.call("constraint.similarity", check.similarity, texts)
        problem = similarities_problem(raw, len(texts))
        c.expect("constraint.similarity", problem is None, str(problem))
        sims = np.asarray(raw, float)
        c.expect(
            "constraint.similarity", abs(sims[0] - 1) < 1e-5, "the original is not similarity 1"
        )
        again = np.asarray(con.start(original).similarity(texts[::-1]), float)
        c.expect(
            "constraint.similarity",
            np.allclose(again[::-1], sims, atol=1e-6),
            "similarities depend on the batch or its order",
        )
    return c.passed
