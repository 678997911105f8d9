"""Words as the attack sees them: one tokenizer, one stopword list, one rule for punctuation.

Every model maps these words to its own tokens internally; the attack only ever edits,
masks or counts words produced here, so change rates mean the same for every model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

_WORD = re.compile(r"\w+(?:['’.\-]\w+)*|[^\w\s]", re.UNICODE)
_PUNCT_ONLY = re.compile(r"^[^\w]+$", re.UNICODE)


@cache
def stopwords() -> frozenset[str]:
    """scikit-learn's English stopword list (318 words): never attacked, never a candidate.
    Loaded on first use: importing scikit-learn takes about a second, which commands that
    only read the results database (``leaderboard``, ``query``) should not pay."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def __getattr__(name: str) -> frozenset[str]:
    if name == "STOPWORDS":  # the list under its constant's name, loaded when first asked
        return stopwords()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def tokenize(text: str) -> list[str]:
    """Split text into words and single punctuation marks, keeping case."""
    return _WORD.findall(text)


def detokenize(words: Sequence[str]) -> str:
    """The inverse used everywhere the harness stores or shows a word sequence."""
    return " ".join(words)


def is_punctuation(word: str) -> bool:
    return bool(_PUNCT_ONLY.match(word))


def is_stopword(word: str) -> bool:
    return word.lower() in stopwords()


def is_attackable(word: str) -> bool:
    """Words the attack may replace: not a stopword, not pure punctuation."""
    return bool(word) and not is_punctuation(word) and not is_stopword(word)
