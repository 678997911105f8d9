"""Binary cross-entropy per label, with the shared plain / PW / PW-cb weighting."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness import hookimpl
from harness.components import Component
from harness.contracts.loss import LOSS_OPTIONS, Loss


class BCELoss(Loss):
    """``ℓ+ = -log σ(z) = softplus(-z)``, ``ℓ- = -log(1 - σ(z)) = softplus(z)``.

    Written with softplus rather than ``log(sigmoid(z))`` so large ``|z|`` neither
    underflows to ``log 0`` nor loses the gradient.
    """

    name = "bce"

    def positive(self, z: torch.Tensor) -> torch.Tensor:
        return F.softplus(-z)

    def negative(self, z: torch.Tensor) -> torch.Tensor:
        return F.softplus(z)


@hookimpl
def xmtc_register_losses() -> list[Component]:
    return [
        Component(
            kind="loss",
            name="bce",
            description="binary cross-entropy per label (weighting: none, pw, pw-cb)",
            factory=BCELoss,
            options=LOSS_OPTIONS,
        )
    ]
