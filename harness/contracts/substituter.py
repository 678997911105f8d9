"""The substituter contract: replacement words for one position of a document.

A substituter component's factory returns a :class:`Substituter`; for each trial the search
calls :meth:`Substituter.start` once on the original document and then asks the returned
:class:`CandidateSource` for candidates at each position it attacks, in importance order.
:func:`harness.attack.candidates.filter_candidates` applies the rules below.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CandidateSource(Protocol):
    """Candidates for one document, from what :meth:`Substituter.start` precomputed."""

    def candidates(self, current: list[str], position: int) -> list[str]:
        """Replacement words for ``current[position]``, best first.

        :param current: the document as the search has changed it so far (same length as
            the original).
        :param position: the index of the word to replace.
        :returns: at most the substituter's K words, each a real, different, attackable
            word: not the current word in any case, no stopword, no punctuation-only
            string, no WordPiece continuation (``##...``), no repeats (case-insensitive),
            and exactly one word under :func:`harness.text.tokenize`. Deterministic for the
            same input.
        """
        ...


@runtime_checkable
class Substituter(Protocol):
    """Proposes replacement words (GloVe neighbours, a masked language model, ...)."""

    def start(self, original: list[str]) -> CandidateSource:
        """Bind to one original document (a masked LM may encode it once here).

        :param original: the document's words, truncated to what the model reads.
        :returns: the source of candidates for this document.
        """
        ...
