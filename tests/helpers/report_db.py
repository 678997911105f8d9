"""A realistic results database for the reporting tests, written through the ORM.

Four runs on one real SQLite file: two positive-targeted runs (plain BCE and PW-weighted BCE)
that attacked the same (sample, target) pairs, a clustered negative-targeted run on other
pairs, and a second model still running. Outcomes are mixed (every outcome of the closed
set occurs), success falls from tail to head bins, texts and changed words agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.store.schema import Run, Trial
from harness.store.session import Store, open_store

BINS = [
    {"index": 0, "freq_low": 1, "freq_high": 2, "n_labels": 12},
    {"index": 1, "freq_low": 3, "freq_high": 8, "n_labels": 12},
    {"index": 2, "freq_low": 9, "freq_high": 40, "n_labels": 12},
    {"index": 3, "freq_low": 41, "freq_high": 900, "n_labels": 12},
]
LABEL_NAMES = [f"topic-{i:02d}" for i in range(48)]
VOCAB = (
    "oil price market trade bank shares profit rate growth export crude barrel company"
    " quarter dividend loss tonnes wheat coffee sugar gold dollar yen bond stock index"
    " earnings revenue output demand supply tariff currency interest inflation budget"
    " deficit merger acquisition offer stake board analysts forecast production"
).split()
SYNONYMS = "petroleum cost exchange commerce lender stock gain pace expansion shipment".split()


def _label_freq(bin_index: int, rng: np.random.Generator) -> int:
    b = BINS[bin_index]
    return int(rng.integers(b["freq_low"], b["freq_high"] + 1))


def _trial(
    rng: np.random.Generator,
    run_id: int,
    index: int,
    sample: str,
    label: int,
    bin_index: int,
    attack: str,
    outcome: str,
) -> Trial:
    n_words = int(rng.integers(40, 160))
    words = [str(rng.choice(VOCAB)) for _ in range(n_words)]
    words[5] = "."
    original = " ".join(words)
    budget = max(1, int(0.1 * n_words))
    if outcome == "success":
        n_changed = int(rng.integers(1, min(4, budget) + 1))
    elif outcome in ("budget-exhausted", "goal-met-constraint-failed"):
        n_changed = budget
    elif outcome == "words-exhausted":
        n_changed = int(rng.integers(0, budget + 1))
    else:
        n_changed = 0
    positions = sorted(
        int(p) for p in rng.choice([i for i in range(n_words) if i != 5], n_changed, replace=False)
    )
    adv = list(words)
    changed = []
    for p in positions:
        new = str(rng.choice(SYNONYMS))
        changed.append([p, words[p], new])
        adv[p] = new
    attacked = outcome not in ("skipped-not-attackable", "error")
    similarity = None
    if attacked:
        similarity = float(
            rng.uniform(0.82, 0.995) if outcome == "success" else rng.uniform(0.6, 1)
        )
    rank_before = int(rng.integers(1, 6)) if attack == "positive" else int(rng.integers(6, 40))
    if outcome == "success":
        rank_after = int(rng.integers(6, 30)) if attack == "positive" else int(rng.integers(1, 6))
    else:
        rank_after = rank_before if attacked else None
    others = [i for i in range(len(LABEL_NAMES)) if i != label]
    topk_before = [int(x) for x in rng.choice(others, 5, replace=False)]
    topk_after = [int(x) for x in rng.choice(len(LABEL_NAMES), 5, replace=False)]
    if attack == "positive":
        topk_before[rank_before - 1] = label
    return Trial(
        run_id=run_id,
        trial_index=index,
        sample_id=sample,
        target_labels=[label],
        target_names=[LABEL_NAMES[label]],
        label_freq=_label_freq(bin_index, rng),
        bin_index=bin_index,
        attack=attack,
        outcome=outcome,
        similarity=similarity,
        change_rate=n_changed / n_words if attacked else None,
        n_words=n_words,
        n_changed=n_changed,
        changed_words=changed,
        logical_queries=int(rng.integers(n_words, 8 * n_words)) if attacked else 0,
        forward_passes=int(rng.integers(2, 40)) if attacked else 0,
        rank_before=rank_before,
        rank_after=rank_after,
        topk_before=topk_before,
        topk_after=topk_after,
        original_text=original,
        adversarial_text=" ".join(adv) if attacked else None,
        wall_seconds=float(rng.uniform(0.05, 2.0)),
        error_message="CUDA out of memory" if outcome == "error" else None,
    )


FAILURES = ("budget-exhausted", "words-exhausted", "goal-met-constraint-failed")


def _outcome(rng: np.random.Generator, p_success: float, u: float) -> str:
    r = rng.random()
    if r < 0.04:
        return "skipped-not-attackable"
    if r < 0.07:
        return "error"
    return "success" if u < p_success else str(rng.choice(FAILURES))


def _run(**kw: object) -> Run:
    base = dict(
        config_hash="0" * 64,
        seed=0,
        status="finished",
        dataset="reuters21578",
        k=5,
        harness_version="0.1.0",
        bins=BINS,
        package_versions={"torch": "2.3"},
    )
    base.update(kw)
    base["config"] = {
        "dataset": base["dataset"],
        "model": base["model"],
        "label_names": LABEL_NAMES,
    }
    return Run(**base)  # type: ignore[arg-type]


def build_report_db(path: Path | str, per_bin: int = 30) -> Store:
    """Write the four runs described in the module docstring into the results database at
    ``path`` (a SQLite file, or a database URL) and return the open store."""
    store = open_store(str(path))
    rng = np.random.default_rng(1234)
    pairs = [
        (f"test-{b}-{j:03d}", int(rng.integers(12 * b, 12 * b + 12)), b)
        for b in range(4)
        for j in range(per_bin)
    ]
    p_plain = [0.9, 0.75, 0.6, 0.4]
    p_pw = [0.6, 0.55, 0.5, 0.38]

    def write(s):  # type: ignore[no-untyped-def]
        plain = _run(model="attentionxml", loss="bce", weighting="none", attack="positive")
        pw = _run(model="attentionxml", loss="bce", weighting="pw", attack="positive")
        neg = _run(
            model="attentionxml", loss="bce", weighting="none", attack="negative", cluster=True
        )
        lin = _run(
            model="linear", loss="bce", weighting="none", attack="positive", status="running"
        )
        s.add_all([plain, pw, neg, lin])
        s.flush()
        for i, (sample, label, b) in enumerate(pairs):
            u = rng.random()  # shared: the two losses' outcomes are correlated, as in practice
            u_pw = 0.7 * u + 0.3 * rng.random()
            s.add(
                _trial(rng, plain.id, i, sample, label, b, "positive", _outcome(rng, p_plain[b], u))
            )
            s.add(_trial(rng, pw.id, i, sample, label, b, "positive", _outcome(rng, p_pw[b], u_pw)))
            if i % 2 == 0:
                o = _outcome(rng, 0.12 + 0.05 * b, rng.random())
                s.add(_trial(rng, neg.id, i // 2, f"neg-{i}", (label + 7) % 48, b, "negative", o))
            if i % 3 == 0:
                o = _outcome(rng, p_plain[b] - 0.1, rng.random())
                s.add(_trial(rng, lin.id, i // 3, sample, label, b, "positive", o))
        return plain.id, pw.id, neg.id, lin.id

    store.write(write)
    return store
