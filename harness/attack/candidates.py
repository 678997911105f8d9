"""One candidate filter for every substituter, so all of them obey the same rules
(docs/method.md, "Substitution").

A candidate must be a real, different, attackable word as the attack sees it: not the
original word in any case, not a stopword, not punctuation, not a WordPiece continuation
(``##...``), and exactly one word under :func:`harness.text.tokenize` (so a swap changes one
word and change rates stay comparable across substituters). Order is kept (best first);
duplicates collapse case-insensitively; the list is capped at ``k``.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.text import is_punctuation, is_stopword, tokenize


def is_valid_candidate(word: str) -> bool:
    """Whether ``word`` may replace an attacked word at all (independent of the original)."""
    if not word or word.startswith("##"):
        return False
    if is_punctuation(word) or is_stopword(word):
        return False
    return tokenize(word) == [word]


def filter_candidates(candidates: Iterable[str], exclude: str | Iterable[str], k: int) -> list[str]:
    """The first ``k`` valid candidates, excluding ``exclude`` (case-insensitive) and repeats."""
    if k <= 0:
        return []
    excluded = {exclude.lower()} if isinstance(exclude, str) else {w.lower() for w in exclude}
    seen = set(excluded)
    out: list[str] = []
    for cand in candidates:
        low = cand.lower()
        if low in seen or not is_valid_candidate(cand):
            continue
        seen.add(low)
        out.append(cand)
        if len(out) >= k:
            break
    return out


def match_case(template: str, word: str) -> str:
    """``word`` in ``template``'s capitalisation pattern (UPPER, capitalised, else unchanged).

    Lower-cased vocabularies (GloVe 6B, uncased MLMs) would otherwise turn "Profit" into
    "earnings" and make the change visible for reasons the attack did not choose.
    """
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
