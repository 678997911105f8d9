"""Metrics against a loop-based reference written straight from docs/method.md ("Metrics")
and pyxclib."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from harness.labelstats import propensities
from harness.metrics import MetricAccumulator, evaluate
from harness.ranking import top_k


def reference(scores: np.ndarray, y: np.ndarray, p: np.ndarray, k: int) -> dict[str, float]:
    """One document at a time: sort by (-score, label index), then sum the definitions."""
    n, n_labels = scores.shape
    prec = ndcg = psp_num = psp_den = psn_num = psn_den = 0.0
    for i in range(n):
        ranked = sorted(range(n_labels), key=lambda j: (-scores[i, j], j))[:k]
        true = [j for j in range(n_labels) if y[i, j]]
        ideal = sorted((1.0 / p[j] for j in true), reverse=True)[:k]
        hits = [1.0 if y[i, j] else 0.0 for j in ranked]
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(true))))
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        psdcg = sum(
            h / p[j] / math.log2(r + 2) for r, (h, j) in enumerate(zip(hits, ranked, strict=True))
        )
        best_psdcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
        prec += sum(hits) / k
        psp_num += sum(h / p[j] for h, j in zip(hits, ranked, strict=True)) / k
        psp_den += sum(ideal) / k
        if true:
            ndcg += dcg / idcg
            psn_num += psdcg / idcg
            psn_den += best_psdcg / idcg
    return {
        f"P@{k}": prec / n,
        f"nDCG@{k}": ndcg / n,
        f"PSP@{k}": psp_num / psp_den,
        f"PSnDCG@{k}": psn_num / psn_den,
    }


def random_case(seed: int, n: int = 40, n_labels: int = 12, ties: bool = True):
    rng = np.random.default_rng(seed)
    # Integer-valued scores on a coarse grid force many ties, including at the k-th place.
    scores = (
        rng.integers(0, 4, size=(n, n_labels)).astype(float)
        if ties
        else rng.normal(size=(n, n_labels))
    )
    n_true = rng.choice([0, 1, 2, 4, 7], size=n)
    y = np.zeros((n, n_labels), dtype=int)
    for i, m in enumerate(n_true):
        y[i, rng.choice(n_labels, size=m, replace=False)] = 1
    counts = rng.integers(0, 50, size=n_labels)
    return scores, y, propensities(counts, n_docs=200)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [True, False])
def test_matches_reference(seed: int, ties: bool) -> None:
    scores, y, p = random_case(seed, ties=ties)
    assert (y.sum(axis=1) == 0).any() and (y.sum(axis=1) < 5).any()
    got = evaluate(scores, sp.csr_matrix(y), p, ks=(1, 2, 3, 5, 8))
    for k in (1, 2, 3, 5, 8):
        for key, want in reference(scores, y, p, k).items():
            assert got[key] == pytest.approx(want, abs=1e-9, rel=1e-9), key


def test_chunking_and_accumulator_agree_with_one_pass() -> None:
    scores, y, p = random_case(11, n=57)
    ycsr = sp.csr_matrix(y)
    whole = evaluate(scores, ycsr, p, chunk_rows=10_000)
    chunked = evaluate(scores, ycsr, p, chunk_rows=4)
    acc = MetricAccumulator(p)
    for start in range(0, 57, 20):
        acc.update(scores[start : start + 20], ycsr[start : start + 20])
    for key in whole:
        assert chunked[key] == pytest.approx(whole[key], abs=1e-12)
        assert acc.result()[key] == pytest.approx(whole[key], abs=1e-12)
    assert set(whole) == {f"{m}@{k}" for m in ("P", "nDCG", "PSP", "PSnDCG") for k in (1, 3, 5)}


def test_weighted_document_terms_equal_evaluating_the_resample() -> None:
    """Counting each document's terms by its multiplicity in a bootstrap resample gives the
    metrics of evaluating the resampled rows themselves (what compare-models relies on)."""
    scores, y, p = random_case(5, n=50)
    ycsr = sp.csr_matrix(y)
    acc = MetricAccumulator(p, ks=(1, 3, 5))
    terms = acc.document_terms(scores, ycsr)
    rows = np.random.default_rng(2).integers(0, 50, size=50)
    counts = np.bincount(rows, minlength=50).astype(float)
    got = acc.result_of({k: counts @ v for k, v in terms.items()}, counts.sum())
    want = evaluate(scores[rows], ycsr[rows], p, ks=(1, 3, 5))
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_memmap_scores(tmp_path) -> None:
    scores, y, p = random_case(3, ties=False)
    mm = np.memmap(tmp_path / "s.f32", dtype=np.float32, mode="w+", shape=scores.shape)
    mm[:] = scores
    got = evaluate(mm, sp.csr_matrix(y), p, chunk_rows=7)
    want = reference(scores.astype(np.float32), y, p, 3)
    assert got["PSnDCG@3"] == pytest.approx(want["PSnDCG@3"], abs=1e-9)


def test_top_k_breaks_ties_by_lower_index() -> None:
    scores = np.array([[1.0, 2.0, 2.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert top_k(scores, 2).tolist() == [[1, 2], [0, 1]]
    assert top_k(scores, 4).tolist() == [[1, 2, 4, 0], [0, 1, 2, 3]]


def test_perfect_ranking_scores_one_and_k_beyond_labels() -> None:
    y = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]]))
    p = np.array([0.2, 0.5, 0.9])
    perfect = np.array([[0.9, 0.0, 0.8], [0.0, 1.0, 0.1]])
    got = evaluate(perfect, y, p, ks=(1, 5))
    assert got["nDCG@1"] == got["nDCG@5"] == got["PSP@1"] == got["PSnDCG@5"] == 1.0
    assert got["P@5"] == pytest.approx(3 / 10)  # k above L: the missing places are misses


def test_no_labels_anywhere_and_bad_input() -> None:
    got = evaluate(np.zeros((2, 3)), sp.csr_matrix((2, 3)), np.full(3, 0.5), ks=(1,))
    assert got["P@1"] == 0.0 and got["nDCG@1"] == 0.0 and math.isnan(got["PSP@1"])
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.full((1, 3), np.nan), sp.csr_matrix((1, 3)), None)
    with pytest.raises(ValueError, match="shape"):
        evaluate(np.zeros((2, 3)), sp.csr_matrix((2, 4)), None)
    assert "PSP@1" not in evaluate(np.zeros((1, 3)), sp.csr_matrix((1, 3)), None)
