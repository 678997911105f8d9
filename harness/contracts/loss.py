"""The loss contract: per-label rebalanced losses that model plugins train with
(docs/method.md, "Rebalanced losses").

A loss plugin subclasses :class:`Loss` and supplies only the elementwise ``ℓ+`` and ``ℓ-``;
the weighting (plain, PW, PW-cb) is shared here so every loss applies it identically. A
:class:`Loss` is dataset-independent (it is what the registry builds from options);
:meth:`Loss.bind` attaches it to a dataset's label counts and gives the ``torch`` module a
model calls in its training loop.

    ℓ(z, y) = y · w_j · ℓ+(z) + (1 − y) · ℓ-(z),   averaged over every element.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from harness.components import Option
from harness.errors import UsageError
from harness.labelstats import NORMALISATIONS, WEIGHTINGS, label_weights

LOSS_OPTIONS: tuple[Option, ...] = (
    Option(
        "weighting",
        str,
        "none",
        "per-label weight of the positive part: none, pw (propensity), pw-cb (+ class balance)",
        choices=WEIGHTINGS,
    ),
    Option(
        "beta",
        float,
        0.9,
        "class-balancing β of pw-cb: C_j = (1 - β)/(1 - β^n_j)",
        min=0.0,
        max=1.0,
        min_inclusive=False,
        max_inclusive=False,
    ),
    Option(
        "normalise",
        str,
        "labels",
        "scale of the pw / pw-cb weights: labels (mean 1 over labels, the paper's) or positives "
        "(training positives weigh as much in total as unweighted; same optimum ranking)",
        choices=NORMALISATIONS,
    ),
    Option(
        "defer",
        float,
        0.0,
        "deferred re-weighting (Cao et al., 2019): the fraction of training run with plain "
        "weights before the weighting applies; 0: weighted from the start (the paper's)",
        min=0.0,
        max=1.0,
        max_inclusive=False,
    ),
    Option(
        "propensity_a",
        float,
        None,
        "propensity constant A (default: the dataset's, usually 0.55)",
        min=0.0,
        min_inclusive=False,
    ),
    Option(
        "propensity_b",
        float,
        None,
        "propensity constant B (default: the dataset's, usually 1.5)",
        min=0.0,
        min_inclusive=False,
    ),
)
"""Options every loss component takes; loss plugins pass this as ``Component.options``."""


class Loss(ABC):
    """A per-label loss given by its positive and negative parts, plus a label weighting.

    Subclasses set ``name`` and implement :meth:`positive` and :meth:`negative` elementwise
    and numerically stably (they see raw logits of any magnitude).
    """

    name: str = "?"

    def __init__(
        self,
        weighting: str = "none",
        beta: float = 0.9,
        propensity_a: float | None = None,
        propensity_b: float | None = None,
        normalise: str = "labels",
        defer: float = 0.0,
    ):
        if weighting not in WEIGHTINGS:
            raise UsageError(
                f"loss:{self.name}.weighting",
                f"{weighting!r} is not one of: {', '.join(WEIGHTINGS)}",
            )
        if not 0.0 < beta < 1.0:
            raise UsageError(f"loss:{self.name}.beta", f"must be in (0, 1), got {beta}")
        for opt, value in (("propensity_a", propensity_a), ("propensity_b", propensity_b)):
            if value is not None and not value > 0:
                raise UsageError(f"loss:{self.name}.{opt}", f"must be > 0, got {value}")
        self.weighting = weighting
        self.beta = beta
        self.propensity_a = propensity_a
        self.propensity_b = propensity_b
        if normalise not in NORMALISATIONS:
            raise UsageError(
                f"loss:{self.name}.normalise",
                f"{normalise!r} is not one of: {', '.join(NORMALISATIONS)}",
            )
        self.normalise = normalise
        if not 0.0 <= defer < 1.0:
            raise UsageError(f"loss:{self.name}.defer", f"must be in [0, 1), got {defer}")
        self.defer = defer

    @abstractmethod
    def positive(self, z: torch.Tensor) -> torch.Tensor:
        """ℓ+(z): the loss of logit ``z`` for a label that is present, elementwise."""

    @abstractmethod
    def negative(self, z: torch.Tensor) -> torch.Tensor:
        """ℓ-(z): the loss of logit ``z`` for a label that is absent, elementwise."""

    def config(self) -> dict[str, Any]:
        """The loss's name and options, for checkpoints and run records."""
        return {
            "name": self.name,
            "weighting": self.weighting,
            "beta": self.beta,
            "propensity_a": self.propensity_a,
            "propensity_b": self.propensity_b,
            "normalise": self.normalise,
            "defer": self.defer,
        }

    def bind(
        self,
        label_counts: np.ndarray,
        n_docs: int,
        propensity_a: float = 0.55,
        propensity_b: float = 1.5,
    ) -> BoundLoss:
        """This loss with per-label weights from a dataset's training label counts.

        ``propensity_a`` / ``propensity_b`` are the dataset's constants (``Corpus``); the
        loss's own options, when set, override them.
        """
        a = self.propensity_a if self.propensity_a is not None else propensity_a
        b = self.propensity_b if self.propensity_b is not None else propensity_b
        w = label_weights(
            label_counts, n_docs, self.weighting, beta=self.beta, a=a, b=b, normalise=self.normalise
        )
        return BoundLoss(self, torch.as_tensor(w, dtype=torch.float32))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({opts})"


class BoundLoss(torch.nn.Module):
    """A :class:`Loss` with its per-label weights, as a module a model calls on its logits.

    ``weights`` is a non-persistent buffer: it follows the module across devices but stays
    out of ``state_dict``, because it is derived from the dataset and the loss options (both
    recorded elsewhere), and a checkpoint should load whatever loss it was trained with.

    With ``defer`` > 0 (deferred re-weighting) the weights apply only once the training
    loop reports, through :meth:`set_progress`, that that fraction of training is done;
    before, every label weighs 1. A loop that never reports trains weighted throughout.
    """

    weights: torch.Tensor

    def __init__(self, loss: Loss, weights: torch.Tensor):
        super().__init__()
        self.loss = loss
        self.register_buffer("weights", weights.to(torch.float32), persistent=False)
        self.weighted = True

    def set_progress(self, done: float) -> None:
        """Tell the loss what fraction of training is done (0 at the first step)."""
        self.weighted = done >= self.loss.defer

    def forward(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        columns: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean of ``y w_j ℓ+(z) + (1 - y) ℓ-(z)`` over every element of ``logits``.

        ``columns`` (a LongTensor, shape ``(C,)`` or the logits' shape) names the label of
        each logit column, for heads that score only a subset of the labels; without it the
        last dimension must be the full label set.
        """
        if logits.shape != targets.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)}")
        if columns is None:
            if logits.shape[-1] != self.weights.shape[0]:
                raise ValueError(
                    f"logits have {logits.shape[-1]} columns but the loss has "
                    f"{self.weights.shape[0]} labels; pass columns= for a subset"
                )
            w = self.weights
        else:
            w = self.weights[columns.to(device=self.weights.device, dtype=torch.long)]
        y = targets.to(logits.dtype)
        positive = self.loss.positive(logits)
        if self.weighted:
            positive = w.to(device=logits.device, dtype=logits.dtype) * positive
        per = y * positive + (1 - y) * self.loss.negative(logits)
        return per.mean()

    def extra_repr(self) -> str:
        """The loss and label count, in the module's printed form."""
        return f"{self.loss!r}, labels={self.weights.shape[0]}"
