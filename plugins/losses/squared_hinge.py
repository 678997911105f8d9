"""Squared hinge per label, with the shared plain / PW / PW-cb weighting."""

from __future__ import annotations

import torch

from harness import hookimpl
from harness.components import Component
from harness.contracts.loss import LOSS_OPTIONS, Loss


class SquaredHingeLoss(Loss):
    """``ℓ+ = max(0, 1 - z)²``, ``ℓ- = max(0, 1 + z)²`` on raw logits (margin 1)."""

    name = "squared-hinge"

    def positive(self, z: torch.Tensor) -> torch.Tensor:
        return torch.clamp(1 - z, min=0).square()

    def negative(self, z: torch.Tensor) -> torch.Tensor:
        return torch.clamp(1 + z, min=0).square()


@hookimpl
def xmtc_register_losses() -> list[Component]:
    return [
        Component(
            kind="loss",
            name="squared-hinge",
            description="squared hinge per label (weighting: none, pw, pw-cb)",
            factory=SquaredHingeLoss,
            options=LOSS_OPTIONS,
        )
    ]
