"""Paired comparison: pair counts from an SQL self-join, McNemar p-values and Wilson
intervals from independent implementations, and the refusal when runs share no pairs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from scipy import stats

from harness.errors import ConfigError, HarnessError
from harness.report.compare_runs import compare_runs
from harness.store.session import open_store
from tests.helpers.cli import cli_output, run_main
from tests.helpers.report_db import build_report_db

ATTEMPTED = "NOT IN ('skipped-not-attackable', 'error')"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cmp") / "results.db"
    build_report_db(path).dispose()
    return path


def paired_sql(db: Path, a: int, b: int) -> dict[object, tuple[int, int, int, int, int]]:
    """(pairs, successes A, successes B, only A, only B) per bin of A and overall."""
    q = f"""SELECT {{key}}, COUNT(*),
        SUM(a.outcome = 'success'), SUM(b.outcome = 'success'),
        SUM(a.outcome = 'success' AND b.outcome != 'success'),
        SUM(a.outcome != 'success' AND b.outcome = 'success')
      FROM trials a JOIN trials b
        ON a.sample_id = b.sample_id AND a.target_labels = b.target_labels
      WHERE a.run_id = ? AND b.run_id = ? AND a.outcome {ATTEMPTED} AND b.outcome {ATTEMPTED}
      {{group}}"""
    con = sqlite3.connect(db)
    out: dict[object, tuple[int, int, int, int, int]] = {}
    for row in con.execute(q.format(key="a.bin_index", group="GROUP BY a.bin_index"), (a, b)):
        out[row[0]] = tuple(row[1:])
    out["all"] = tuple(con.execute(q.format(key="'all'", group=""), (a, b)).fetchone()[1:])
    con.close()
    return out


def exact_mcnemar(b: int, c: int) -> float:
    """Textbook form: twice the smaller binomial tail, capped at 1."""
    if b + c == 0:
        return 1.0
    return min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5))


@pytest.mark.parametrize(("a", "b"), [(1, 2), (2, 1), (1, 4)])
def test_pairs_and_pvalues_equal_independent_computation(db: Path, a: int, b: int) -> None:
    doc = json.loads(cli_output(db, "compare", str(a), str(b), "--format", "json"))
    expected = paired_sql(db, a, b)
    assert {r["bin"] for r in doc["rows"]} == set(expected)
    try:
        from statsmodels.stats.contingency_tables import mcnemar
    except ImportError:
        mcnemar = None
    discordant = 0
    for rec in doc["rows"]:
        n, sa, sb, only_a, only_b = expected[rec["bin"]]
        assert (rec["n_pairs"], rec["successes_a"], rec["successes_b"]) == (n, sa, sb)
        assert (rec["only_a"], rec["only_b"]) == (only_a, only_b)
        assert rec["difference_b_minus_a"] == pytest.approx(sb / n - sa / n)
        assert rec["mcnemar_exact_p"] == pytest.approx(exact_mcnemar(only_a, only_b), rel=1e-9)
        if mcnemar is not None:
            table = [[sa - only_a, only_a], [only_b, n - sa - only_b]]
            ref = mcnemar(table, exact=True).pvalue
            assert rec["mcnemar_exact_p"] == pytest.approx(ref, rel=1e-9)
        for k, lo, hi in ((sa, "ci_low_a", "ci_high_a"), (sb, "ci_low_b", "ci_high_b")):
            ci = stats.binomtest(k, n).proportion_ci(method="wilson")
            assert (rec[lo], rec[hi]) == pytest.approx((ci.low, ci.high), abs=1e-9)
        discordant += only_a + only_b
    assert discordant > 0  # the data really has disagreements to test


def test_overall_difference_is_significant_and_text_names_runs(db: Path) -> None:
    out = cli_output(db, "compare", "1", "2")
    assert "A = run 1 (reuters21578/attentionxml/bce/none, positive)" in out
    assert "B = run 2 (reuters21578/attentionxml/bce/pw, positive)" in out
    assert "McNemar exact p" in out and "B − A (points)" in out
    all_row = next(line.split() for line in out.splitlines() if line.startswith("all"))
    n, sa, sb, only_a, only_b = paired_sql(db, 1, 2)["all"]
    assert all_row[1] == str(n)
    assert f"{100 * (sb - sa) / n:+.1f}" in all_row


def test_partial_overlap_is_reported(db: Path) -> None:
    store = open_store(str(db), create=False)
    cmp = compare_runs(store, 1, 4)
    store.dispose()
    con = sqlite3.connect(db)
    (n1,) = con.execute("SELECT COUNT(*) FROM trials WHERE run_id = 1").fetchone()
    (n4,) = con.execute("SELECT COUNT(*) FROM trials WHERE run_id = 4").fetchone()
    assert cmp.n_shared == n4 and cmp.n_only_a == n1 - n4 and cmp.n_only_b == 0


def test_runs_without_shared_pairs_are_refused(db: Path, capsys: pytest.CaptureFixture) -> None:
    store = open_store(str(db), create=False)
    with pytest.raises(HarnessError, match="no \\(sample, target\\) pair in common"):
        compare_runs(store, 1, 3)
    with pytest.raises(ConfigError):
        compare_runs(store, 2, 2)
    with pytest.raises(HarnessError, match="no run with id 77"):
        compare_runs(store, 1, 77)
    store.dispose()
    code, _, err = run_main(["--db", str(db), "compare", "1", "3"], capsys)
    assert code == 2
    assert err.startswith("error: runs 1 and 3 attacked no") and err.count("\n") == 1


def test_compare_plot(db: Path, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    png = tmp_path / "cmp.png"
    cli_output(db, "compare", "1", "2", "--plot", str(png), "--out", str(tmp_path / "cmp.md"),
            "--format", "markdown")  # fmt: skip
    assert mpimg.imread(png).shape[1] > 500
    md = (tmp_path / "cmp.md").read_text()
    assert md.startswith("**Paired comparison: run 1 (A) vs run 2 (B)**") and "|:" in md
