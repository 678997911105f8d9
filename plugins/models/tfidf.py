"""The TF-IDF features the linear models share (``linear``, ``xr-linear``): scikit-learn's
:class:`TfidfVectorizer` on the harness word lists, and its vocabulary as a JSON term list.

Words are lowercased but not re-tokenised (the harness tokenizer already split them); tf is
sublinear and rows are L2-normalised. A document's first ``max_words`` words are used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer


def lower(words: Sequence[str]) -> list[str]:
    """The vectorizer's analyzer: the harness words, lowercased (no re-tokenisation)."""
    return [w.lower() for w in words]


def identity(words: Sequence[str]) -> list[str]:
    return list(words)


def make_vectorizer(ngram_max: int = 1, min_df: int = 1) -> TfidfVectorizer:
    """Unigrams (or word n-grams up to ``ngram_max``) over lowercased harness words."""
    return TfidfVectorizer(
        analyzer=lower if ngram_max == 1 else "word",
        tokenizer=None if ngram_max == 1 else identity,
        preprocessor=None if ngram_max == 1 else lower,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, ngram_max),
        min_df=min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )


def transform(vec: TfidfVectorizer, docs: Iterable[Sequence[str]], max_words: int) -> sp.csr_matrix:
    """TF-IDF rows of the first ``max_words`` words of each document (streamed)."""
    return vec.transform(list(d[:max_words]) for d in docs).tocsr()


def terms_of(vec: TfidfVectorizer) -> list[str]:
    """The vocabulary as a list indexed by feature id (what a checkpoint's JSON keeps)."""
    terms = [""] * len(vec.vocabulary_)
    for term, i in vec.vocabulary_.items():
        terms[i] = term
    return terms


def restore(terms: Sequence[str], idf: np.ndarray, ngram_max: int, min_df: int):
    """A fitted vectorizer from a term list and idf weights."""
    vec = make_vectorizer(ngram_max, min_df)
    vec.vocabulary_ = {t: i for i, t in enumerate(terms)}
    vec.idf_ = np.asarray(idf, dtype=np.float64)
    return vec
