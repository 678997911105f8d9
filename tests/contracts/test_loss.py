"""Losses and label weights against the formulas of docs/method.md ("Rebalanced losses"),
written out here directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.contracts.loss import BoundLoss, Loss
from harness.errors import UsageError
from harness.labelstats import WEIGHTINGS, label_weights, propensities
from harness.registry import load_registry

COUNTS = np.array([0, 1, 2, 5, 20, 100, 400, 3])
N_DOCS = 1000


def expected_weights(weighting: str, counts=COUNTS, n=N_DOCS, beta=0.9, a=0.55, b=1.5):
    """Element by element, straight from the text of §7."""
    c = (math.log(n) - 1) * (b + 1) ** a
    out = []
    for n_j in counts:
        p = 1 / (1 + c * (n_j + b) ** (-a))
        w = {"none": 1.0, "pw": 2 / p - 1, "pw-cb": (1 - beta) / (1 - beta ** max(n_j, 1))}
        out.append(w[weighting] * (2 / p - 1) if weighting == "pw-cb" else w[weighting])
    total = sum(out)
    return np.array([len(out) * w / total for w in out])


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


FORMULAS = {
    # name: (l+, l-, dl+/dz, dl-/dz)
    "bce": (
        lambda z: -math.log(sigmoid(z)),
        lambda z: -math.log(1 - sigmoid(z)),
        lambda z: sigmoid(z) - 1,
        lambda z: sigmoid(z),
    ),
    "squared-hinge": (
        lambda z: max(0.0, 1 - z) ** 2,
        lambda z: max(0.0, 1 + z) ** 2,
        lambda z: -2 * max(0.0, 1 - z),
        lambda z: 2 * max(0.0, 1 + z),
    ),
}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_propensities_and_weights_match_formulas() -> None:
    c = (math.log(N_DOCS) - 1) * 2.5**0.55
    want_p = [1 / (1 + c * (n + 1.5) ** -0.55) for n in COUNTS]
    np.testing.assert_allclose(propensities(COUNTS, N_DOCS), want_p, rtol=1e-12)
    for weighting in WEIGHTINGS:
        got = label_weights(COUNTS, N_DOCS, weighting)
        np.testing.assert_allclose(got, expected_weights(weighting), rtol=1e-12)
        assert got.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(
        label_weights(COUNTS, N_DOCS, "pw-cb", beta=0.5, a=0.6, b=2.6),
        expected_weights("pw-cb", beta=0.5, a=0.6, b=2.6),
        rtol=1e-12,
    )


def test_pw_cb_up_weights_tail_more_than_pw() -> None:
    counts = np.array([1, 10, 1000])
    pw = label_weights(counts, 5000, "pw")
    cb = label_weights(counts, 5000, "pw-cb")
    assert pw[0] > pw[1] > pw[2] and cb[0] > cb[1] > cb[2]
    assert cb[0] / cb[2] > pw[0] / pw[2] > 1
    assert cb[0] > 1 > cb[2]


@pytest.mark.parametrize("weighting", ["pw", "pw-cb"])
def test_positives_normalisation_keeps_the_positive_total_and_the_ratios(weighting: str) -> None:
    by_labels = label_weights(COUNTS, N_DOCS, weighting)
    by_positives = label_weights(COUNTS, N_DOCS, weighting, normalise="positives")
    assert (by_positives * COUNTS).sum() == pytest.approx(COUNTS.sum())
    ratio = by_positives / by_labels  # one factor for every label: same optimum ranking
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    np.testing.assert_array_equal(label_weights(COUNTS, N_DOCS, "none", normalise="positives"), 1)


def test_normalise_option_is_checked_and_recorded(registry) -> None:
    loss = registry.build("loss", "bce", {"weighting": "pw-cb", "normalise": "positives"})
    assert loss.config()["normalise"] == "positives"
    bound = loss.bind(COUNTS, N_DOCS)
    np.testing.assert_allclose(
        bound.weights.numpy(),
        label_weights(COUNTS, N_DOCS, "pw-cb", normalise="positives"),
        rtol=1e-6,
    )
    with pytest.raises(Exception, match="normalise"):
        registry.build("loss", "bce", {"normalise": "total"})
    with pytest.raises(ValueError, match="normalise"):
        label_weights(COUNTS, N_DOCS, "pw", normalise="total")


def test_weights_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="weighting"):
        label_weights(COUNTS, N_DOCS, "focal")
    with pytest.raises(ValueError, match="3 training documents"):
        label_weights(COUNTS, 2, "pw")
    np.testing.assert_array_equal(label_weights(COUNTS, 2, "none"), 1.0)  # needs no p
    with pytest.raises(ValueError, match="non-negative"):
        propensities(np.array([-1]), 10)


@pytest.mark.parametrize("name", ["bce", "squared-hinge"])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_values_and_gradients(registry, name: str, weighting: str) -> None:
    loss = registry.build("loss", name, {"weighting": weighting})
    assert isinstance(loss, Loss) and loss.name == name
    bound = loss.bind(COUNTS, N_DOCS)
    assert isinstance(bound, BoundLoss) and bound.weights.dtype == torch.float32
    gen = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(5, len(COUNTS), generator=gen, dtype=torch.float64)).requires_grad_()
    y = (torch.rand(5, len(COUNTS), generator=gen) < 0.4).to(torch.float64)
    out = bound(z, y)
    out.backward()

    lp, ln, dlp, dln = FORMULAS[name]
    w = expected_weights(weighting)
    zs, ys, n = z.detach().numpy(), y.numpy(), z.numel()
    value = 0.0
    want_grad = np.zeros_like(zs)
    for i, j in np.ndindex(zs.shape):
        zz, yy, ww = zs[i, j], ys[i, j], float(np.float32(w[j]))
        value += yy * ww * lp(zz) + (1 - yy) * ln(zz)
        want_grad[i, j] = (yy * ww * dlp(zz) + (1 - yy) * dln(zz)) / n
    assert out.item() == pytest.approx(value / n, rel=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), want_grad, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", ["bce", "squared-hinge"])
def test_columns_select_label_weights(registry, name: str) -> None:
    bound = registry.build("loss", name, {"weighting": "pw-cb"}).bind(COUNTS, N_DOCS)
    z = torch.linspace(-2, 2, 2 * len(COUNTS)).reshape(2, -1)
    y = torch.tensor([[1.0, 0, 1, 0, 1, 1, 0, 0], [0, 1, 1, 1, 0, 0, 1, 0]])
    cols = torch.tensor([6, 0, 3])
    sub = bound(z[:, cols], y[:, cols], columns=cols)
    # Each logit column is weighted by the label it names, not by its position.
    w = torch.tensor(expected_weights("pw-cb"), dtype=torch.float32)
    direct = torch.stack(
        [
            y[i, c] * w[c] * bound.loss.positive(z[i, c])
            + (1 - y[i, c]) * bound.loss.negative(z[i, c])
            for i in range(2)
            for c in cols.tolist()
        ]
    ).mean()
    assert sub.item() == pytest.approx(direct.item(), rel=1e-6)
    positional = bound(z[:, cols], y[:, cols], columns=torch.arange(3))
    assert positional.item() != pytest.approx(sub.item(), rel=1e-3)
    per_row = bound(z[:, cols], y[:, cols], columns=cols.expand(2, 3))
    assert per_row.item() == pytest.approx(sub.item(), rel=1e-6)
    with pytest.raises(ValueError, match="columns"):
        bound(z[:, :3], y[:, :3])


def test_bce_is_stable_for_large_logits(registry) -> None:
    bound = registry.build("loss", "bce").bind(np.ones(2), 10)
    z = torch.tensor([[200.0, -200.0]], requires_grad=True)
    out = bound(z, torch.tensor([[0.0, 1.0]]))
    out.backward()
    assert out.item() == pytest.approx(200.0) and torch.isfinite(z.grad).all()


def test_options_validated_and_propensity_override(registry) -> None:
    comp = registry.get("loss", "bce")
    assert {o.name for o in comp.options} == {
        "weighting",
        "beta",
        "normalise",
        "defer",
        "propensity_a",
        "propensity_b",
    }
    assert registry.get("loss", "squared-hinge").options is comp.options
    with pytest.raises(UsageError, match="beta"):
        registry.build("loss", "bce", {"beta": "1.0"})
    with pytest.raises(UsageError, match="weighting"):
        registry.build("loss", "squared-hinge", {"weighting": "focal"})
    loss = registry.build("loss", "bce", {"weighting": "pw", "propensity_a": "0.6"})
    got = loss.bind(COUNTS, N_DOCS, propensity_a=0.5, propensity_b=2.6).weights.numpy()
    np.testing.assert_allclose(got, expected_weights("pw", a=0.6, b=2.6), rtol=1e-6)
    assert "weights" not in loss.bind(COUNTS, N_DOCS).state_dict()


@pytest.mark.parametrize("name", ["bce", "squared-hinge"])
def test_deferred_weighting_is_plain_until_its_share_of_training(registry, name: str) -> None:
    deferred = registry.build("loss", name, {"weighting": "pw-cb", "defer": "0.5"})
    assert deferred.config()["defer"] == 0.5
    bound = deferred.bind(COUNTS, N_DOCS)
    plain = registry.build("loss", name).bind(COUNTS, N_DOCS)
    weighted = registry.build("loss", name, {"weighting": "pw-cb"}).bind(COUNTS, N_DOCS)
    gen = torch.Generator().manual_seed(1)
    z = 3 * torch.randn(6, len(COUNTS), generator=gen)
    y = (torch.rand(6, len(COUNTS), generator=gen) < 0.5).float()
    assert plain(z, y).item() != pytest.approx(weighted(z, y).item(), rel=1e-3)
    # Never told the progress (a loop that does not report): weighted throughout.
    assert bound(z, y).item() == pytest.approx(weighted(z, y).item(), rel=1e-6)
    for done, like in ((0.0, plain), (0.49, plain), (0.5, weighted), (0.9, weighted)):
        bound.set_progress(done)
        assert bound(z, y).item() == pytest.approx(like(z, y).item(), rel=1e-6), done
    bound.set_progress(0.1)
    cols = torch.tensor([5, 2])
    sub = bound(z[:, cols], y[:, cols], columns=cols)
    assert sub.item() == pytest.approx(plain(z[:, cols], y[:, cols], columns=cols).item())
    for bad in ("1.0", "-0.1"):
        with pytest.raises(UsageError, match="defer"):
            registry.build("loss", name, {"defer": bad})
