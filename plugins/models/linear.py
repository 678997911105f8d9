"""A linear classifier per label on TF-IDF features: the cheap baseline for attack benchmarks.

Features come from scikit-learn's :class:`TfidfVectorizer` run on the harness word lists
(lowercased, sublinear tf, L2-normalised rows). Scores are ``sigmoid(X W + b)``, computed with
scipy sparse products whatever the solver trained ``W``, in batches of documents and blocks
of labels, so a model of any label count is scored without a dense documents x labels array.

Scoring goes through :class:`~plugins.models.tfidf_delta.TfidfDelta` first (``reuse_states``,
on by default, whatever the solver; it takes the sparse or dense ``W`` as it is): a text a
few words away from one scored recently in the same trial is scored from that text's raw
scores and the changed terms' weight rows, exactly up to float rounding, and only the
others go through the sparse product. Both paths are cut into the same label blocks, so
``predict_topk`` never forms a whole row of scores per text above :data:`LABEL_BLOCK`
labels either way.

Three solvers:

* ``liblinear`` (default): one-vs-rest at any label count (:mod:`plugins.models.ovr`): each
  label solved to its regularised optimum by scikit-learn's liblinear, label chunks in
  parallel worker processes, weights below ``prune`` dropped (DiSMEC), so ``W`` is sparse.
  It takes the ``bce`` and ``squared-hinge`` losses with their PW / PW-cb weights (a label's
  weight multiplies ``C`` on its positives). Each label reaches its optimum, where deferred
  re-weighting has nothing left to change: ``defer`` is accepted and has no effect.
* ``lbfgs``: the full-batch objective ``mean loss + ||W||² / (2 C N L)`` with torch's L-BFGS
  over a dense vocabulary x labels ``W``, for any loss plugin (deferred re-weighting as two
  warm-started solves); hand-written rather than delegated to scikit-learn because the loss
  must be the harness's loss plugin. Refused when its dense state would not fit in memory.
* ``adam``: minibatches with lazy sparse updates of the same dense ``W``.

White-box saliency: the word's TF-IDF value times the gradient of the objective with
respect to that feature, ``|x_t · ∂(sign Σ_j g_j)/∂x_t|`` (gradient x input), given to every
occurrence of the word; out-of-vocabulary words score 0.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
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
from harness.errors import UsageError
from harness.ranking import TopK, top_k
from plugins.models.ovr import LOSSES, OVRSettings, liblinear_loss, merge_topk, train_ovr
from plugins.models.tfidf import make_vectorizer, terms_of
from plugins.models.tfidf_delta import Labels, TfidfDelta
from plugins.models.torch_common import (
    dense_rows,
    ids_key,
    load_module_tensors,
    resolve_device,
    seed_everything,
    train_loop,
    training_options,
)
from plugins.models.word_ids import WordIds

log = logging.getLogger(__name__)
LABEL_BLOCK = 16_384
"""Labels scored at once by :meth:`LinearTfidf.predict_topk` (a batch x block array)."""
DENSE_STATE_COPIES = 24
"""Vocabulary x labels float32 arrays the lbfgs solver keeps (weights, gradient, history)."""


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


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
        self.net: SparseLinear | None = None  # the torch solvers' training module
        self.W: np.ndarray | sp.csc_matrix | None = None  # features x labels
        self.bias: np.ndarray | None = None
        self.report: dict[str, float] = {}
        self._delta_scorer: TfidfDelta | None = None
        self._word_ids: WordIds | None = None

    def _new_vectorizer(self) -> TfidfVectorizer:
        return make_vectorizer(self.options["ngram_max"], self.options["min_df"])

    def features(self, docs: Sequence[Words]) -> sp.csr_matrix:
        """TF-IDF rows of the first ``max_words`` words of each document."""
        vec = self._require_vectorizer()
        return vec.transform(list(d[: self.max_words]) for d in docs).tocsr()

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
        self._delta_scorer = None  # kept texts belong to the weights they were scored with
        self._word_ids = None
        if o["solver"] == "liblinear":
            inner = getattr(loss, "loss", None)
            if liblinear_loss(inner) is None:
                raise UsageError(
                    "model:linear.solver",
                    f"liblinear trains the {' and '.join(LOSSES)} losses, not "
                    f"{getattr(inner, 'name', None)!r}; use --model-opt solver=lbfgs for others",
                )
        seed_everything(seed)
        self.vectorizer = self._new_vectorizer()
        self.vectorizer.fit(list(d[: self.max_words]) for d in docs)
        X = self.features(docs)
        Y = sp.csr_matrix(Y)
        if o["solver"] == "liblinear":
            self._fit_liblinear(X, Y, loss, seed, progress)
            return self
        self._check_dense_fits(X.shape[1])
        self.net = SparseLinear(X.shape[1], self.n_labels).to(self.device)
        loss = loss.to(self.device)
        if o["solver"] == "lbfgs":
            self._fit_lbfgs(X, Y, loss, progress)
        else:
            self._fit_adam(X, Y, loss, seed, progress)
        self._take_net_weights()
        return self

    def _check_dense_fits(self, n_features: int) -> None:
        """The torch solvers hold dense vocabulary x labels arrays: refuse before training
        when they would take more than half the machine's memory."""
        need = n_features * self.n_labels * 4 * DENSE_STATE_COPIES
        if need > _physical_memory() // 2:
            raise UsageError(
                "model:linear.solver",
                f"{self.options['solver']} keeps dense {n_features} x {self.n_labels} weights "
                f"(about {need / 2**30:.0f} GiB with its state); use solver=liblinear",
            )

    def _fit_liblinear(
        self, X: sp.csr_matrix, Y: sp.csr_matrix, loss: Any, seed: int, progress: bool
    ) -> None:
        o = self.options
        weights = loss.weights.detach().cpu().numpy().astype(np.float64)
        settings = OVRSettings(
            loss=liblinear_loss(loss.loss),
            C=o["C"],
            tol=o["tol"],
            max_iter=o["max_iter"],
            prune=o["prune"],
            chunk_labels=o["chunk_labels"],
            n_jobs=o["n_jobs"],
            seed=seed,
        )
        bar = tqdm(
            total=self.n_labels, desc="linear (liblinear)", unit="label", disable=not progress
        )
        try:
            result = train_ovr(X, Y, weights, settings, progress=bar.update)
        finally:
            bar.close()
        self.W, self.bias, self.report = result.W, result.bias, result.stats
        r = result.stats
        before, after = (
            "{:.4f}/{:.4f}".format(r[f"train_sample_P@1_{when}"], r[f"train_sample_P@5_{when}"])
            for when in ("before_pruning", "after_pruning")
        )
        line = (
            f"linear: pruning |w| < {o['prune']:g} dropped {100 * r['pruned_share']:.1f}% of "
            f"{int(r['weights_before_pruning']):,} weights ({int(r['weights_kept']):,} kept); "
            f"P@1/P@5 on {int(r['sample_docs'])} training documents {before} -> {after}, "
            f"top-5 unchanged for {100 * r['sample_top5_unchanged']:.1f}% of them"
        )
        log.info(line)
        if progress:
            tqdm.write(line, file=sys.stderr)

    def _take_net_weights(self) -> None:
        """After a torch solver: its weights as numpy arrays for scoring."""
        net = self._require_net()
        self.W = net.weight.weight.detach().cpu().numpy()
        self.bias = net.bias.detach().cpu().numpy()

    def _fit_adam(
        self, X: sp.csr_matrix, Y: sp.csr_matrix, loss: Any, seed: int, progress: bool
    ) -> None:
        o = self.options
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

    def _require_weights(self) -> tuple[np.ndarray | sp.csc_matrix, np.ndarray]:
        if self.W is None or self.bias is None:
            raise RuntimeError("linear: fit() or load_state() first")
        return self.W, self.bias

    def logits(self, X: sp.csr_matrix, labels: slice | Sequence[int] | None = None) -> np.ndarray:
        """``X W + b`` for the rows of ``X``, over all labels or the chosen ones, float32."""
        W, b = self._require_weights()
        every = labels is None or (isinstance(labels, slice) and labels == slice(None))
        cols = slice(None) if labels is None else labels
        if isinstance(W, np.ndarray):
            out = np.asarray(X @ (W if every else W[:, cols]), dtype=np.float32)
        else:
            # W is CSC (features x labels): its transpose is CSR, cheap to slice by label.
            Wt = W.T  # CSR (labels x features), cheap to slice by label
            out = ((Wt if every else Wt[cols]) @ X.T).T.toarray().astype(np.float32)
        return out + b[cols]

    def _delta(self) -> TfidfDelta:
        """Scores of texts near recently scored ones (:mod:`plugins.models.tfidf_delta`),
        over this model's weights as they are (CSC from liblinear, dense from the torch
        solvers); built on first use."""
        if self._delta_scorer is None:
            vec = self._require_vectorizer()
            W, b = self._require_weights()
            self._delta_scorer = TfidfDelta(
                vec.build_analyzer(),
                vec.vocabulary_,
                vec.idf_,
                W,
                b,
                ngram_max=self.options["ngram_max"],
            )
        return self._delta_scorer

    @property
    def reuse_stats(self) -> dict[str, int]:
        """Texts scored from a kept text's raw scores, and texts scored in full (by the
        delta scorer, since it was built; nothing while ``reuse_states`` is off)."""
        d = self._delta_scorer
        return {"reused": d.reused if d else 0, "full": d.full if d else 0}

    def forget_kept_states(self) -> None:
        """Drop every kept text (the attack engine calls this between trials)."""
        if self._delta_scorer is not None:
            self._delta_scorer.clear()

    def _scorer(self, docs: Sequence[Words]) -> Callable[[np.ndarray, Labels], np.ndarray]:
        """Logits (float32) of some of ``docs`` over some labels, ``scorer(rows, labels)``:
        from a kept text where :meth:`TfidfDelta.plan` matched one (``reuse_states``), from
        the sparse product otherwise (those texts' features computed once per call)."""
        texts = [list(d[: self.max_words]) for d in docs]
        plan = self._delta().plan(texts) if self.reuse_states else None
        full = np.arange(len(texts)) if plan is None else plan.full
        X = self.features([texts[i] for i in full]) if full.size else None
        at = np.full(len(texts), -1, dtype=np.int64)
        at[full] = np.arange(full.size)

        def scorer(rows: np.ndarray, labels: Labels) -> np.ndarray:
            out = np.empty((rows.size, self._require_weights()[1][labels].size), np.float32)
            mine = at[rows]
            own = mine >= 0
            if own.any():
                assert X is not None
                out[own] = self.logits(X[mine[own]], labels)
            if not own.all():
                assert plan is not None
                out[~own] = self._delta().block(plan, rows[~own], labels)
            return out

        return scorer

    def _blocks(self) -> list[slice]:
        """The label blocks scored at once (one, ``slice(None)``, up to LABEL_BLOCK)."""
        if self.n_labels <= LABEL_BLOCK:
            return [slice(None)]
        return [slice(lo, lo + LABEL_BLOCK) for lo in range(0, self.n_labels, LABEL_BLOCK)]

    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        scorer = self._scorer(docs)
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        bs = self.options["eval_batch_size"]
        for start in range(0, len(docs), bs):
            rows = np.arange(start, min(len(docs), start + bs))
            for cols in self._blocks():
                out[start : start + rows.size, cols] = expit(scorer(rows, cols))
        return out

    def predict_topk(self, docs: Sequence[Words], k: int, labels: Sequence[int] = ()) -> TopK:
        """The ``k`` best labels of each document (best first, ties to the lower label index)
        with their probabilities, and the probabilities and exact ranks of ``labels``, scored
        in blocks of :data:`LABEL_BLOCK` labels (never a whole documents x labels array)."""
        scorer = self._scorer(docs)
        blocks = self._blocks()
        k = min(k, self.n_labels)
        asked = np.asarray(list(labels), dtype=np.int64)
        top_idx = np.empty((len(docs), k), dtype=np.int64)
        top_scores = np.empty((len(docs), k), dtype=np.float32)
        label_scores = np.empty((len(docs), asked.size), dtype=np.float32)
        label_ranks = np.ones((len(docs), asked.size), dtype=np.int64)
        bs = self.options["eval_batch_size"]
        for start in range(0, len(docs), bs):
            batch = np.arange(start, min(len(docs), start + bs))
            rows = slice(start, start + batch.size)
            if len(blocks) == 1:  # every label at once: the one ranking rule on the rows
                one = TopK.from_dense(expit(scorer(batch, blocks[0])), k, asked)
                top_idx[rows], top_scores[rows] = one.indices, one.scores
                label_scores[rows], label_ranks[rows] = one.label_scores, one.label_ranks
                continue
            if asked.size:
                label_scores[rows] = expit(scorer(batch, asked))
            parts = []
            for lo in range(0, self.n_labels, LABEL_BLOCK):
                p = expit(scorer(batch, slice(lo, lo + LABEL_BLOCK)))
                inside = np.flatnonzero((asked >= lo) & (asked < lo + p.shape[1]))
                p[:, asked[inside] - lo] = label_scores[rows][:, inside]  # one value per label
                idx = top_k(p, k)
                parts.append((np.take_along_axis(p, idx, axis=1), idx + lo))
                for c, j in enumerate(asked):  # rank: higher scores, and lower-index ties
                    sj = label_scores[rows, c : c + 1]
                    ahead = (p > sj) | ((p == sj) & (np.arange(lo, lo + p.shape[1]) < j))
                    label_ranks[rows, c] += ahead.sum(axis=1)
            s, i = merge_topk(parts, k)
            top_scores[rows], top_idx[rows] = s, i
        return TopK(top_idx, top_scores, tuple(int(j) for j in asked), label_scores, label_ranks)

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
        """|x_t · ∂(sign Σ_{j∈labels} g_j)/∂x_t| for each word's unigram feature t, with
        ``∂g_j/∂x_t = g_j (1 - g_j) W[t, j]``."""
        W, _ = self._require_weights()
        X = self.features([words])
        labels = list(labels)
        p = expit(self.logits(X, labels).astype(np.float64))[0]
        slope = sign * p * (1.0 - p)
        rows = W[X.indices][:, labels]
        rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
        contrib = np.abs(X.data * (rows @ slope))
        per_term = dict(zip(X.indices.tolist(), contrib.tolist(), strict=True))
        vocab = self._require_vectorizer().vocabulary_
        out = np.zeros(len(words), dtype=np.float64)
        for i, w in enumerate(words[: self.max_words]):
            t = vocab.get(w.lower())
            if t is not None:
                out[i] = per_term.get(t, 0.0)
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Dense weights as the torch module's state (``weight.weight``, ``bias``), sparse
        ones as CSC arrays (``W_indptr``, ``W_indices``, ``W_data``, ``bias``)."""
        W, b = self._require_weights()
        vec = self._require_vectorizer()
        terms = terms_of(vec)
        if isinstance(W, np.ndarray):
            tensors = {"weight.weight": W.astype(np.float32), "bias": b.astype(np.float32)}
        else:
            # copy=False: at Wiki10-31K's shape each of these is a gigabyte already.
            tensors = {
                "W_indptr": W.indptr.astype(np.int64, copy=False),
                "W_indices": W.indices.astype(np.int32, copy=False),
                "W_data": W.data.astype(np.float32, copy=False),
                "bias": b.astype(np.float32),
            }
        tensors["idf"] = vec.idf_.astype(np.float32)
        extra: dict[str, Any] = {"terms": terms}
        if self.report:
            extra["pruning"] = self.report
        return tensors, extra

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self._delta_scorer = None
        self._word_ids = None
        vec = self._new_vectorizer()
        vec.vocabulary_ = {t: i for i, t in enumerate(extra["terms"])}
        vec.idf_ = np.asarray(tensors["idf"], dtype=np.float64)
        self.vectorizer = vec
        n_features = len(extra["terms"])
        if "W_data" in tensors:
            self.W = sp.csc_matrix(
                (tensors["W_data"], tensors["W_indices"], tensors["W_indptr"]),
                shape=(n_features, self.n_labels),
            )
            self.bias = np.asarray(tensors["bias"], dtype=np.float32)
            if set(tensors) != {"W_data", "W_indices", "W_indptr", "bias", "idf"}:
                raise KeyError(f"unexpected tensors {sorted(tensors)}")
        else:
            net = SparseLinear(n_features, self.n_labels)
            load_module_tensors(net, {k: v for k, v in tensors.items() if k != "idf"})
            self.net = net.to(self.device).eval()
            self._take_net_weights()
        self.report = dict(extra.get("pruning", {}))


OPTIONS: tuple[Option, ...] = (
    *training_options(epochs=30, batch_size=64, lr=0.05, max_words=500),
    Option(
        "solver",
        str,
        "liblinear",
        "liblinear: one-vs-rest per label to its optimum (C, tol, max_iter), label chunks in "
        "parallel, weights pruned to sparse (prune), any label count, bce or squared-hinge; "
        "lbfgs: full-batch over dense weights, any loss (C, max_iter); adam: minibatches "
        "over dense weights (epochs, batch_size, lr, l2).",
        choices=("liblinear", "lbfgs", "adam"),
    ),
    Option(
        "C",
        float,
        10.0,
        "liblinear, lbfgs: inverse regularisation strength, as scikit-learn's C (Reuters-21578: "
        "10 suits bce, 1 suits squared-hinge).",
        min=0.0,
        min_inclusive=False,
    ),
    Option(
        "max_iter",
        int,
        300,
        "lbfgs: iterations; liblinear: passes over the documents per label.",
        min=1,
        max=100_000,
    ),
    Option(
        "tol",
        float,
        0.1,
        "liblinear: stopping tolerance of the dual solver (liblinear's own default).",
        min=0.0,
        min_inclusive=False,
    ),
    Option(
        "prune",
        float,
        0.01,
        "liblinear: weights with |w| below this are dropped after training (DiSMEC); 0 keeps "
        "every non-zero weight.",
        min=0.0,
    ),
    Option(
        "chunk_labels",
        int,
        512,
        "liblinear: labels per work unit (a worker holds one label's dense weights at a time "
        "and this many labels' scores of a 1,000-document sample).",
        min=1,
    ),
    Option(
        "n_jobs",
        int,
        0,
        "liblinear: worker processes for the label chunks (0: one per CPU); each gets its share "
        "of the CPU threads.",
        min=0,
    ),
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
