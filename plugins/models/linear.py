"""A linear classifier per label on TF-IDF features: the cheap baseline for attack benchmarks.

Features come from scikit-learn's :class:`TfidfVectorizer` run on the harness word lists
(lowercased, sublinear tf, L2-normalised rows). The weights are a torch
:class:`~torch.nn.EmbeddingBag` in ``sum`` mode with per-sample weights, which *is* a sparse
matrix product ``X W`` whose backward touches only the rows of the words present; that lets
it train with the loss plugins (so PW and PW-cb apply) on CPU or GPU alike.

Two solvers. ``lbfgs`` (default) minimises the full-batch objective ``mean loss + ||W||² /
(2 C N L)`` with torch's L-BFGS, the per-label problem scikit-learn's ``LinearSVC`` /
``LogisticRegression`` solve for the same ``C``, so it converges to the regularised optimum
instead of wherever a minibatch schedule stops (on Reuters-21578 with ``squared-hinge`` this is
worth about a point of P@1 over ``adam``). It is hand-written rather than delegated to
scikit-learn because the loss must be the harness's loss plugin (PW / PW-cb weights).
``adam`` trains in minibatches with lazy sparse updates, for corpora whose rows do not fit.

White-box saliency: the word's TF-IDF value times the gradient of the objective with
respect to that feature, ``|x_t · ∂(sign Σ_j g_j)/∂x_t|`` (gradient x input), given to every
occurrence of the word; out-of-vocabulary words score 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import nn
from tqdm.auto import tqdm

from harness import hookimpl
from harness.components import Component, Option
from harness.contracts.model import Words, XMTCModel
from plugins.models.tfidf_delta import TfidfDelta
from plugins.models.torch_common import (
    dense_rows,
    ids_key,
    load_module_tensors,
    module_tensors,
    resolve_device,
    seed_everything,
    train_loop,
    training_options,
)
from plugins.models.word_ids import WordIds


def _lower(words: Sequence[str]) -> list[str]:
    """The vectorizer's analyzer: the harness words, lowercased (no re-tokenisation)."""
    return [w.lower() for w in words]


class SparseLinear(nn.Module):
    """``X W + b`` for a CSR batch ``X``: EmbeddingBag(sum) with the values as weights."""

    def __init__(self, n_features: int, n_labels: int):
        super().__init__()
        self.weight = nn.EmbeddingBag(n_features, n_labels, mode="sum", sparse=True)
        self.bias = nn.Parameter(torch.zeros(n_labels))
        nn.init.zeros_(self.weight.weight)

    def forward(
        self, indices: torch.Tensor, offsets: torch.Tensor, values: torch.Tensor
    ) -> torch.Tensor:
        return self.weight(indices, offsets, per_sample_weights=values) + self.bias


class LinearTfidf(XMTCModel):
    """One linear scorer per label over TF-IDF unigrams (optionally n-grams)."""

    mask_token = "<unk>"
    supports_gradients = True
    reuse_states: bool = True
    """Score a text a few words away from a recently scored one from that text's raw
    scores (:mod:`plugins.models.tfidf_delta`): the same scores up to float rounding."""

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.max_words = int(options["max_words"])
        self.device = resolve_device(options["device"])
        self.vectorizer: TfidfVectorizer | None = None
        self.net: SparseLinear | None = None
        self._delta_scorer: TfidfDelta | None = None
        self._word_ids: WordIds | None = None

    def _new_vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer=_lower if self.options["ngram_max"] == 1 else "word",
            tokenizer=None if self.options["ngram_max"] == 1 else _identity,
            preprocessor=None if self.options["ngram_max"] == 1 else _lower,
            token_pattern=None,
            lowercase=False,
            ngram_range=(1, self.options["ngram_max"]),
            min_df=self.options["min_df"],
            sublinear_tf=True,
            dtype=np.float32,
        )

    def features(self, docs: Sequence[Words]) -> sp.csr_matrix:
        """TF-IDF rows of the first ``max_words`` words of each document."""
        if self.vectorizer is None:
            raise RuntimeError("linear: fit() or load_state() first")
        return self.vectorizer.transform([list(d[: self.max_words]) for d in docs]).tocsr()

    def _batch(self, X: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dev = self.device
        return (
            torch.from_numpy(X.indices.astype(np.int64)).to(dev),
            torch.from_numpy(X.indptr[:-1].astype(np.int64)).to(dev),
            torch.from_numpy(X.data.astype(np.float32)).to(dev),
        )

    def fit(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Any,
        *,
        label_names: Sequence[str],
        seed: int = 0,
        progress: bool = True,
    ) -> LinearTfidf:
        o = self.options
        self.label_names = list(label_names)
        self._delta_scorer = None
        self._word_ids = None
        seed_everything(seed)
        self.vectorizer = self._new_vectorizer()
        self.vectorizer.fit([list(d[: self.max_words]) for d in docs])
        X = self.features(docs)
        Y = sp.csr_matrix(Y)
        self.net = SparseLinear(X.shape[1], self.n_labels).to(self.device)
        loss = loss.to(self.device)
        if o["solver"] == "lbfgs":
            self._fit_lbfgs(X, Y, loss, progress)
            return self
        n = X.shape[0]

        def batches(rng: np.random.Generator) -> list[np.ndarray]:
            order = rng.permutation(n)
            return [order[i : i + o["batch_size"]] for i in range(0, n, o["batch_size"])]

        def step(rows: np.ndarray) -> torch.Tensor:
            idx, off, val = self._batch(X[rows])
            logits = self.net(idx, off, val)
            out = loss(logits, dense_rows(Y, rows, self.device))
            if o["l2"] > 0:
                # Lazy L2: only the rows of the words in this batch, scaled like the loss
                # (a mean over B x L elements); what keeps rare-word weights from running off.
                touched = F.embedding(torch.unique(idx), self.net.weight.weight, sparse=True)
                out = out + o["l2"] * touched.pow(2).sum() / logits.numel()
            return out

        train_loop(
            [self.net.bias],
            batches,
            step,
            epochs=o["epochs"],
            lr=o["lr"],
            weight_decay=o["weight_decay"],
            seed=seed,
            progress=progress,
            desc="linear",
            modules=[self.net],
            clip=0.0,
            sparse_params=[self.net.weight.weight],
            loss=loss,
        )
        return self

    def _fit_lbfgs(self, X: sp.csr_matrix, Y: sp.csr_matrix, loss: Any, progress: bool) -> None:
        """Full-batch L-BFGS on ``mean loss + ||W||² / (2 C N L)``; rows go through in chunks
        (gradients accumulate), so memory is one chunk's logits, not all N x L."""
        o = self.options
        net = self._require_net()
        n, n_labels = X.shape[0], self.n_labels
        W, b = net.weight.weight, net.bias
        rows_per_chunk = max(1, int(o["chunk_elements"]) // max(1, n_labels))
        chunks = [
            (
                self._sparse(X[i : i + rows_per_chunk]),
                dense_rows(Y, np.arange(i, min(n, i + rows_per_chunk)), self.device),
            )
            for i in range(0, n, rows_per_chunk)
        ]
        penalty = 1.0 / (2.0 * o["C"] * n * n_labels)
        # Deferred re-weighting as two solves: plain weights for that share of the
        # iterations, then the weighting, warm-started (the objective is convex, so this
        # mostly saves iterations; it is here so every model honours the loss option).
        defer = float(getattr(getattr(loss, "loss", None), "defer", 0.0))
        plain = min(o["max_iter"] - 1, round(o["max_iter"] * defer))
        phases = (
            [(0.0, plain), (1.0, o["max_iter"] - plain)] if plain > 0 else [(1.0, o["max_iter"])]
        )
        bar = tqdm(total=o["max_iter"], desc="linear (lbfgs)", disable=not progress, leave=False)

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for Xc, Yc in chunks:
                part = loss(torch.sparse.mm(Xc, W) + b, Yc) * (Yc.shape[0] / n)
                part.backward()
                total += float(part.detach())
            reg = penalty * W.pow(2).sum()
            reg.backward()
            total += float(reg.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{total:.5f}")
            return torch.tensor(total)

        net.train()
        W.requires_grad_(True)
        try:
            for done, iters in phases:
                if hasattr(loss, "set_progress"):
                    loss.set_progress(done)
                opt = torch.optim.LBFGS(
                    [W, b],
                    lr=1.0,
                    max_iter=iters,
                    max_eval=iters * 5 // 4,
                    history_size=10,
                    tolerance_grad=1e-9,
                    tolerance_change=1e-12,
                    line_search_fn="strong_wolfe",
                )
                opt.step(closure)
        finally:
            bar.close()
            net.eval()

    def _sparse(self, X: sp.csr_matrix) -> torch.Tensor:
        """A CSR block as a coalesced torch COO tensor (what ``torch.sparse.mm`` differentiates)."""
        coo = X.tocoo()
        idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        vals = torch.from_numpy(coo.data.astype(np.float32))
        return (
            torch.sparse_coo_tensor(idx, vals, X.shape, check_invariants=False)
            .coalesce()
            .to(self.device)
        )

    def _require_net(self) -> SparseLinear:
        if self.net is None:
            raise RuntimeError("linear: fit() or load_state() first")
        return self.net

    def _delta(self) -> TfidfDelta:
        """Scores of texts near recently scored ones (:mod:`plugins.models.tfidf_delta`)."""
        if self._delta_scorer is None:
            vec = self._require_vectorizer()
            net = self._require_net()
            self._delta_scorer = TfidfDelta(
                vec.build_analyzer(),
                vec.vocabulary_,
                vec.idf_,
                net.weight.weight,
                net.bias.detach().cpu().numpy(),
                ngram_max=self.options["ngram_max"],
            )
        return self._delta_scorer

    @property
    def reuse_stats(self) -> dict[str, int]:
        """Texts scored from a kept text's raw scores, and texts scored in full."""
        d = self._delta_scorer
        return {"reused": d.reused if d else 0, "full": d.full if d else 0}

    def forget_kept_states(self) -> None:
        """Drop every kept text (the attack engine calls this between trials)."""
        if self._delta_scorer is not None:
            self._delta_scorer.clear()

    @torch.no_grad()
    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        if not self.reuse_states:
            return self._predict_full(docs)
        texts = [list(d[: self.max_words]) for d in docs]
        logits = self._delta().logits(
            texts, lambda rows: self._logits_full([texts[i] for i in rows])
        )
        return expit(logits).astype(np.float32)

    @torch.no_grad()
    def _logits_full(self, docs: Sequence[Words]) -> np.ndarray:
        net = self._require_net()
        net.eval()
        X = self.features(docs)
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        bs = self.options["eval_batch_size"]
        for start in range(0, len(docs), bs):
            out[start : start + bs] = net(*self._batch(X[start : start + bs])).cpu().numpy()
        return out

    @torch.no_grad()
    def _predict_full(self, docs: Sequence[Words]) -> np.ndarray:
        net = self._require_net()
        net.eval()
        X = self.features(docs)
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        bs = self.options["eval_batch_size"]
        for start in range(0, len(docs), bs):
            logits = net(*self._batch(X[start : start + bs]))
            out[start : start + bs] = torch.sigmoid(logits).cpu().numpy()
        return out

    def cache_key(self, words: Words) -> bytes:
        """Keyed on vocabulary ids (unknown words all map to -1), so masking a word the
        model never saw shares a key with the original."""
        if self._word_ids is None:
            self._word_ids = WordIds(self._require_vectorizer().vocabulary_)
        return ids_key(self._word_ids(words[: self.max_words]))

    def _require_vectorizer(self) -> TfidfVectorizer:
        if self.vectorizer is None:
            raise RuntimeError("linear: fit() or load_state() first")
        return self.vectorizer

    def word_saliency(self, words: Words, labels: Sequence[int], sign: float) -> np.ndarray:
        """|x_t · ∂(sign Σ_{j∈labels} g_j)/∂x_t| for each word's unigram feature t."""
        net = self._require_net()
        net.eval()
        X = self.features([words])
        idx, off, val = self._batch(X)
        val = val.clone().requires_grad_(True)
        probs = torch.sigmoid(net(idx, off, val))
        target = sign * probs[0, list(labels)].sum()
        (grad,) = torch.autograd.grad(target, val)
        contrib = (val * grad).abs().detach().cpu().numpy()
        per_term = dict(zip(X.indices.tolist(), contrib.tolist(), strict=True))
        vocab = self._require_vectorizer().vocabulary_
        out = np.zeros(len(words), dtype=np.float64)
        for i, w in enumerate(words[: self.max_words]):
            t = vocab.get(w.lower())
            if t is not None:
                out[i] = per_term.get(t, 0.0)
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        net = self._require_net()
        vec = self._require_vectorizer()
        terms = [""] * len(vec.vocabulary_)
        for term, i in vec.vocabulary_.items():
            terms[i] = term
        tensors = module_tensors(net)
        tensors["idf"] = vec.idf_.astype(np.float32)
        return tensors, {"terms": terms}

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self._delta_scorer = None
        self._word_ids = None
        vec = self._new_vectorizer()
        vec.vocabulary_ = {t: i for i, t in enumerate(extra["terms"])}
        vec.idf_ = np.asarray(tensors["idf"], dtype=np.float64)
        self.vectorizer = vec
        net = SparseLinear(len(extra["terms"]), self.n_labels)
        load_module_tensors(net, {k: v for k, v in tensors.items() if k != "idf"})
        self.net = net.to(self.device).eval()


def _identity(words: Sequence[str]) -> list[str]:
    return list(words)


OPTIONS: tuple[Option, ...] = (
    *training_options(epochs=30, batch_size=64, lr=0.05, max_words=500),
    Option(
        "solver",
        str,
        "lbfgs",
        "lbfgs: full-batch, to the regularised optimum (C, max_iter); adam: minibatches "
        "with lazy sparse updates (epochs, batch_size, lr, l2), for corpora too big for lbfgs.",
        choices=("lbfgs", "adam"),
    ),
    Option(
        "C",
        float,
        10.0,
        "lbfgs: inverse regularisation strength, as scikit-learn's C (Reuters-21578: 10 "
        "suits bce, 1 suits squared-hinge).",
        min=0.0,
        min_inclusive=False,
    ),
    Option("max_iter", int, 300, "lbfgs: iterations.", min=1, max=100_000),
    Option(
        "chunk_elements",
        int,
        16_000_000,
        "lbfgs: logits computed at once (rows x labels), the memory bound of a pass.",
        min=1,
    ),
    Option("ngram_max", int, 1, "Longest word n-gram used as a feature.", min=1, max=3),
    Option("min_df", int, 1, "Documents a term needs to become a feature.", min=1),
    Option(
        "l2",
        float,
        0.0,
        "adam: L2 penalty on the weight rows of the words in each batch (lazy).",
        min=0.0,
    ),
)


@hookimpl
def xmtc_register_models() -> list[Component]:
    return [
        Component(
            kind="model",
            name="linear",
            description="TF-IDF (sublinear tf) + one linear scorer per label, trained with "
            "the loss plugins; the fast baseline",
            factory=LinearTfidf,
            options=OPTIONS,
        )
    ]
