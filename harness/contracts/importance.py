"""The importance-scorer contract: which words the search attacks first.

An importance component's factory returns an :class:`ImportanceScorer`. The search calls
:meth:`ImportanceScorer.scores` once per trial and attacks the words in decreasing score
(ties in document order). Every model query goes through the
:class:`~harness.attack.engine.QueryEngine` it is given, so it is batched, cached and
counted; the engine also exposes what a scorer may need of the model (``mask_token``,
``supports_gradients``, ``saliency``), so a scorer never touches the model itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from harness.attack.engine import QueryEngine
    from harness.attack.goals import Answer, Goal


@runtime_checkable
class ImportanceScorer(Protocol):
    """Ranks the words of a document by how much each one holds the goal back.

    A scorer that needs a white-box model sets the class attribute ``needs_gradients =
    True``; the attack builder then refuses a model without gradients once, when the attack
    is built, instead of every trial failing.
    """

    def scores(
        self,
        words: list[str],
        positions: Sequence[int],
        engine: QueryEngine,
        goal: Goal,
        base: Answer,
    ) -> np.ndarray:
        """One importance per entry of ``positions`` (higher: attacked first).

        :param words: the original document (truncated to what the model reads).
        :param positions: the indices of the attackable words (no stopwords, no
            punctuation), in document order.
        :param engine: the only way to query the model.
        :param goal: the trial's goal; ``goal.gamma`` and ``goal.progress`` give the
            paper's importance for any attack kind.
        :param base: the model's answer about ``words`` (:class:`harness.ranking.TopK`: the
            top-k list and the targets' scores; ``goal`` reads it, and
            ``engine.scores(texts, goal.k, goal.targets)`` gives the same for variants).
        :returns: a float array of ``len(positions)`` finite values, deterministic, and the
            same per position whatever order ``positions`` come in.
        """
        ...
