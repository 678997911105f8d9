"""``check_loss``: a loss plugin is finite, stable, differentiable and weighted alike."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import torch

from harness.contracts.loss import BoundLoss, Loss
from harness.errors import HarnessError
from harness.testing.rules import Checker


def check_loss(make_loss: Callable[..., object], *, name: str = "loss") -> list[str]:
    """Check a loss against :class:`harness.contracts.loss.Loss`.

    :param make_loss: builds the loss from keyword options; called with none, with
        ``weighting="pw-cb"``, and with ``weighting="bogus"`` (which must raise a
        :class:`~harness.errors.HarnessError` naming the option).
    :returns: the rules passed; the first broken one raises
        :class:`~harness.testing.ConformanceError`.
    """
    c = Checker(name)
    loss = c.call("loss.build", make_loss)
    c.expect("loss.contract", isinstance(loss, Loss), "not a harness.contracts.loss.Loss")
    assert isinstance(loss, Loss)
    config = c.call("loss.config", loss.config)
    c.expect(
        "loss.config",
        isinstance(config, dict) and config.get("name") == loss.name,
        "config() must be a dict with the loss's name",
    )
    c.call("loss.config", json.dumps, config)
    z = torch.linspace(-6.0, 6.0, 25)
    pos, neg = loss.positive(z), loss.negative(z)
    c.expect(
        "loss.parts",
        pos.shape == z.shape and neg.shape == z.shape,
        "positive() and negative() must be elementwise",
    )
    c.expect(
        "loss.parts",
        bool((pos >= 0).all() and (neg >= 0).all()),
        "the positive and negative parts must be non-negative",
    )
    c.expect(
        "loss.parts",
        bool((pos[1:] <= pos[:-1] + 1e-6).all() and (neg[1:] >= neg[:-1] - 1e-6).all()),
        "a present label's loss must not grow with its logit, an absent one's not shrink",
    )
    counts = np.array([50, 20, 5, 2, 1, 0])
    bound = c.call("loss.bind", loss.bind, counts, 60)
    c.expect(
        "loss.bind",
        isinstance(bound, BoundLoss) and tuple(bound.weights.shape) == (len(counts),),
        "bind() must give a BoundLoss with one weight per label",
    )
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, len(counts), generator=gen, requires_grad=True)
    targets = (torch.rand(4, len(counts), generator=gen) > 0.6).float()
    value = c.call("loss.forward", bound, logits, targets)
    c.expect(
        "loss.forward",
        value.ndim == 0 and bool(torch.isfinite(value)) and float(value.detach()) >= 0,
        f"the loss must be a finite non-negative scalar, got {value}",
    )
    expected = (targets * loss.positive(logits) + (1 - targets) * loss.negative(logits)).mean()
    if loss.weighting == "none":
        c.expect(
            "loss.weighting",
            bool(torch.allclose(value, expected, atol=1e-6)),
            "with weighting none the loss must be the mean of y·ℓ+ + (1−y)·ℓ−",
        )
    value.backward()
    c.expect(
        "loss.gradient",
        logits.grad is not None and bool(torch.isfinite(logits.grad).all()),
        "the gradient is missing or not finite",
    )
    extreme = torch.tensor([[-80.0, 80.0, 0.0, -80.0, 80.0, 0.0]])
    far = bound(extreme, torch.tensor([[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]]))
    c.expect("loss.stable", bool(torch.isfinite(far)), "logits of ±80 give a non-finite loss")
    weighted = c.call("loss.weighting", make_loss, weighting="pw-cb")
    w = weighted.bind(counts, 60).weights
    c.expect(
        "loss.weighting",
        bool(torch.isfinite(w).all() and (w > 0).all()) and float(w[-2]) > float(w[0]),
        "pw-cb weights must be positive, and larger for rarer labels",
    )
    refused, _ = c.raised("loss.bad_option", lambda: make_loss(weighting="bogus"), HarnessError)
    c.expect("loss.bad_option", refused, "weighting='bogus' was accepted")
    return c.passed
