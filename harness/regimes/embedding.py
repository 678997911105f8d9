"""Adversarial training in embedding space: FGM, PGD and FreeLB on the word vectors.

Each training batch is run clean, the gradient of its loss with respect to its word vectors
gives the attack direction, and the batch is run again with the vectors moved along it by
at most ``radius`` (the L2 norm of a document's whole perturbation, as Miyato et al., 2017,
normalise it per sequence). The parameters learn from ``(1 - share) x clean + share x
adversarial``:

* ``fgm`` takes one step of length ``radius`` along the normalised gradient.
* ``pgd`` takes ``steps`` steps of ``step_size`` (2.5 x radius / steps unless given), each
  along its own normalised gradient, projected back onto the ball, and learns from the
  last point.
* ``freelb`` takes the same steps but learns from every point, the parameters' gradients
  averaged over them (Zhu et al., 2020), so each ascent pass also trains.

Hand-written: no library does adversarial training for a model whose training step is the
harness's own (the loss plugins, deferred weights, SWA). Passes are counted per document:
the clean pass is plain training's; each step adds one forward and one backward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from harness.regimes.cost import TrainingCost
from harness.regimes.steps import BatchParts


def per_document_unit(g: torch.Tensor) -> torch.Tensor:
    """``g`` (B, T, e) scaled so each document's whole slice has L2 norm 1 (0 stays 0)."""
    norm = g.flatten(1).norm(dim=1)
    scale = torch.where(norm > 0, 1.0 / norm.clamp_min(1e-30), torch.zeros_like(norm))
    return g * scale[:, None, None]


def project(delta: torch.Tensor, radius: float) -> torch.Tensor:
    """``delta`` with each document's slice pulled back into the L2 ball of ``radius``."""
    norm = delta.flatten(1).norm(dim=1)
    scale = torch.clamp(radius / norm.clamp_min(1e-30), max=1.0)
    return delta * scale[:, None, None]


class EmbeddingAdversary:
    """The ``embedding`` regime's training step (a :class:`~harness.regimes.steps.Regime`)."""

    def __init__(self, options: Mapping[str, Any], cost: TrainingCost | None = None):
        self.method = str(options["method"])
        self.radius = float(options["radius"])
        self.steps = int(options["steps"])
        self.step_size = float(options["step_size"]) or 2.5 * self.radius / self.steps
        self.share = float(options["share"])
        self.cost = cost if cost is not None else TrainingCost("embedding")

    # -- the perturbation -------------------------------------------------------------------
    def first(self, grad: torch.Tensor) -> torch.Tensor:
        """The first point from the clean loss's gradient with respect to the vectors."""
        unit = per_document_unit(grad.detach())
        if self.method == "fgm":
            return self.radius * unit
        return project(self.step_size * unit, self.radius)

    def ascend(self, delta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One projected step from ``delta`` along ``grad``."""
        return project(delta + self.step_size * per_document_unit(grad.detach()), self.radius)

    def perturbation(self, parts: BatchParts, batch: Any, grad: torch.Tensor) -> torch.Tensor:
        """The point the parameters learn from (fgm, pgd; freelb's last point), from the
        clean gradient ``grad``; the ascent passes are counted as extra passes."""
        delta = self.first(grad)
        if self.method == "fgm":
            return delta
        n = int(grad.shape[0])
        for _ in range(self.steps - 1):
            d = delta.detach().requires_grad_(True)
            out = parts.loss(batch, parts.embed(batch).detach() + d)
            (g,) = torch.autograd.grad(out, d)
            delta = self.ascend(d.detach(), g)
            self.cost.extra_forward += n
            self.cost.extra_backward += n
        return delta

    # -- one training step ------------------------------------------------------------------
    def step(self, parts: BatchParts, rows: np.ndarray) -> float:
        s, n = self.share, len(rows)
        cost = self.cost
        with cost.timing("plain"):
            batch = parts.batch(rows)
            emb = parts.embed(batch)
            emb.retain_grad()
            clean = parts.loss(batch, emb)
            if s < 1.0:
                ((1.0 - s) * clean).backward()
                grad = emb.grad
            else:  # no clean term: the gradient for the direction only
                (grad,) = torch.autograd.grad(clean, emb)
        cost.clean_forward += n
        cost.clean_backward += n
        cost.steps += 1
        assert grad is not None
        with cost.timing("extra"):
            adversarial = self._adversarial_loss(parts, batch, grad)
        return (1.0 - s) * float(clean.detach()) + s * adversarial

    def _adversarial_loss(self, parts: BatchParts, batch: Any, grad: torch.Tensor) -> float:
        """Backward passes of the adversarial term (scaled by ``share``); returns its value."""
        s, n = self.share, int(grad.shape[0])
        if self.method != "freelb":
            delta = self.perturbation(parts, batch, grad)
            out = parts.loss(batch, parts.embed(batch) + delta.detach())
            (s * out).backward()
            self.cost.extra_forward += n
            self.cost.extra_backward += n
            return float(out.detach())
        delta = self.first(grad)
        total = 0.0
        for t in range(self.steps):
            last = t == self.steps - 1
            d = delta.detach().requires_grad_(not last)
            out = parts.loss(batch, parts.embed(batch) + d)
            (s / self.steps * out).backward()
            total += float(out.detach()) / self.steps
            self.cost.extra_forward += n
            self.cost.extra_backward += n
            if not last:
                assert d.grad is not None
                delta = self.ascend(d.detach(), d.grad)
        return total

    def end_epoch(self, epoch: int, epochs: int) -> None:
        self.cost.epochs += 1
