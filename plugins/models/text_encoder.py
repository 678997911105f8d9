"""The word encoder AttentionXML's networks share in design: embedding -> dropout -> BiLSTM
-> dropout, giving one context vector per word.

Kept apart from any head (flat label-wise attention, a label tree level) so that work on
the encoder alone, such as re-encoding only what a one-word edit changes, serves every
model built on it. Heads subclass :class:`WordEncoder`, which keeps their state-dict names
(``embedding.weight``, ``lstm.forward_layers.0...``) flat, as checkpoints have them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` steps of ``x`` (B, T, ...) and leave the
    padding after them in place; applying it twice gives ``x`` back."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device)[None, :]
    n = lengths.to(x.device)[:, None]
    index = torch.where(t < n, n - 1 - t, t)  # (B, T)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


def length_mask(lengths: torch.Tensor, width: int, device: torch.device) -> torch.Tensor:
    """(B, T) booleans: True at each row's real steps, False at its padding."""
    return torch.arange(width, device=device)[None, :] < lengths.to(device)[:, None]


class BiLSTM(nn.Module):
    """A bidirectional LSTM over right-padded batches, exact for every row's length.

    ``nn.LSTM`` gets this exactness from packed sequences, but on CPU its packed path
    unrolls in autograd and its backward costs O(T²) memory traffic: the LSTM alone is 4x
    slower than the fused (oneDNN) kernel at 130 words and 8x at 300, a whole training step
    1.7x and 2.8x (bench/README.md). Here each direction
    is a unidirectional ``nn.LSTM`` on a plain padded tensor: trailing padding cannot reach
    the forward direction's real steps, and the backward direction reads every row
    reversed within its length, so both see exactly the words a packed run would.
    """

    def __init__(self, input_size: int, hidden: int, layers: int):
        super().__init__()
        sizes = [input_size] + [2 * hidden] * (layers - 1)
        self.forward_layers = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.backward_layers = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, e) -> (B, T, 2h), zero at padded steps (as ``pad_packed_sequence`` gives)."""
        mask = length_mask(lengths, x.shape[1], x.device)
        for fwd, bwd in zip(self.forward_layers, self.backward_layers, strict=True):
            ahead, _ = fwd(x)
            behind, _ = bwd(reverse_within_length(x, lengths))
            x = torch.cat([ahead, reverse_within_length(behind, lengths)], dim=-1)
            x = x * mask[:, :, None]
        return x

    @staticmethod
    def keys_from_packed(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
        """Rename a bidirectional ``nn.LSTM``'s weights (checkpoints written before this
        module existed: ``lstm.weight_ih_l0_reverse``) to this module's names."""
        out = {}
        for key, value in tensors.items():
            if not key.startswith(prefix) or "_layers." in key:
                out[key] = value
                continue
            name = key[len(prefix) :]
            reverse = name.endswith("_reverse")
            name = name.removesuffix("_reverse")
            base, layer = name.rsplit("_l", 1)
            side = "backward_layers" if reverse else "forward_layers"
            out[f"{prefix}{side}.{layer}.{base}_l0"] = value
        return out


class WordEncoder(nn.Module):
    """Token ids -> per-word context vectors (B, T, 2h), zero at padding.

    ``embedding`` row 0 is ``<pad>``. :meth:`encode_embedded` starts from word vectors, so
    gradient saliency can differentiate with respect to them.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        hidden: int,
        layers: int,
        emb_dropout: float,
        lstm_dropout: float,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.emb_drop = nn.Dropout(emb_dropout)
        self.lstm = BiLSTM(emb_dim, hidden, layers)
        self.lstm_drop = nn.Dropout(lstm_dropout)

    @property
    def context_size(self) -> int:
        """Size of one word's context vector (2h)."""
        return 2 * self.lstm.forward_layers[0].hidden_size

    def encode_embedded(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, e) word vectors -> (B, T, 2h) context vectors."""
        return self.lstm_drop(self.lstm(self.emb_drop(emb), lengths))

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, 2h) context vectors."""
        return self.encode_embedded(self.embedding(ids), lengths)
