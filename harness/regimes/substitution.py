"""Adversarial training with the harness's own attack: adversarial documents made from
training documents, positive-targeted at their true labels, added to training.

At each refresh the current model is attacked on training (document, label) pairs it ranks
correctly (the label among its top-k), with an attack built by
:class:`~harness.attack.build.AttackBuilder` from the regime's importance scorer,
substituter, similarity constraint and budget, exactly as a campaign builds one. Each
success (a document the model now misranks, within the change budget and the similarity
threshold) joins the pool of adversarial documents, under its source document's row and with
that document's labels; a later success on the same document replaces it.

Models that train by epochs inside their own loop refresh every ``refresh`` epochs and learn
from ``(1 - share) x clean + share x adversarial`` per batch, an adversarial document
weighing ``share / (1 - share)`` times a clean one. Models trained to an optimum (no
epochs) are retrained ``rounds`` times on the training set plus the pool made against the
model before.

Which labels are targeted (``targets``): ``uniform`` draws a label uniformly among the
labels with training documents, then one of its documents, as evaluation campaigns draw
about as many pairs from every label; ``bins`` draws the same number of pairs from each of
``bins`` bins of training frequency, log-spaced; ``vulnerable`` splits the trials over the
same bins in proportion to each bin's success rate at the previous refresh (equally at the
first), so the attack goes where the model is weakest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.attack.build import AttackBuilder, AttackSpec
from harness.components import PluginChoice
from harness.contracts.model import Words, XMTCModel
from harness.regimes.cost import TrainingCost
from harness.regimes.steps import BatchParts
from harness.vocab import AttackKind, Outcome

CANDIDATES_PER_TRIAL = 3
"""Pairs drawn per trial still wanted: only those the model ranks correctly are attacked."""
MAX_CANDIDATES_PER_TRIAL = 20
"""Most pairs drawn per trial of a bin's quota before the bin is left short."""
VULNERABLE_FLOOR = 0.05
"""Added to each bin's success rate under ``vulnerable``, so no bin is dropped for good."""


@dataclass(frozen=True)
class AdversarialDocument:
    """A successful training attack: the adversarial words (as the model reads them), the
    label it pushed out of the top-k, and the constraints' measures."""

    words: list[str]
    label: int
    similarity: float | None
    n_changed: int
    n_words: int


def attack_spec(options: Mapping[str, Any]) -> AttackSpec:
    """The training attack: positive-targeted, with the regime's plugins and budget."""
    return AttackSpec(
        kind=AttackKind.POSITIVE.value,
        k=int(options["k"]),
        max_change=float(options["max_change"]),
        min_sim=float(options["min_sim"]),
        importance=PluginChoice(str(options["importance"])),
        substituter=PluginChoice(str(options["substituter"])),
        similarity=PluginChoice(str(options["similarity"])),
        max_queries=int(options["max_queries"]) or None,
    )


def forget_kept_states(model: XMTCModel) -> None:
    """Drop the states a model keeps to score related texts faster, if it keeps any: they
    hold activations of weights that training is about to change."""
    forget = getattr(model, "forget_kept_states", None)
    if forget is not None:
        forget()


def frequency_bins(counts: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Labels with a training document, split into ``n_bins`` log-spaced frequency bins
    (empty bins dropped), rarest first."""
    labels = np.flatnonzero(counts > 0)
    if len(labels) == 0:
        return []
    logs = np.log(counts[labels].astype(np.float64))
    edges = np.linspace(logs.min(), logs.max(), n_bins + 1)[1:-1]
    which = np.searchsorted(edges, logs, side="right")
    return [labels[which == b] for b in range(n_bins) if np.any(which == b)]


class SubstitutionAdversary:
    """The ``substitution`` regime: its pool of adversarial documents, how it is refreshed,
    and its training step (a :class:`~harness.regimes.steps.Regime`)."""

    def __init__(
        self,
        registry: Any,
        options: Mapping[str, Any],
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        *,
        seed: int,
        cost: TrainingCost | None = None,
        progress: bool = False,
    ):
        self.options = dict(options)
        self.builder = AttackBuilder(registry, attack_spec(options))
        self.docs = docs
        self.Y = sp.csr_matrix(Y)
        self.Yc = self.Y.tocsc()
        self.seed = seed
        self.cost = cost if cost is not None else TrainingCost("substitution")
        self.progress = progress
        self.share = float(options["share"])
        counts = np.asarray(self.Y.sum(axis=0)).ravel()
        n_bins = 1 if options["targets"] == "uniform" else int(options["bins"])
        self.bins = frequency_bins(counts, n_bins)
        self.bin_success: list[float] | None = None
        self.pool: dict[int, AdversarialDocument] = {}
        self.model: XMTCModel | None = None
        self.n_refreshes = 0

    # -- drawing targets --------------------------------------------------------------------
    def quotas(self) -> list[int]:
        """Trials per bin at this refresh."""
        n, trials = len(self.bins), int(self.options["trials"])
        if self.options["targets"] == "vulnerable" and self.bin_success is not None:
            weight = np.asarray(self.bin_success) + VULNERABLE_FLOOR
        else:
            weight = np.ones(n)
        share = weight / weight.sum() * trials
        out = np.floor(share).astype(int)
        for i in np.argsort(-(share - out), kind="stable")[: trials - int(out.sum())]:
            out[i] += 1  # largest remainders
        return [int(x) for x in out]

    def draw(self, rng: np.random.Generator, labels: np.ndarray, n: int) -> list[tuple[int, int]]:
        """Up to ``n`` distinct (row, label) training pairs: a label uniformly from
        ``labels``, then one of its documents uniformly."""
        seen: set[tuple[int, int]] = set()
        out: list[tuple[int, int]] = []
        tries = 0
        while len(out) < n and tries < 20 * n:
            tries += 1
            label = int(labels[rng.integers(len(labels))])
            col = self.Yc.indices[self.Yc.indptr[label] : self.Yc.indptr[label + 1]]
            pair = (int(col[rng.integers(len(col))]), label)
            if pair not in seen:
                seen.add(pair)
                out.append(pair)
        return out

    def targets(self, model: XMTCModel) -> list[list[tuple[int, int]]]:
        """Per bin, the pairs to attack: drawn, then kept if the model ranks them correctly
        (drawing more, up to ``MAX_CANDIDATES_PER_TRIAL`` per trial, while a bin is short)."""
        rng = np.random.default_rng([self.seed, 17, self.n_refreshes])
        k = int(self.options["k"])
        out = []
        for labels, quota in zip(self.bins, self.quotas(), strict=True):
            kept: list[tuple[int, int]] = []
            seen: set[tuple[int, int]] = set()
            drawn = 0
            while len(kept) < quota and drawn < MAX_CANDIDATES_PER_TRIAL * quota:
                want = CANDIDATES_PER_TRIAL * (quota - len(kept))
                cands = [p for p in self.draw(rng, labels, want) if p not in seen]
                if not cands:
                    break
                drawn += len(cands)
                seen.update(cands)
                top = self._top(model, sorted({r for r, _ in cands}), k)
                kept += [(r, lab) for r, lab in cands if lab in top[r]]
            out.append(kept[:quota])
        return out

    def _top(self, model: XMTCModel, rows: list[int], k: int) -> dict[int, set[int]]:
        """The model's top-k labels of training ``rows`` (counted as candidate documents)."""
        top: dict[int, set[int]] = {}
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            answer = model.predict_topk(
                [list(self.docs[r][: model.max_words]) for r in chunk], k, ()
            )
            for r, idx in zip(chunk, answer.indices, strict=True):
                top[r] = {int(x) for x in idx}
        self.cost.candidate_documents += len(rows)
        return top

    # -- refreshing the pool ----------------------------------------------------------------
    def refresh(self, model: XMTCModel) -> dict[str, Any]:
        """Attack the current model on freshly drawn training pairs; successes join the
        pool. Returns this refresh's record (also kept in the cost's log).

        What the model kept to reuse between related queries is dropped before and after:
        its weights have changed since the last refresh and will change again."""
        t0 = time.perf_counter()
        forget_kept_states(model)
        attack = self.builder.build(model)
        per_bin = self.targets(model)
        tried = ok = 0
        rates = []
        for pairs in per_bin:
            wins = attempted = 0
            for row, label in pairs:
                words = list(self.docs[row][: model.max_words])
                attempt = attack.attempt(words, [label])
                self.cost.attack_queries += attempt.cost.logical_queries
                self.cost.attack_forward_passes += attempt.cost.forward_passes
                self.cost.attack_backward_passes += attempt.cost.backward_passes
                result = attempt.result
                if result is None or result.outcome == Outcome.SKIPPED_NOT_ATTACKABLE:
                    continue
                attempted += 1
                if result.outcome == Outcome.SUCCESS:
                    wins += 1
                    self.pool[row] = AdversarialDocument(
                        list(result.adversarial),
                        label,
                        result.similarity,
                        result.n_changed,
                        len(words),
                    )
            rates.append(wins / attempted if attempted else 0.0)
            tried += attempted
            ok += wins
        forget_kept_states(model)
        self.bin_success = rates
        self.n_refreshes += 1
        seconds = time.perf_counter() - t0
        self.cost.refreshes += 1
        self.cost.attack_trials += tried
        self.cost.attack_successes += ok
        self.cost.attack_seconds += seconds
        self.cost.adversarial_documents = len(self.pool)
        record = {
            "trials": tried,
            "successes": ok,
            "bin_success": [round(r, 4) for r in rates],
            "pool": len(self.pool),
            "seconds": round(seconds, 3),
        }
        self.cost.refresh_log.append(record)
        return record

    # -- in-loop training (a Regime) --------------------------------------------------------
    def bind(self, model: XMTCModel) -> None:
        """The model whose own training loop runs this regime (attacked at each refresh)."""
        self.model = model

    def step(self, parts: BatchParts, rows: np.ndarray) -> float:
        s, n = self.share, len(rows)
        cost = self.cost
        with cost.timing("plain"):
            batch = parts.batch(rows)
            clean = parts.loss(batch, parts.embed(batch))
            ((1.0 - s) * clean).backward()
        cost.clean_forward += n
        cost.clean_backward += n
        cost.steps += 1
        have = np.asarray([r for r in rows if int(r) in self.pool], dtype=np.int64)
        value = (1.0 - s) * float(clean.detach())
        if len(have) == 0:
            return value
        with cost.timing("extra"):
            adv_batch = parts.batch(have, [self.pool[int(r)].words for r in have])
            adv = parts.loss(adv_batch, parts.embed(adv_batch))
            (s * len(have) / n * adv).backward()
        cost.extra_forward += len(have)
        cost.extra_backward += len(have)
        return value + s * len(have) / n * float(adv.detach())

    def end_epoch(self, epoch: int, epochs: int) -> None:
        self.cost.epochs += 1
        if self.model is None or epoch >= epochs or epoch % int(self.options["refresh"]):
            return
        with self.cost.timing("extra"):
            self.refresh(self.model)

    # -- models trained to an optimum ------------------------------------------------------
    def fit_rounds(
        self,
        model: XMTCModel,
        new_model: Callable[[], XMTCModel],
        fit: Callable[[XMTCModel, Sequence[Words], sp.csr_matrix], None],
    ) -> XMTCModel:
        """Train ``model`` plainly, then ``rounds`` times: attack the last model, retrain a
        fresh one from ``new_model()`` on the training set plus the pool. ``fit(model, docs,
        Y)`` trains one model."""
        cost = self.cost
        with cost.timing("plain"):
            fit(model, self.docs, self.Y)
        cost.clean_forward += len(self.docs)
        cost.clean_backward += len(self.docs)
        for _ in range(int(self.options["rounds"])):
            with cost.timing("extra"):
                self.refresh(model)
                rows = sorted(self.pool)
                docs = list(self.docs) + [self.pool[r].words for r in rows]
                Y = sp.vstack([self.Y, self.Y[rows]]).tocsr()
                model = new_model()
                fit(model, docs, Y)
            cost.extra_forward += len(docs)
            cost.extra_backward += len(docs)
            cost.rounds += 1
        return model
