"""``synthetic``: a seeded generator of learnable extreme multilabel corpora.

Label frequencies follow a power law (Zipf: the r-th label is drawn with probability
proportional to ``1 / r^s``), like real XMTC data, so head and tail bins both exist. Every
label owns a small topic vocabulary of real English words (frequent alphabetic GloVe words,
stopwords skipped), the first of which names it (``synthetic:<word>``); a document mixes
words from its labels' topics with common English words (stopwords included, so that the
attack has words it must leave alone). A model can therefore learn the labels from the
words, and the attack can swap real words for real words.

Generation is vectorised with numpy, so 100,000 documents take seconds.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import numpy as np

from harness import hookimpl
from harness.components import Component, Option
from harness.data import Corpus, Document
from harness.errors import UsageError
from harness.text import is_stopword
from plugins.common.glove import DEFAULT as GLOVE_DEFAULT
from plugins.common.glove import load_glove
from plugins.datasets._common import COMMON_OPTIONS, make_corpus

NAME = "synthetic"
N_COMMON = 300  # most frequent alphabetic words: the "filler" vocabulary, stopwords included


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

    def load(self, progress: bool = False) -> Corpus:
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


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    return [
        Component(
            kind="dataset",
            name=NAME,
            description="Seeded Zipf-labelled corpus of real English words (GloVe vocabulary)",
            factory=SyntheticGenerator,
            options=COMMON_OPTIONS
            + (
                Option("n_labels", int, 1000, "Number of labels.", min=100, max=100_000),
                Option("n_docs", int, 5000, "Documents in both splits.", min=100, max=100_000),
                Option("seed", int, 0, "Random seed; equal options give an equal corpus."),
                Option("doc_length", int, 100, "Mean words per document.", min=1, max=100_000),
                Option(
                    "labels_per_doc", float, 3.0, "Mean labels per document.", min=1.0, max=100.0
                ),
                Option(
                    "zipf_exponent", float, 1.0, "Power-law exponent of label frequency.", min=0.0
                ),
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
            ),
        )
    ]
