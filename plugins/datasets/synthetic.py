"""``synthetic``: a seeded generator of learnable extreme multilabel corpora.

Label frequencies follow a power law (Zipf: the r-th label is drawn with probability
proportional to ``1 / r^s``), like real XMTC data, so head and tail bins both exist. Every
label owns a small topic vocabulary of real English words (frequent alphabetic GloVe words,
stopwords skipped), the first of which names it (``synthetic:<word>``); a document mixes
words from its labels' topics with common English words (stopwords included, so that the
attack has words it must leave alone). A model can therefore learn the labels from the
words, and the attack can swap real words for real words.

Two generators share that recipe:

* ``shape=none`` (the default) draws the whole corpus at once, vectorised with numpy
  (100,000 documents take seconds). It is kept exactly as it was, so every corpus made with
  its options, and every model trained on one, still matches.
* ``shape=custom`` and the presets ``eurlex-4k``, ``wiki10-31k``, ``amazoncat-13k`` draw the
  documents in fixed chunks of :data:`CHUNK_DOCS` from per-chunk random streams, so up to
  2,000,000 documents come out in bounded working memory (one chunk's token arrays; labels
  are kept as per-document tuples, never a documents x labels array). A corpus made with
  ``fraction=f`` is the first ``f`` of the full one's training and test documents.

The presets copy the published shape of three raw-text benchmarks (:data:`SHAPES`; sources in
``docs/synthetic_shapes.md``): label count, training and test documents, mean labels per
document, and mean words per document capped at ``max_words`` (a model never reads the words
past its own ``max_words``). Their label-frequency curve is a Zipf-Mandelbrot law
``p_r ∝ (r + b)^-s`` whose two parameters are solved so that, at the full size, the rarest
label is expected in one training document and the most frequent in :data:`HEAD_SHARE` of
them, while the mean labels per document stays the published one (:func:`fit_curve`).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from harness import hookimpl
from harness.components import Component, Option
from harness.data import Corpus, Document
from harness.errors import UsageError
from harness.text import is_stopword
from plugins.common.glove import DEFAULT as GLOVE_DEFAULT
from plugins.common.glove import load_glove
from plugins.datasets._common import COMMON_OPTIONS, make_corpus
from plugins.datasets._limits import require_memory

NAME = "synthetic"
N_COMMON = 300  # most frequent alphabetic words: the "filler" vocabulary, stopwords included
CHUNK_DOCS = 4096
"""Documents drawn per chunk by the streamed generator (fixed: the corpus must not depend on
it). At 500 words a chunk's token arrays take about 50 MB."""
HEAD_SHARE = 0.35
"""Share of training documents that carry a preset's most frequent label (an assumption:
the sources publish no label-frequency curve; at Wiki10-31K's size it makes the fitted curve
Zipf's own, s = 1.00)."""
WHOLE_MAX_DOCS = 100_000
"""Largest corpus the all-at-once generator (``shape=none``) draws."""


@dataclass(frozen=True)
class Shape:
    """A benchmark's published shape (AttentionXML, You et al. 2019, Table 1)."""

    name: str
    n_labels: int
    n_train: int
    n_test: int
    labels_per_doc: float
    mean_words: float


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("eurlex-4k", 3_956, 15_449, 3_865, 5.30, 1_248.58),
        Shape("wiki10-31k", 30_938, 14_146, 6_616, 18.64, 2_484.30),
        Shape("amazoncat-13k", 13_330, 1_186_239, 306_782, 5.04, 246.61),
    )
}
SHAPE_CHOICES = ("none", "custom", *SHAPES)
PRESET_CONTROLLED = ("n_labels", "n_docs", "doc_length", "labels_per_doc", "test_fraction")
"""Options a preset sets itself; giving one of them with a preset is an error."""


@lru_cache(maxsize=2)
def vocabulary(glove_source: str = GLOVE_DEFAULT) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(common words, content words) from the GloVe vocabulary, most frequent first.

    GloVe lists its words by corpus frequency, so its head is ordinary English. Only
    lower-case ASCII alphabetic words of two letters or more are used; content words also
    skip stopwords and the common words.
    """
    words = [
        w for w in load_glove(glove_source).words if len(w) > 1 and w.isascii() and w.isalpha()
    ]
    words = [w for w in words if w.islower()]
    common = words[:N_COMMON]
    taken = set(common)
    content = [w for w in words if w not in taken and not is_stopword(w) and len(w) > 2]
    return tuple(common), tuple(content)


def _curve(n_labels: int, head: float, b: float) -> tuple[np.ndarray, float]:
    """Expected training counts ``c_r = (L + b)^s (r + b)^-s`` running from ``head`` (r = 1)
    down to 1 (r = L), and their exponent ``s``."""
    s = math.log(head) / math.log((n_labels + b) / (1.0 + b))
    r = np.arange(1, n_labels + 1, dtype=np.float64)
    return np.exp(s * (math.log(n_labels + b) - np.log(r + b))), s


def fit_curve(
    n_labels: int, n_train: int, labels_per_doc: float, head_share: float = HEAD_SHARE
) -> tuple[float, float]:
    """(s, b) of the Zipf-Mandelbrot law whose expected training counts run from
    ``head_share * n_train`` (first label) to 1 (last label) and add up to
    ``n_train * labels_per_doc``; scipy's ``brentq`` solves for ``log b``."""
    head = head_share * n_train
    total = n_train * labels_per_doc

    def excess(log_b: float) -> float:
        return float(_curve(n_labels, head, math.exp(log_b))[0].sum() - total)

    grid = np.linspace(-8.0, 18.0, 53)
    values = [excess(x) for x in grid]
    for lo, hi, v_lo, v_hi in zip(grid, grid[1:], values, values[1:], strict=False):
        if v_lo * v_hi <= 0:
            b = math.exp(brentq(excess, lo, hi, xtol=1e-10))
            return _curve(n_labels, head, b)[1], b
    raise UsageError(
        "dataset:synthetic.shape",
        f"no power law gives {n_labels} labels, {labels_per_doc} per document and a head "
        f"label in {head_share:.0%} of {n_train} documents",
    )


@dataclass(frozen=True)
class Plan:
    """The resolved sizes and label distribution of a streamed corpus."""

    n_labels: int
    n_train: int
    n_test: int
    labels_per_doc: float
    doc_length: float
    exponent: float
    offset: float

    def label_probabilities(self) -> np.ndarray:
        p = (np.arange(1, self.n_labels + 1, dtype=np.float64) + self.offset) ** -self.exponent
        return p / p.sum()


class SyntheticGenerator:
    """Generates a Corpus; ``load`` is deterministic for given options."""

    def __init__(
        self,
        data_dir: str | None = None,
        skip_bad_lines: bool = False,
        propensity_a: float | None = None,
        propensity_b: float | None = None,
        n_labels: int = 1000,
        n_docs: int = 5000,
        seed: int = 0,
        doc_length: int = 100,
        labels_per_doc: float = 3.0,
        zipf_exponent: float = 1.0,
        topic_words: int = 10,
        topic_share: float = 0.5,
        test_fraction: float = 0.2,
        glove: str = GLOVE_DEFAULT,
        shape: str = "none",
        fraction: float = 1.0,
        max_words: int = 500,
    ):
        # data_dir and skip_bad_lines are accepted for a uniform interface; nothing is read.
        self.options = dict(propensity_a=propensity_a, propensity_b=propensity_b)
        self.n_labels = n_labels
        self.n_docs = n_docs
        self.seed = seed
        self.doc_length = doc_length
        self.labels_per_doc = labels_per_doc
        self.zipf_exponent = zipf_exponent
        self.topic_words = topic_words
        self.topic_share = topic_share
        self.test_fraction = test_fraction
        self.glove = glove
        self.shape = shape
        self.fraction = fraction
        self.max_words = max_words
        self._check_options()

    def _check_options(self) -> None:
        """Option combinations the generators cannot honour, before anything is drawn."""
        where = f"dataset:{NAME}"
        if self.shape not in SHAPE_CHOICES:
            raise UsageError(f"{where}.shape", f"{self.shape!r} is not one of {SHAPE_CHOICES}")
        if self.shape not in SHAPES and self.max_words != 500:
            raise UsageError(f"{where}.max_words", "applies to the presets only; set doc_length")
        if self.shape == "none":
            if self.n_docs > WHOLE_MAX_DOCS:
                raise UsageError(
                    f"{where}.n_docs",
                    f"{self.n_docs} documents need the streamed generator: add shape=custom "
                    f"(shape=none draws at most {WHOLE_MAX_DOCS:,} at once)",
                )
            if self.fraction != 1.0:
                raise UsageError(f"{where}.fraction", "applies to the presets only")
            self._check_memory()
            return
        if self.shape in SHAPES:
            defaults = {o.name: o.default for o in OPTIONS}
            for name in PRESET_CONTROLLED:
                if getattr(self, name) != defaults[name]:
                    raise UsageError(
                        f"{where}.{name}",
                        f"shape={self.shape} sets it; use shape=custom to choose it yourself",
                    )
        elif self.fraction != 1.0:
            raise UsageError(f"{where}.fraction", "applies to the presets only; set n_docs")
        self._check_memory()

    def _check_memory(self) -> None:
        """Refuse a corpus that would not fit in memory, before drawing any of it: each
        document costs its text (about 7 bytes a word), its label tuple and two objects."""
        if self.shape in SHAPES:
            sh = SHAPES[self.shape]
            n = round((sh.n_train + sh.n_test) * self.fraction)
            words, labels, field = min(sh.mean_words, self.max_words), sh.labels_per_doc, "shape"
        else:
            n, words, labels, field = self.n_docs, self.doc_length, self.labels_per_doc, "n_docs"
        require_memory(
            f"dataset:{NAME}.{field}",
            n * (256 + 7 * words + 8 * labels),
            f"{n:,} documents of {words:,.0f} words",
        )

    # ------------------------------------------------------------------ streamed generator

    def plan(self) -> Plan:
        """Sizes and label curve of a streamed corpus (``shape`` other than ``none``)."""
        if self.shape in SHAPES:
            sh = SHAPES[self.shape]
            exponent, offset = fit_curve(sh.n_labels, sh.n_train, sh.labels_per_doc)
            return Plan(
                n_labels=sh.n_labels,
                n_train=max(1, round(sh.n_train * self.fraction)),
                n_test=max(1, round(sh.n_test * self.fraction)),
                labels_per_doc=sh.labels_per_doc,
                doc_length=min(sh.mean_words, float(self.max_words)),
                exponent=exponent,
                offset=offset,
            )
        n_test = min(max(int(round(self.n_docs * self.test_fraction)), 1), self.n_docs - 1)
        return Plan(
            n_labels=self.n_labels,
            n_train=self.n_docs - n_test,
            n_test=n_test,
            labels_per_doc=self.labels_per_doc,
            doc_length=float(self.doc_length),
            exponent=self.zipf_exponent,
            offset=0.0,
        )

    def _vocab(self, n_labels: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        common, content = vocabulary(self.glove)
        if len(content) < n_labels + self.topic_words:
            raise UsageError(
                "dataset:synthetic.n_labels",
                f"the vocabulary has only {len(content)} content words for {n_labels} labels",
            )
        return common, content

    def _topics(self, plan: Plan, n_common: int, n_vocab: int) -> np.ndarray:
        """(L, topic_words) word ids: label l's name word, then words from a frequent pool."""
        rng = np.random.default_rng([self.seed, 0])
        n_lab, k = plan.n_labels, self.topic_words
        name_ids = np.arange(n_lab) + n_common
        pool_end = min(n_vocab, n_common + n_lab + max(20_000, n_lab))
        pool = np.arange(n_common + n_lab, pool_end)
        extra = rng.choice(pool, size=(n_lab, k - 1)) if k > 1 else np.empty((n_lab, 0), int)
        return np.concatenate([name_ids[:, None], extra], axis=1)

    def iter_documents(self, split: str) -> Iterator[Document]:
        """The documents of one split, drawn chunk by chunk (streamed generator only)."""
        if self.shape == "none":
            raise UsageError(f"dataset:{NAME}.shape", "shape=none draws the corpus at once")
        plan = self.plan()
        common, content = self._vocab(plan.n_labels)
        vocab = np.array([*common, *content], dtype=object)
        topics = self._topics(plan, len(common), len(vocab))
        cdf = np.cumsum(plan.label_probabilities())
        pc = 1.0 / np.arange(1, len(common) + 1)
        common_cdf = np.cumsum(pc / pc.sum())
        split_id, first, count = (
            (1, 0, plan.n_train) if split == "train" else (2, plan.n_train, plan.n_test)
        )
        for c, start in enumerate(range(0, count, CHUNK_DOCS)):
            # Every chunk is drawn whole and cut, so a smaller corpus is a prefix of a larger.
            rng = np.random.default_rng([self.seed, split_id, c])
            chunk = self._chunk(rng, first + start, plan, topics, vocab, cdf, common_cdf)
            yield from itertools.islice(chunk, min(CHUNK_DOCS, count - start))

    def _chunk(
        self,
        rng: np.random.Generator,
        first_id: int,
        plan: Plan,
        topics: np.ndarray,
        vocab: np.ndarray,
        cdf: np.ndarray,
        common_cdf: np.ndarray,
    ) -> Iterator[Document]:
        """:data:`CHUNK_DOCS` documents: 1 + Poisson(m - 1) distinct labels each (the first
        distinct ones of a longer run of draws from the label law), Poisson(length) words each;
        text is joined lazily, document by document."""
        n, n_lab, k = CHUNK_DOCS, plan.n_labels, self.topic_words
        want = np.minimum(1 + rng.poisson(plan.labels_per_doc - 1, size=n), n_lab)
        draws = want + np.ceil(0.25 * want).astype(np.int64) + 2
        owner = np.repeat(np.arange(n), draws)
        drawn = np.minimum(np.searchsorted(cdf, rng.random(owner.size), side="right"), n_lab - 1)
        keys, first = np.unique(owner * n_lab + drawn, return_index=True)
        order = np.lexsort((first, keys // n_lab))  # per document, in order of first draw
        doc = (keys // n_lab)[order]
        rank = np.arange(doc.size) - np.searchsorted(doc, np.arange(n))[doc]
        kept = np.sort(keys[order][rank < want[doc]])
        doc_of_label, label_flat = kept // n_lab, kept % n_lab
        n_per_doc = np.bincount(doc_of_label, minlength=n)
        indptr = np.concatenate([[0], np.cumsum(n_per_doc)])

        lengths = np.maximum(rng.poisson(plan.doc_length, size=n), 1)
        doc_of_tok = np.repeat(np.arange(n), lengths)
        t = doc_of_tok.size
        is_topic = rng.random(t) < self.topic_share
        ids = np.empty(t, dtype=np.int64)
        td = doc_of_tok[is_topic]
        pick = indptr[td] + (rng.random(td.size) * n_per_doc[td]).astype(np.int64)
        ids[is_topic] = topics[label_flat[pick], rng.integers(0, k, size=td.size)]
        n_filler = t - td.size
        ids[~is_topic] = np.searchsorted(common_cdf, rng.random(n_filler), side="right").clip(
            max=common_cdf.size - 1
        )
        tokens = vocab[ids].tolist()
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends[:-1]]
        labels = np.split(label_flat, indptr[1:-1])
        for i, (a, b, labs) in enumerate(zip(starts, ends, labels, strict=True)):
            yield Document(f"{NAME}-{first_id + i}", " ".join(tokens[a:b]), tuple(labs.tolist()))

    def _load_streamed(self) -> Corpus:
        plan = self.plan()
        common, content = self._vocab(plan.n_labels)
        train = list(self.iter_documents("train"))
        test = list(self.iter_documents("test"))
        label_names = [f"{NAME}:{w}" for w in content[: plan.n_labels]]
        meta = {
            "format": "synthetic",
            "seed": self.seed,
            "shape": self.shape,
            "fraction": self.fraction,
            "zipf_exponent": round(plan.exponent, 6),
            "zipf_offset": round(plan.offset, 6),
            "mean_words": plan.doc_length,
            "topic_words": self.topic_words,
            "topic_share": self.topic_share,
            "glove": self.glove,
        }
        return make_corpus(NAME, label_names, train, test, self.options, Counter(), meta)

    # ---------------------------------------------------------------------------- loading

    def load(self, progress: bool = False) -> Corpus:
        if self.shape != "none":
            return self._load_streamed()
        return self._load_whole()

    def _load_whole(self) -> Corpus:
        """The original all-at-once generator (``shape=none``), unchanged."""
        common, content = vocabulary(self.glove)
        if len(content) < self.n_labels + self.topic_words:
            raise UsageError(
                "dataset:synthetic.n_labels",
                f"the vocabulary has only {len(content)} content words for {self.n_labels} labels",
            )
        rng = np.random.default_rng(self.seed)
        n, n_lab, k = self.n_docs, self.n_labels, self.topic_words

        # Topic vocabularies: label l is named by content word l (most frequent words for the
        # most frequent labels) and draws k-1 further words from a pool of frequent words.
        vocab = np.array([*common, *content], dtype=object)
        name_ids = np.arange(n_lab) + len(common)
        # The pool holds the next most frequent words, so topics use everyday vocabulary.
        pool_end = min(len(vocab), len(common) + n_lab + max(20_000, n_lab))
        pool = np.arange(len(common) + n_lab, pool_end)
        extra = rng.choice(pool, size=(n_lab, k - 1)) if k > 1 else np.empty((n_lab, 0), int)
        topics = np.concatenate([name_ids[:, None], extra], axis=1)

        # Labels: a Zipf law over label ranks, 1 + Poisson(m - 1) draws per document,
        # duplicates within a document collapsed.
        p = 1.0 / np.arange(1, n_lab + 1) ** self.zipf_exponent
        p /= p.sum()
        draws = np.minimum(1 + rng.poisson(self.labels_per_doc - 1, size=n), n_lab)
        owner = np.repeat(np.arange(n), draws)
        keys = np.unique(owner * n_lab + rng.choice(n_lab, size=owner.size, p=p))
        doc_of_label, label_flat = keys // n_lab, keys % n_lab
        n_per_doc = np.bincount(doc_of_label, minlength=n)
        indptr = np.concatenate([[0], np.cumsum(n_per_doc)])

        # Words: a topic word of one of the document's labels with probability topic_share,
        # else a common word drawn by its own Zipf law.
        lengths = np.maximum(rng.poisson(self.doc_length, size=n), 1)
        doc_of_tok = np.repeat(np.arange(n), lengths)
        t = doc_of_tok.size
        is_topic = rng.random(t) < self.topic_share
        ids = np.empty(t, dtype=np.int64)
        td = doc_of_tok[is_topic]
        pick = indptr[td] + (rng.random(td.size) * n_per_doc[td]).astype(np.int64)
        ids[is_topic] = topics[label_flat[pick], rng.integers(0, k, size=td.size)]
        pc = 1.0 / np.arange(1, len(common) + 1)
        ids[~is_topic] = rng.choice(len(common), size=t - td.size, p=pc / pc.sum())

        tokens = vocab[ids].tolist()
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends[:-1]]
        lab_lists = np.split(label_flat, indptr[1:-1])
        docs = [
            Document(f"{NAME}-{i}", " ".join(tokens[a:b]), tuple(labs.tolist()))
            for i, (a, b, labs) in enumerate(zip(starts, ends, lab_lists, strict=True))
        ]
        n_test = int(round(n * self.test_fraction))
        n_test = min(max(n_test, 1), n - 1)
        train, test = docs[: n - n_test], docs[n - n_test :]
        label_names = [f"{NAME}:{w}" for w in vocab[name_ids]]
        meta = {
            "format": "synthetic",
            "seed": self.seed,
            "zipf_exponent": self.zipf_exponent,
            "topic_words": k,
            "topic_share": self.topic_share,
            "glove": self.glove,
        }
        return make_corpus(NAME, label_names, train, test, self.options, Counter(), meta)


OPTIONS: tuple[Option, ...] = COMMON_OPTIONS + (
    Option("n_labels", int, 1000, "Number of labels.", min=100, max=100_000),
    Option(
        "n_docs",
        int,
        5000,
        f"Documents in both splits (above {WHOLE_MAX_DOCS:,}: shape=custom).",
        min=100,
        max=2_000_000,
    ),
    Option("seed", int, 0, "Random seed; equal options give an equal corpus.", min=0),
    Option("doc_length", int, 100, "Mean words per document.", min=1, max=100_000),
    Option("labels_per_doc", float, 3.0, "Mean labels per document.", min=1.0, max=100.0),
    Option("zipf_exponent", float, 1.0, "Power-law exponent of label frequency.", min=0.0),
    Option("topic_words", int, 10, "Words in each label's topic.", min=1, max=1000),
    Option(
        "topic_share",
        float,
        0.5,
        "Share of a document's words drawn from its labels' topics.",
        min=0.0,
        max=1.0,
    ),
    Option(
        "test_fraction",
        float,
        0.2,
        "Share of documents in the test split.",
        min=0.0,
        max=1.0,
        min_inclusive=False,
        max_inclusive=False,
    ),
    Option("glove", str, GLOVE_DEFAULT, "GloVe source for the vocabulary."),
    Option(
        "shape",
        str,
        "none",
        "none: the corpus drawn at once from the options above (up to 100,000 documents); "
        "custom: the same options drawn in chunks (up to 2,000,000); eurlex-4k, wiki10-31k, "
        "amazoncat-13k: a benchmark's published shape (labels, documents, labels per "
        "document, length), drawn in chunks.",
        choices=SHAPE_CHOICES,
    ),
    Option(
        "fraction",
        float,
        1.0,
        "Presets: share of the benchmark's documents to draw (the first ones of the full set).",
        min=0.0,
        max=1.0,
        min_inclusive=False,
    ),
    Option(
        "max_words",
        int,
        500,
        "Presets: cap on the mean document length; set it to the model's max_words (later "
        "words are never read).",
        min=1,
        max=100_000,
    ),
)


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    return [
        Component(
            kind="dataset",
            name=NAME,
            description="Seeded Zipf-labelled corpus of real English words (GloVe vocabulary); "
            "benchmark-shaped presets up to AmazonCat-13K's size",
            factory=SyntheticGenerator,
            options=OPTIONS,
        )
    ]
