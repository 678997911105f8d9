"""The embedding regime on a small real model: the perturbation points uphill and has the
radius's norm, training under it is deterministic, and its passes are counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.regimes.cost import TrainingCost
from harness.regimes.embedding import EmbeddingAdversary, per_document_unit, project
from harness.regimes.spec import resolve_regime
from plugins.models.attentionxml import FlatBatches
from tests.helpers.models import bound_loss, registry, reuters_slice
from tests.regimes.conftest import TINY


def _parts(corpus, model):
    encoded = [model.ids(d.words) for d in corpus.train]
    return FlatBatches(model, encoded, corpus.label_matrix("train"), bound_loss(corpus))


def _clean(parts, batch):
    """Clean loss and its gradient with respect to the word vectors (eval mode: no dropout,
    so clean and perturbed passes compare like with like)."""
    emb = parts.embed(batch).detach().requires_grad_(True)
    loss = parts.loss(batch, emb)
    (grad,) = torch.autograd.grad(loss, emb)
    return emb.detach(), float(loss.detach()), grad


@pytest.mark.parametrize("method,steps", [("fgm", 1), ("pgd", 3), ("freelb", 2)])
def test_perturbation_raises_the_loss_and_has_the_radius_norm(tiny_reuters, method, steps):
    corpus, model = tiny_reuters
    model.net.eval()
    parts = _parts(corpus, model)
    rows = np.arange(32)
    batch = parts.batch(rows)
    emb, clean, grad = _clean(parts, batch)
    adversary = EmbeddingAdversary(
        resolve_regime("embedding", {"method": method, "steps": steps, "radius": 3.0})
    )
    delta = adversary.perturbation(parts, batch, grad).detach()
    norms = delta.flatten(1).norm(dim=1).numpy()
    if method == "fgm":
        np.testing.assert_allclose(norms, 3.0, rtol=1e-5)
    else:  # projected steps stay in the ball; 2.5 x radius / steps reaches its surface
        assert np.all(norms <= 3.0 * (1 + 1e-5)) and np.all(norms >= 3.0 * (1 - 1e-3))
    # nothing moves on the padding
    lengths = batch[1]
    for i, n in enumerate(lengths.tolist()):
        assert torch.all(delta[i, n:] == 0)
    with torch.no_grad():
        attacked = float(parts.loss(batch, emb + delta))
        torch.manual_seed(0)
        noise = per_document_unit(torch.randn_like(delta) * (delta != 0)) * 3.0
        random = float(parts.loss(batch, emb + noise))
    assert attacked > clean  # the attack direction is right
    assert attacked - clean > 5 * abs(random - clean)  # and far better than chance


def test_project_and_unit() -> None:
    x = torch.tensor([[[3.0, 4.0]], [[0.0, 0.0]], [[0.3, 0.4]]])
    unit = per_document_unit(x)
    np.testing.assert_allclose(unit.flatten(1).norm(dim=1).numpy(), [1.0, 0.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(project(x, 1.0).flatten(1).norm(dim=1).numpy(), [1.0, 0.0, 0.5])


def _fit(regime_options, seed=0):
    corpus = reuters_slice()
    cost = TrainingCost("embedding")
    adversary = EmbeddingAdversary(resolve_regime("embedding", regime_options), cost)
    model = registry().build("model", "attentionxml", {**TINY, "epochs": 2})
    model.fit(
        [d.words for d in corpus.train[:400]],
        corpus.label_matrix("train")[:400],
        bound_loss(corpus),
        label_names=corpus.label_names,
        seed=seed,
        progress=False,
        regime=adversary,
    )
    return model, cost


def test_training_is_deterministic_and_counts_its_passes() -> None:
    a, cost_a = _fit({})
    b, cost_b = _fit({})
    ta, tb = a.state()[0], b.state()[0]
    assert ta.keys() == tb.keys()
    assert all(np.array_equal(ta[k], tb[k]) for k in ta)
    c, _ = _fit({}, seed=1)
    assert not np.array_equal(c.state()[0]["fc.0.weight"], ta["fc.0.weight"])
    d = cost_a.as_dict()
    assert d["documents_forward"] == {"clean": 800, "extra": 800}  # 400 docs x 2 epochs
    assert d["forward_vs_plain"] == 2.0 and d["backward_vs_plain"] == 2.0
    assert cost_a.steps == 2 * 25 and cost_a.epochs == 2 and len(cost_a.epoch_seconds) == 2
    assert cost_a.plain_seconds > 0 and cost_a.extra_seconds > 0
    _, freelb = _fit({"method": "freelb", "steps": 3})
    assert freelb.as_dict()["forward_vs_plain"] == 4.0  # clean + 3 ascent passes
    _, pgd = _fit({"method": "pgd", "steps": 2})
    assert pgd.as_dict()["backward_vs_plain"] == 3.0  # clean + 1 ascent + the last point
