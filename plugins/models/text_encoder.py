"""The word encoder AttentionXML's networks share in design: embedding -> dropout -> BiLSTM
-> dropout, giving one context vector per word.

Kept apart from any head (flat label-wise attention, a label tree level) so that work on
the encoder alone, such as re-encoding only what a one-word edit changes, serves every
model built on it. Heads subclass :class:`WordEncoder`, which keeps their state-dict names
(``embedding.weight``, ``lstm.forward_layers.0...``) flat, as checkpoints have them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, first: int = 0) -> torch.Tensor:
        """(B, T, e) -> (B, T, 2h), zero at padded steps (as ``pad_packed_sequence`` gives).

        ``first`` > 0 starts at that layer: ``x`` is then the layer below's output."""
        mask = length_mask(lengths, x.shape[1], x.device)
        layers = zip(self.forward_layers[first:], self.backward_layers[first:], strict=True)
        for fwd, bwd in layers:
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


# -- re-encoding a text that shares a prefix or a suffix with one already encoded -----------
CHECKPOINT_EVERY = 16
"""Steps between the kept recurrent states of a reusable text. A query that shares its first
``p`` words with it restarts the forward LSTM from the last kept state at or before ``p``, so
it re-reads up to ``CHECKPOINT_EVERY - 1`` words it could have skipped; keeping states more
often costs the reusable text more ``nn.LSTM`` calls (about 80 µs each on CPU, measured), and
below 16 steps oneDNN's per-call cost grew several-fold in the same probe."""

RESUME_ROUNDING = 8
"""Re-read lengths are padded up to a multiple of this, so oneDNN sees few distinct shapes
(it builds a kernel per shape, about 1 ms, and caches it); the recurrence never reads the
right padding back into a real step."""


@dataclass
class DirectionStates:
    """One direction of a first BiLSTM layer over one text, in that direction's reading
    order (the backward direction reads the text from its last word): ``out`` (n, h) its
    outputs, ``h``/``c`` (K, h) its recurrent state before reading step ``k * every``."""

    out: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor


@dataclass
class FirstLayerStates:
    """What a reusable text keeps of one encoder: both directions of its first layer, and
    whatever the head on top keeps (``extra``: projections of those outputs)."""

    forward: DirectionStates
    backward: DirectionStates
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        sides = (self.forward, self.backward)
        tensors = [t for d in sides for t in (d.out, d.h, d.c)] + list(self.extra.values())
        return sum(t.element_size() * t.nelement() for t in tensors)


@dataclass
class Reused:
    """A text to encode from a kept text's states: its first ``prefix`` words and its
    last ``suffix`` words are the kept text's. Each direction restarts from the last kept
    state inside the shared part (``forward_steps``, ``backward_steps``: multiples of
    ``every``); outputs inside the shared parts are the kept text's."""

    states: FirstLayerStates
    prefix: int
    suffix: int
    every: int = CHECKPOINT_EVERY

    @property
    def forward_steps(self) -> int:
        return self.prefix // self.every * self.every

    @property
    def backward_steps(self) -> int:
        return self.suffix // self.every * self.every


def run_checkpointed(
    lstm: nn.LSTM, x: torch.Tensor, every: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``lstm`` over (B, T, e) from the zero state, ``every`` steps at a time: outputs
    (B, T, h) and the states (h, c) before each step ``k * every <= T``, (B, K, h) each.
    A row shorter than T has valid states up to ``k * every <= its length``."""
    batch, width, _ = x.shape
    h = x.new_zeros(1, batch, lstm.hidden_size)
    c = x.new_zeros(1, batch, lstm.hidden_size)
    outs, hs, cs = [], [h[0]], [c[0]]
    for start in range(0, width, every):
        out, (h, c) = lstm(x[:, start : start + every], (h, c))
        outs.append(out)
        if start + every <= width:
            hs.append(h[0])
            cs.append(c[0])
    return torch.cat(outs, dim=1), torch.stack(hs, dim=1), torch.stack(cs, dim=1)


def resume(
    lstm: nn.LSTM,
    inputs: list[torch.Tensor],
    h0: list[torch.Tensor],
    c0: list[torch.Tensor],
    max_rows: int = 64,
    waste: float = 0.25,
) -> list[torch.Tensor]:
    """``lstm`` over each row's inputs (m_i, e) from its own state (h0_i, c0_i): the
    outputs (m_i, h). Rows are batched longest first, padded on the right (never read back
    by the recurrence), a batch closed when its padding would exceed ``waste`` of its work."""
    out: list[torch.Tensor | None] = [None] * len(inputs)
    lens = [int(x.shape[0]) for x in inputs]
    for i, n in enumerate(lens):
        if n == 0:
            out[i] = inputs[i].new_zeros(0, lstm.hidden_size)
    todo = sorted((i for i, n in enumerate(lens) if n > 0), key=lambda i: -lens[i])
    j = 0
    while j < len(todo):
        width = -(-lens[todo[j]] // RESUME_ROUNDING) * RESUME_ROUNDING
        chunk, total = [todo[j]], lens[todo[j]]
        while j + len(chunk) < len(todo) and len(chunk) < max_rows:
            nxt = lens[todo[j + len(chunk)]]
            if (len(chunk) + 1) * width > (1 + waste) * (total + nxt):
                break
            chunk.append(todo[j + len(chunk)])
            total += nxt
        x = inputs[chunk[0]].new_zeros(len(chunk), width, inputs[chunk[0]].shape[1])
        for r, i in enumerate(chunk):
            x[r, : lens[i]] = inputs[i]
        h = torch.stack([h0[i] for i in chunk])[None]
        c = torch.stack([c0[i] for i in chunk])[None]
        y, _ = lstm(x, (h, c))
        for r, i in enumerate(chunk):
            out[i] = y[r, : lens[i]]
        j += len(chunk)
    return out  # type: ignore[return-value]


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

    # -- reuse (eval mode): see FirstLayerStates ---------------------------------------------
    def _check_eval(self) -> None:
        if self.training:
            raise RuntimeError("reusing encoder states needs eval mode (dropout off)")

    def _upper_layers(self, first: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The layers above the first, on its output (B, T, 2h)."""
        if len(self.lstm.forward_layers) == 1:
            return first
        return self.lstm(first, lengths, first=1)

    def encode_base(
        self, ids: torch.Tensor, lengths: torch.Tensor, every: int = CHECKPOINT_EVERY
    ) -> tuple[torch.Tensor, list[FirstLayerStates]]:
        """:meth:`encode` (eval mode), and every row's first-layer states for reuse."""
        self._check_eval()
        emb = self.embedding(ids)
        fwd, bwd = self.lstm.forward_layers[0], self.lstm.backward_layers[0]
        ahead, fh, fc = run_checkpointed(fwd, emb, every)
        behind, bh, bc = run_checkpointed(bwd, reverse_within_length(emb, lengths), every)
        first = torch.cat([ahead, reverse_within_length(behind, lengths)], dim=-1)
        first = first * length_mask(lengths, emb.shape[1], emb.device)[:, :, None]
        states = []
        for i, n in enumerate(lengths.tolist()):
            k = n // every + 1
            states.append(
                FirstLayerStates(
                    DirectionStates(ahead[i, :n].clone(), fh[i, :k].clone(), fc[i, :k].clone()),
                    DirectionStates(behind[i, :n].clone(), bh[i, :k].clone(), bc[i, :k].clone()),
                )
            )
        return self._upper_layers(first, lengths), states

    def first_layer_update(
        self, emb: torch.Tensor, lengths: torch.Tensor, reuses: list[Reused]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The first-layer outputs each row cannot take from its reusable text: forward
        (n - forward_steps, h) for its words from ``forward_steps`` on, backward
        (n - backward_steps, h) in reading order (from its last word) from
        ``backward_steps`` on."""
        rev = reverse_within_length(emb, lengths)
        n = lengths.tolist()
        fwd, bwd = self.lstm.forward_layers[0], self.lstm.backward_layers[0]
        ahead = resume(
            fwd,
            [emb[i, r.forward_steps : n[i]] for i, r in enumerate(reuses)],
            [r.states.forward.h[r.forward_steps // r.every] for r in reuses],
            [r.states.forward.c[r.forward_steps // r.every] for r in reuses],
        )
        behind = resume(
            bwd,
            [rev[i, r.backward_steps : n[i]] for i, r in enumerate(reuses)],
            [r.states.backward.h[r.backward_steps // r.every] for r in reuses],
            [r.states.backward.c[r.backward_steps // r.every] for r in reuses],
        )
        return ahead, behind

    def encode_reusing(
        self, ids: torch.Tensor, lengths: torch.Tensor, reuses: list[Reused]
    ) -> torch.Tensor:
        """:meth:`encode` (eval mode) of texts that share words with reusable ones: only
        what a changed word reaches is recomputed in the first layer (the forward direction
        after the shared prefix, the backward before the shared suffix), every layer above
        in full (its inputs all change)."""
        self._check_eval()
        emb = self.embedding(ids)
        ahead, behind = self.first_layer_update(emb, lengths, reuses)
        hidden = self.lstm.forward_layers[0].hidden_size
        first = emb.new_zeros(ids.shape[0], ids.shape[1], 2 * hidden)
        for i, (r, n) in enumerate(zip(reuses, lengths.tolist(), strict=True)):
            a, b = r.forward_steps, r.backward_steps
            first[i, :a, :hidden] = r.states.forward.out[:a]
            first[i, a:n, :hidden] = ahead[i]
            first[i, :n, hidden:] = torch.cat([r.states.backward.out[:b], behind[i]]).flip(0)
        return self._upper_layers(first, lengths)
