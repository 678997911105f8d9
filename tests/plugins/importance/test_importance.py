"""Importance scorers (docs/method.md, "Word importance") against brute force on a tiny
trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.attack.engine import QueryEngine
from harness.attack.goals import Goal
from harness.errors import UsageError
from harness.registry import DEFAULT_REGISTRY, load_registry, read_registry_file
from harness.text import is_attackable
from tests.helpers.toymodel import ToyData, train_toy


@pytest.fixture(scope="module")
def toy() -> ToyData:
    return train_toy()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The registry with only the importance/substituter/similarity modules of registry.yaml,
    so other plugins under development cannot break these tests."""
    kinds = {"importance", "substituters", "similarity"}
    mods = [m for m in read_registry_file(DEFAULT_REGISTRY) if m.split(".")[1] in kinds]
    path = tmp_path_factory.mktemp("reg") / "registry.yaml"
    path.write_text("mine:\n" + "".join(f"  - {m}\n" for m in mods))
    return load_registry(registry_file=path)


def _doc_and_goals(toy: ToyData) -> tuple[list[str], list[Goal], np.ndarray]:
    words = toy.docs[3]
    base = toy.model.predict_proba([words])
    true = list(toy.labels[3])
    top = list(np.argsort(-base[0], kind="stable")[:5])
    positive = Goal("positive", (next(j for j in top if j in true),))
    negative = Goal("negative", (next(j for j in np.argsort(base[0]) if j not in top),))
    nontarget = Goal("non-targeted", tuple(j for j in top if j in true))
    return words, [positive, negative, nontarget], base


def _brute_force(words, positions, model, goal, base, occlude) -> np.ndarray:
    """Σ_Γ[g(S) − g(S\\i)] (positive, non-targeted) or Σ_Γ[g(S\\i) − g(S)] (negative)."""
    gamma = goal.gamma(base)
    out = []
    for i in positions:
        p = model.predict_proba([occlude(words, i)])[0]
        diff = base[0, gamma].astype(np.float64).sum() - p[gamma].astype(np.float64).sum()
        out.append(-diff if goal.kind == "negative" else diff)
    return np.array(out)


@pytest.mark.parametrize("name", ["mask", "delete"])
def test_occlusion_matches_brute_force_in_one_batch(toy, registry, name):
    scorer = registry.build("importance", name)
    words, goals, base = _doc_and_goals(toy)
    positions = [i for i, w in enumerate(words) if is_attackable(w)]
    if name == "mask":

        def occlude(ws, i):
            return ws[:i] + [toy.model.mask_token] + ws[i + 1 :]
    else:

        def occlude(ws, i):
            return ws[:i] + ws[i + 1 :]

    for goal in goals:
        engine = QueryEngine(toy.model, max_batch=64)
        got = scorer.scores(words, positions, engine, goal, base)
        want = _brute_force(words, positions, toy.model, goal, base, occlude)
        assert got.shape == (len(positions),)
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert engine.counters.logical_queries == len(positions)
        assert engine.counters.batches == 1


def test_mask_ranks_the_targets_keywords_first(toy, registry):
    """Positive goal: the most important word is a keyword of the target label's topic."""
    from tests.helpers.toymodel import TOPICS

    words, goals, base = _doc_and_goals(toy)
    goal = goals[0]
    positions = [i for i, w in enumerate(words) if is_attackable(w)]
    imp = registry.build("importance", "mask").scores(
        words, positions, QueryEngine(toy.model), goal, base
    )
    best = words[positions[int(np.argmax(imp))]]
    assert best in TOPICS[toy.label_names[goal.targets[0]]]
    assert imp.max() > 0


def test_gradient_uses_one_backward_pass_and_matches_autograd(toy, registry):
    words, goals, base = _doc_and_goals(toy)
    goal = goals[0]
    positions = [i for i, w in enumerate(words) if is_attackable(w)]
    engine = QueryEngine(toy.model)
    got = registry.build("importance", "gradient").scores(words, positions, engine, goal, base)
    assert engine.counters.backward_passes == 1 and engine.counters.forward_passes == 1
    assert got.shape == (len(positions),) and (got >= 0).all() and got.max() > 0
    # finite differences on one word's embedding reproduce the gradient norm
    model = toy.model
    ids = torch.tensor(model.ids(words))
    gamma = list(goal.gamma(base))
    i = positions[0]

    def objective(vecs: torch.Tensor) -> float:
        with torch.no_grad():
            probs = torch.sigmoid(model._head(vecs.unsqueeze(0), torch.ones(1, len(ids))))[0]
        return float(goal.sign * probs[gamma].double().sum())

    vecs = model.emb(ids).detach().double()
    model.hid.double()
    model.out.double()
    try:
        eps = 1e-6
        grad = np.zeros(vecs.shape[1])
        for d in range(vecs.shape[1]):
            up, down = vecs.clone(), vecs.clone()
            up[i, d] += eps
            down[i, d] -= eps
            grad[d] = (objective(up) - objective(down)) / (2 * eps)
    finally:
        model.hid.float()
        model.out.float()
    assert got[0] == pytest.approx(np.linalg.norm(grad), rel=1e-3)


def test_gradient_refuses_black_box_models(toy, registry):
    words, goals, base = _doc_and_goals(toy)
    model = train_toy(n_docs=40, epochs=1).model
    model.supports_gradients = False
    with pytest.raises(UsageError, match="white-box"):
        registry.build("importance", "gradient").scores(
            words, [0], QueryEngine(model), goals[0], base
        )


def test_empty_positions(toy, registry):
    words, goals, base = _doc_and_goals(toy)
    for name in ("mask", "delete", "gradient"):
        out = registry.build("importance", name).scores(
            words, [], QueryEngine(toy.model), goals[0], base
        )
        assert out.shape == (0,)
