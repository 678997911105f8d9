"""What a model's training loop hands a regime: its batches in three parts.

A regime changes what one training step computes, not how a model is built, so a model
that trains inside its own loop (``train_loop`` of the torch models) exposes each batch as
*inputs* (token ids and labels of some training rows, or of other texts standing in for
them), *word vectors* (through the embedding layer, inside the autograd graph) and the
*loss from word vectors*. Plain training is ``loss(batch, embed(batch))``; the embedding
regime perturbs the vectors between the two; the substitution regime swaps in adversarial
texts for some rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch


class BatchParts(Protocol):
    """One model's training batches, split where a regime needs to act."""

    def batch(self, rows: np.ndarray, texts: Sequence[Sequence[str]] | None = None) -> Any:
        """The inputs of training ``rows`` (their label rows as targets); with ``texts``
        (one word list per row), those texts stand in for the rows' documents."""

    def embed(self, batch: Any) -> torch.Tensor:
        """The batch's word vectors ``(B, T, e)``, computed by the embedding layer (so the
        gradient reaches it), zero-padded rows included."""

    def loss(self, batch: Any, embedded: torch.Tensor) -> torch.Tensor:
        """The batch's training loss (the bound loss, weighting included) from ``embedded``
        word vectors in place of the embedding layer's."""


class Regime(Protocol):
    """What ``train_loop`` calls when a regime is active."""

    cost: Any

    def step(self, parts: BatchParts, rows: np.ndarray) -> float:
        """Forward and backward passes of one batch (gradients accumulated into the
        parameters, which the loop has zeroed); returns the batch's loss."""

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Called after epoch ``epoch`` (1-based) of ``epochs``, before the next begins."""
