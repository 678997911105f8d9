"""A campaign's plan: its frequency bins and every trial it will run, as a pure function.

No database and no files: given the corpus, the models' test-split top-k and the sampling
settings, :func:`plan_campaign` gives the same bins and the same trials in the same order
every time, which is what resuming relies on. Each :class:`PlannedTrial` carries what a
worker needs to run it (the document's words and the target labels), so trials can be
handed to any executor as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from harness.campaign.config import CampaignConfig
from harness.campaign.sampling import (
    Bin,
    Draw,
    make_bins,
    plan_negative,
    plan_positive,
    positive_pool,
)
from harness.data import Corpus
from harness.provenance import config_hash
from harness.vocab import AttackKind


@dataclass(frozen=True)
class PlannedTrial(Draw):
    """A drawn pair with what a worker needs to attack it: the document's id and words
    (and final targets: a non-targeted trial's whole correct top-k)."""

    doc_id: str
    """The document's id (stored as the trial's ``sample_id``)."""
    words: tuple[str, ...]
    """The document's words as the model reads them (truncated to its ``max_words``)."""


@dataclass(frozen=True)
class Plan:
    bins: list[Bin]
    trials: list[PlannedTrial]


def plan_fingerprint(plan: Plan) -> str:
    """A hash of every planned trial (index, document, targets, bin) and of the bins: equal
    exactly when two plans would run the same trials."""
    return config_hash(
        {
            "bins": [b.as_dict() for b in plan.bins],
            "trials": [
                [t.trial_index, t.doc_id, list(t.targets), t.bin_index] for t in plan.trials
            ],
        }
    )


def correct_topk_targets(draw: Draw, Y: sp.csr_matrix, topk: np.ndarray) -> tuple[int, ...]:
    """A non-targeted trial's target set: the drawn label first, then the document's other
    true labels in the model's top-k (Γ = Y ∩ Ŷ_k, fixed on the original document)."""
    row = draw.doc_row
    true = set(Y.indices[Y.indptr[row] : Y.indptr[row + 1]].tolist())
    primary = draw.targets[0]
    return (primary, *(int(x) for x in topk[row] if int(x) in true and int(x) != primary))


def plan_campaign(
    cfg: CampaignConfig,
    corpus: Corpus,
    topks: Sequence[np.ndarray],
    max_words: int,
    cluster_ids: np.ndarray | None = None,
) -> Plan:
    """Bins and trials of a campaign.

    ``topks`` are the test split's top-k of the attacked model first, then of every paired
    model (pairs are drawn only where all of them agree); ``cluster_ids`` the label clusters
    of a clustered negative attack (-1 where unusable); ``max_words`` the attacked model's.
    """
    s = cfg.sampling
    Y = corpus.label_matrix("test")
    freq = corpus.label_counts
    pool = positive_pool(Y, topks)
    bins = make_bins(freq, pool, s.labels_per_bin)
    kind = AttackKind(cfg.attack.kind)
    n_targets = cfg.targets_per_trial()
    if kind == AttackKind.NEGATIVE:
        draws = plan_negative(
            Y, topks, bins, freq, s.samples_per_bin, cfg.seed, cluster_ids, n_targets
        )
    else:
        draws = plan_positive(pool, bins, freq, s.samples_per_bin, cfg.seed, n_targets)
    trials = []
    for d in draws:
        targets = d.targets
        if kind == AttackKind.NON_TARGETED:
            targets = correct_topk_targets(d, Y, topks[0])
        doc = corpus.test[d.doc_row]
        trials.append(
            PlannedTrial(
                trial_index=d.trial_index,
                doc_row=d.doc_row,
                doc_id=doc.doc_id,
                words=tuple(doc.words[:max_words]),
                targets=targets,
                label_freq=d.label_freq,
                bin_index=d.bin_index,
            )
        )
    return Plan(bins, trials)
