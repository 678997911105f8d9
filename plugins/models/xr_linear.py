"""``xr-linear``: PECOS's XR-Linear (Yu et al., 2022) on the harness's TF-IDF features, the
label-tree baseline extreme classification practitioners use.

PECOS (``libpecos``, in the optional ``pecos`` extra) clusters the labels into a tree by
hierarchical spherical k-means on their PIFA embeddings (each label's mean TF-IDF row),
trains a linear ranker per tree level on the documents its parent cluster matches (teacher
forcing), and predicts by beam search: a label's score is the product of its path's
post-processed node scores. The features are ``linear``'s (:mod:`plugins.models.tfidf`).

Two queries, as the harness asks them:

* :meth:`XRLinear.predict_topk` is what the deployed model returns: the beam's top-k, plus the
  exact path score of any label asked for, even one the beam dropped (PECOS scores "selected
  outputs" along their paths), so a target's rank and score change are always defined.
* :meth:`XRLinear.predict_proba` (the dense contract) gives every label its exact path score,
  i.e. what the beam search approximates.

Only the plain losses are trained: ``squared-hinge`` (liblinear's L2-loss SVM dual) and
``bce`` (its logistic-regression dual); PECOS has no per-label positive weights, so PW and
PW-cb are refused.

Checkpoints never use PECOS's own files: each tree level's sparse weight matrix ``W`` and
cluster matrix ``C`` are stored as safetensors arrays (CSC indptr, indices, data) and the
level's bias and prediction settings as JSON, and the model is rebuilt from them on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness import hookimpl
from harness.components import Component, Option
from harness.contracts.model import Words, XMTCModel
from harness.errors import UsageError
from harness.ranking import UNKNOWN_RANK, TopK, top_k
from plugins.models.ovr import cpu_count, liblinear_loss
from plugins.models.tfidf import make_vectorizer, restore, terms_of, transform
from plugins.models.torch_common import ids_key

NAME = "xr-linear"
EXTRA = "pecos"
SOLVERS = {"squared-hinge": "L2R_L2LOSS_SVC_DUAL", "bce": "L2R_LR_DUAL"}
DEFAULT_POST = {"squared-hinge": "l3-hinge", "bce": "sigmoid"}
SELECTED_ELEMENTS = 1 << 22
"""Document x label pairs scored at once when every label's exact score is asked for."""


def require_pecos() -> Any:
    """The ``pecos.xmc`` modules, or a one-line error naming the extra that installs them."""
    try:
        import pecos.xmc.base as base
        import pecos.xmc.xlinear.model as xlinear
    except ImportError as exc:
        raise UsageError(
            f"model:{NAME}",
            f"needs libpecos, which is not installed ({exc.name or exc}); install the "
            f"optional extra: pip install 'xmtc-harness[{EXTRA}]'",
        ) from None
    return base, xlinear


def _csc_arrays(m: sp.spmatrix, prefix: str) -> dict[str, np.ndarray]:
    m = sp.csc_matrix(m)
    m.sort_indices()
    return {
        f"{prefix}.indptr": m.indptr.astype(np.int64),
        f"{prefix}.indices": m.indices.astype(np.int32),
        f"{prefix}.data": m.data.astype(np.float32),
    }


def _from_csc(tensors: dict[str, np.ndarray], prefix: str, shape: Sequence[int]) -> sp.csc_matrix:
    m = sp.csc_matrix(
        (
            np.asarray(tensors[f"{prefix}.data"], dtype=np.float32),
            np.asarray(tensors[f"{prefix}.indices"], dtype=np.int32),
            np.asarray(tensors[f"{prefix}.indptr"], dtype=np.int64),
        ),
        shape=tuple(int(s) for s in shape),
    )
    return m


class XRLinear(XMTCModel):
    """PECOS XR-Linear over TF-IDF unigrams (optionally n-grams)."""

    mask_token = "<unk>"
    supports_gradients = False

    def __init__(self, **options: Any):
        super().__init__(**options)
        require_pecos()
        self.max_words = int(options["max_words"])
        self.vectorizer = None
        self.model: Any = None
        self.post_processor: str | None = None

    @property
    def threads(self) -> int:
        return int(self.options["n_jobs"]) or cpu_count()

    def _require(self) -> Any:
        if self.model is None or self.vectorizer is None:
            raise RuntimeError(f"{NAME}: fit() or load_state() first")
        return self.model

    def features(self, docs: Sequence[Words]) -> sp.csr_matrix:
        if self.vectorizer is None:
            raise RuntimeError(f"{NAME}: fit() or load_state() first")
        X = transform(self.vectorizer, docs, self.max_words).astype(np.float32)
        X.sort_indices()
        return X

    def fit(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Any,
        *,
        label_names: Sequence[str],
        seed: int = 0,
        progress: bool = True,
    ) -> XRLinear:
        plain = getattr(loss, "loss", None)
        name = liblinear_loss(plain)
        if name is None:
            raise UsageError(
                f"model:{NAME}",
                f"trains the {' and '.join(SOLVERS)} losses, not {getattr(plain, 'name', None)!r}",
            )
        if plain.weighting != "none":
            raise UsageError(
                f"loss:{name}.weighting",
                f"{NAME} trains the plain loss only (PECOS has no per-label weights); "
                f"got {plain.weighting}",
            )
        base, xlinear = require_pecos()
        o = self.options
        self.label_names = list(label_names)
        self.vectorizer = make_vectorizer(o["ngram_max"], o["min_df"])
        self.vectorizer.fit(list(d[: self.max_words]) for d in docs)
        X = self.features(docs)
        Y = sp.csr_matrix(Y, dtype=np.float32)
        label_feat = base.LabelEmbeddingFactory.create(Y, X, method="pifa")
        chain = base.Indexer.gen(
            label_feat,
            indexer_type="hierarchicalkmeans",
            nr_splits=o["nr_splits"],
            max_leaf_size=o["max_leaf_size"],
            seed=seed,
            threads=self.threads,
        )
        self.post_processor = (
            DEFAULT_POST[name] if o["post_processor"] == "auto" else o["post_processor"]
        )
        self.model = xlinear.XLinearModel.train(
            X,
            Y,
            C=chain,
            threads=self.threads,
            solver_type=SOLVERS[name],
            Cp=o["C"],
            Cn=o["C"],
            threshold=o["prune"],
            max_iter=o["max_iter"],
            eps=o["tol"],
            beam_size=o["beam_size"],
            post_processor=self.post_processor,
        )
        return self

    def _predict(self, X: sp.csr_matrix, **kwargs: Any) -> sp.csr_matrix:
        return sp.csr_matrix(
            self._require().predict(
                X,
                beam_size=self.options["beam_size"],
                post_processor=self.post_processor,
                threads=self.threads,
                **kwargs,
            )
        )

    def path_scores(self, X: sp.csr_matrix, labels: np.ndarray) -> np.ndarray:
        """Exact path scores of ``labels`` (the same for every row) for each row of ``X``,
        whatever the beam keeps: (rows, len(labels)) float32."""
        n = X.shape[0]
        wanted, where = np.unique(np.asarray(labels, dtype=np.int64), return_inverse=True)
        m = len(wanted)
        out = np.empty((n, len(labels)), dtype=np.float32)
        if m == 0 or n == 0:
            return out
        step = max(1, SELECTED_ELEMENTS // m)
        for start in range(0, n, step):
            rows = min(step, n - start)
            selected = sp.csr_matrix(
                (
                    np.ones(rows * m, dtype=np.float32),
                    np.tile(wanted, rows),
                    np.arange(0, rows * m + 1, m),
                ),
                shape=(rows, self.n_labels),
            )
            scores = self._predict(X[start : start + rows], selected_outputs_csr=selected)
            dense = np.zeros((rows, m), dtype=np.float32)
            coo = scores.tocoo()
            dense[coo.row, np.searchsorted(wanted, coo.col)] = coo.data
            out[start : start + rows] = dense[:, where]
        return out

    def _batches(self, docs: Sequence[Words]):
        bs = self.options["eval_batch_size"]
        for start in range(0, len(docs), bs):
            yield start, self.features(docs[start : start + bs])

    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        """Every label's exact path score (what beam search approximates)."""
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        everything = np.arange(self.n_labels)
        for start, X in self._batches(docs):
            out[start : start + X.shape[0]] = self.path_scores(X, everything)
        return out

    def predict_topk(self, docs: Sequence[Words], k: int, labels: Sequence[int] = ()) -> TopK:
        """The beam's ``k`` best labels per document (best first, ties to the lower label
        index among the candidates the beam returned) and the exact path scores of
        ``labels``; a label's rank is its place in the beam's list when the list holds it,
        :data:`UNKNOWN_RANK` otherwise. A row for which the beam returned fewer than ``k``
        labels is completed from the exact scores of every label."""
        n, k = len(docs), min(k, self.n_labels)
        labels = np.asarray(labels, dtype=np.int64)
        top_idx = np.empty((n, k), dtype=np.int64)
        top_scores = np.empty((n, k), dtype=np.float32)
        label_scores = np.empty((n, labels.size), dtype=np.float32)
        for start, X in self._batches(docs):
            # A few more than k, so ties at the k-th score are settled by label index here.
            P = self._predict(X, only_topk=min(self.n_labels, k + 16))
            for r in range(X.shape[0]):
                lo, hi = P.indptr[r], P.indptr[r + 1]
                idx = P.indices[lo:hi].astype(np.int64)
                val = P.data[lo:hi].astype(np.float32)
                if len(idx) < k:
                    full = self.path_scores(X[r : r + 1], np.arange(self.n_labels))
                    idx = top_k(full, k)[0]
                    val = full[0, idx]
                order = np.lexsort((idx, -val))[:k]
                top_idx[start + r], top_scores[start + r] = idx[order], val[order]
            label_scores[start : start + X.shape[0]] = self.path_scores(X, labels)
        hit = top_idx[:, :, None] == labels[None, None, :]
        ranks = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, UNKNOWN_RANK)
        return TopK(top_idx, top_scores, tuple(int(j) for j in labels), label_scores, ranks)

    def cache_key(self, words: Words) -> bytes:
        """Keyed on vocabulary ids (unknown words all map to -1)."""
        if self.vectorizer is None:
            raise RuntimeError(f"{NAME}: fit() or load_state() first")
        vocab = self.vectorizer.vocabulary_
        return ids_key([vocab.get(w.lower(), -1) for w in words[: self.max_words]])

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        model = self._require()
        tensors: dict[str, np.ndarray] = {"idf": self.vectorizer.idf_.astype(np.float32)}
        layers = []
        for d, level in enumerate(model.model.model_chain):
            tensors.update(_csc_arrays(level.W, f"layer{d}.W"))
            tensors.update(_csc_arrays(level.C, f"layer{d}.C"))
            layers.append(
                {
                    "W_shape": list(level.W.shape),
                    "C_shape": list(level.C.shape),
                    "bias": float(level.bias),
                    "only_topk": int(level.pred_params.only_topk),
                    "post_processor": str(level.pred_params.post_processor),
                }
            )
        extra = {
            "terms": terms_of(self.vectorizer),
            "layers": layers,
            "post_processor": self.post_processor,
        }
        return tensors, extra

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        base, xlinear = require_pecos()
        o = self.options
        self.vectorizer = restore(extra["terms"], tensors["idf"], o["ngram_max"], o["min_df"])
        chain = []
        for d, layer in enumerate(extra["layers"]):
            chain.append(
                base.MLModel(
                    W=_from_csc(tensors, f"layer{d}.W", layer["W_shape"]).sorted_indices(),
                    C=_from_csc(tensors, f"layer{d}.C", layer["C_shape"]).sorted_indices(),
                    bias=float(layer["bias"]),
                    pred_params=base.MLModel.PredParams(
                        only_topk=int(layer["only_topk"]),
                        post_processor=str(layer["post_processor"]),
                    ),
                )
            )
        n_out = chain[-1].C.shape[0] if chain else 0
        if n_out != self.n_labels:
            raise ValueError(f"the tree ends in {n_out} labels, not {self.n_labels}")
        self.model = xlinear.XLinearModel(base.HierarchicalMLModel(chain))
        self.post_processor = str(extra["post_processor"])


OPTIONS: tuple[Option, ...] = (
    Option("eval_batch_size", int, 256, "Documents per prediction batch.", min=1, max=65536),
    Option(
        "max_words",
        int,
        500,
        "Words of a document the model reads; later words are dropped (the attack truncates "
        "to this too).",
        min=1,
        max=100_000,
    ),
    Option(
        "C",
        float,
        1.0,
        "Inverse regularisation strength of every node's classifier.",
        min=0.0,
        min_inclusive=False,
    ),
    Option(
        "tol", float, 0.1, "Stopping tolerance of the dual solver.", min=0.0, min_inclusive=False
    ),
    Option("max_iter", int, 100, "Passes of the dual solver per node classifier.", min=1),
    Option(
        "prune",
        float,
        0.1,
        "Weights with |w| below this are dropped after training (PECOS's threshold).",
        min=0.0,
    ),
    Option("nr_splits", int, 16, "Children of each tree node (k-means branching).", min=2),
    Option("max_leaf_size", int, 100, "Labels per leaf cluster at most.", min=2),
    Option("beam_size", int, 10, "Clusters kept per tree level by the beam search.", min=1),
    Option(
        "post_processor",
        str,
        "auto",
        "Node score transform: auto (l3-hinge for squared-hinge, sigmoid for bce) or one of "
        "PECOS's.",
        choices=("auto", "sigmoid", "l2-hinge", "l3-hinge", "l4-hinge"),
    ),
    Option("ngram_max", int, 1, "Longest word n-gram used as a feature.", min=1, max=3),
    Option("min_df", int, 1, "Documents a term needs to become a feature.", min=1),
    Option(
        "n_jobs",
        int,
        0,
        "Threads PECOS trains and predicts with (0: one per CPU).",
        min=0,
    ),
)


@hookimpl
def xmtc_register_models() -> list[Component]:
    return [
        Component(
            kind="model",
            name=NAME,
            description="PECOS XR-Linear: label tree on PIFA embeddings, linear rankers, beam "
            f"search (TF-IDF input; plain losses; needs the '{EXTRA}' extra)",
            factory=XRLinear,
            options=OPTIONS,
        )
    ]
