"""Leaderboard numbers against direct SQL on the same database, and intervals against
independent implementations (scipy's binomtest, statsmodels where installed)."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.errors import ConfigError, HarnessError
from harness.report.leaderboard import (
    build_leaderboard,
    render_leaderboard,
    render_run_summary,
    weighting_texts,
)
from harness.store.queries import RunFilter
from harness.store.schema import Trial
from harness.store.session import open_store
from tests.helpers.cli import cli_output, invoke
from tests.helpers.report_db import build_report_db

EXCLUDED = "('skipped-not-attackable', 'error')"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lb") / "results.db"
    build_report_db(path).dispose()
    return path


def sql_counts(db: Path, run_ids: list[int]) -> dict[object, tuple[int, int, int, int]]:
    """(successes, attempted, errors, skipped) per bin and for 'all', straight from SQL."""
    con = sqlite3.connect(db)
    marks = ",".join("?" * len(run_ids))
    q = f"""SELECT {{key}},
        SUM(outcome = 'success'),
        SUM(outcome NOT IN {EXCLUDED}),
        SUM(outcome = 'error'),
        SUM(outcome = 'skipped-not-attackable')
        FROM trials WHERE run_id IN ({marks}) {{group}}"""
    out: dict[object, tuple[int, int, int, int]] = {}
    for row in con.execute(q.format(key="bin_index", group="GROUP BY bin_index"), run_ids):
        out[row[0]] = tuple(row[1:])
    out["all"] = tuple(con.execute(q.format(key="'all'", group=""), run_ids).fetchone()[1:])
    con.close()
    return out


def test_counts_and_rates_equal_direct_sql(db: Path) -> None:
    doc = json.loads(cli_output(db, "leaderboard", "--format", "json"))
    assert doc["similarity_scale"] == "cosine"
    assert any("excluded from the denominator" in n for n in doc["notes"])
    groups: dict[str, list[dict]] = {}
    for rec in doc["rows"]:
        groups.setdefault(rec["runs"], []).append(rec)
    assert sorted(groups) == ["1", "2", "3", "4"]
    checked = 0
    for runs, recs in groups.items():
        expected = sql_counts(db, [int(r) for r in runs.split(",")])
        assert {r["bin"] for r in recs} == set(expected)
        for rec in recs:
            k, n, err, skip = expected[rec["bin"]]
            assert (rec["successes"], rec["n_attempted"]) == (k, n)
            assert (rec["n_errors"], rec["n_skipped"]) == (err, skip)
            assert rec["n_trials"] == n + err + skip
            assert rec["success_rate"] == pytest.approx(k / n)
            checked += 1
    assert checked == 4 * 5


def test_wilson_intervals_equal_independent_implementations(db: Path) -> None:
    doc = json.loads(cli_output(db, "leaderboard", "--format", "json"))
    try:
        from statsmodels.stats.proportion import proportion_confint
    except ImportError:  # the scipy check below still runs
        proportion_confint = None
    for rec in doc["rows"]:
        k, n = rec["successes"], rec["n_attempted"]
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert rec["ci_low"] == pytest.approx(ci.low, abs=1e-9)
        assert rec["ci_high"] == pytest.approx(ci.high, abs=1e-9)
        if proportion_confint is not None:
            lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
            assert (rec["ci_low"], rec["ci_high"]) == pytest.approx((lo, hi), abs=1e-9)


def test_similarity_change_rate_and_costs_equal_sql(db: Path) -> None:
    con = sqlite3.connect(db)
    for scale in ("cosine", "angular"):
        out = cli_output(db, "leaderboard", "--run", "1", "--format", "json", "--scale", scale)
        doc = json.loads(out)
        assert doc["similarity_scale"] == scale
        for rec in doc["rows"]:
            where = "run_id = 1" + ("" if rec["bin"] == "all" else f" AND bin_index = {rec['bin']}")
            sims = [
                s
                for (s,) in con.execute(
                    f"SELECT similarity FROM trials WHERE {where} AND outcome = 'success'"
                )
            ]
            expect = (
                np.mean(sims)
                if scale == "cosine"
                else np.mean([1 - math.acos(s) / math.pi for s in sims])
            )
            assert rec[f"similarity_{scale}_mean"] == pytest.approx(expect)
            (
                mean_cr,
                pooled,
            ) = con.execute(
                f"SELECT AVG(change_rate), SUM(n_changed) * 1.0 / SUM(n_words) FROM trials"
                f" WHERE {where} AND outcome = 'success'"
            ).fetchone()
            assert rec["change_rate_mean_per_trial"] == pytest.approx(mean_cr)
            assert rec["change_rate_pooled"] == pytest.approx(pooled)
            q, f, sec = con.execute(
                f"SELECT AVG(logical_queries), AVG(forward_passes), AVG(wall_seconds) FROM trials"
                f" WHERE {where} AND outcome NOT IN {EXCLUDED}"
            ).fetchone()
            assert rec["queries_per_trial"] == pytest.approx(q)
            assert rec["forward_passes_per_trial"] == pytest.approx(f)
            assert rec["seconds_per_trial"] == pytest.approx(sec)
    con.close()


def test_text_table_shows_rounded_sql_rates_ranges_and_scale(db: Path) -> None:
    out = cli_output(
        db, "leaderboard", "--attack", "positive", "--no-cluster", "--scale", "angular"
    )
    assert "similarity on the angular scale" in out
    assert "bin 0: freq 1–2" in out and "bin 3: freq 41–900" in out
    assert "excluded from the denominator" in out
    header = out.splitlines()[1]
    assert "attack" not in header.split()  # every selected run is positive: no attack column
    expected = sql_counts(db, [2])
    row = next(
        line for line in out.splitlines() if line.split()[:4] == ["attentionxml", "bce", "pw", "2"]
    )
    for b in range(4):
        k, n, _, _ = expected[b]
        lo, hi = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert f"{100 * k / n:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" in row


def test_mixed_selection_shows_attack_and_cluster_columns(db: Path) -> None:
    headers = cli_output(db, "leaderboard").splitlines()[1].split()
    assert headers[:6] == ["model", "loss", "weighting", "attack", "cluster", "runs"]
    assert "dataset" not in headers


def test_summary_has_the_table3_shape(db: Path) -> None:
    out = cli_output(db, "leaderboard", "--summary", "--format", "csv", "--model", "attentionxml")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["runs"] for r in rows] == ["3", "1", "2"]  # sorted: negative before positive
    assert {r["bin"] for r in rows} == {"all"}
    k, n, _, _ = sql_counts(db, [1])["all"]
    row1 = next(r for r in rows if r["runs"] == "1")
    assert float(row1["success_rate"]) == pytest.approx(k / n)
    md = cli_output(db, "leaderboard", "--summary", "--format", "markdown")
    assert "| model" in md and "change % (pooled)" in md and "95% Wilson CI" in md


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [("latex", "\\begin{tabular}"), ("github", "|"), ("html", "<table>"), ("grid", "+====")],
)
def test_tabulate_formats(db: Path, fmt: str, marker: str) -> None:
    assert marker in cli_output(db, "leaderboard", "--run", "1", "--format", fmt)


@pytest.mark.parametrize("metric", ["similarity", "change-rate-pooled", "queries", "counts"])
def test_metric_choice_changes_bin_cells(db: Path, metric: str) -> None:
    lb = build_leaderboard(open_store(str(db), create=False), RunFilter(run_ids=(1,)))
    out = render_leaderboard(lb, metric=metric)
    c = lb.rows[0].bins[0]
    expected = {
        "similarity": f"{c.similarity:.3f}",
        "change-rate-pooled": f"{100 * c.change_rate_pooled:.2f}",
        "queries": f"{c.queries_per_trial:.1f}",
        "counts": f"{c.successes}/{c.n} ({c.n_errors} err, {c.n_skipped} skip)",
    }[metric]
    assert expected in out


TWIN_COLUMNS = (
    "config_hash",
    "config",
    "dataset",
    "model",
    "loss",
    "weighting",
    "attack",
    "cluster",
    "k",
    "harness_version",
    "bins",
)


def add_twin(s, outcomes: list[str], **changes: object):  # type: ignore[no-untyped-def]
    """A finished copy of run 1 with ``changes`` (another seed, k, bins, trained model...)
    and one bin-0 trial per outcome; returns the new run."""
    from harness.store.schema import Run

    first = s.get(Run, 1)
    twin = Run(**{**{c: getattr(first, c) for c in TWIN_COLUMNS}, "status": "finished", **changes})
    s.add(twin)
    s.flush()
    for i, outcome in enumerate(outcomes):
        s.add(Trial(run_id=twin.id, trial_index=i, sample_id=f"x{i}", target_labels=[1],
                    target_names=["topic-01"], label_freq=2, bin_index=0, attack="positive",
                    outcome=outcome, n_words=50, n_changed=1, similarity=0.9,
                    change_rate=0.02))  # fmt: skip
    return twin


def test_runs_of_one_group_are_pooled(tmp_path: Path) -> None:
    store = build_report_db(tmp_path / "r.db", per_bin=6)

    def add_seed(s) -> None:  # type: ignore[no-untyped-def]
        add_twin(s, ["success", "success", "budget-exhausted", "error"], seed=1)

    store.write(add_seed)
    lb = build_leaderboard(store, RunFilter(weightings=("none",), models=("attentionxml",)))
    pooled = next(r for r in lb.rows if r.key["attack"] == "positive")
    assert pooled.run_ids == [1, 5]
    k, n, err, _ = sql_counts(tmp_path / "r.db", [1, 5])[0]
    assert (pooled.bins[0].successes, pooled.bins[0].n, pooled.bins[0].n_errors) == (k, n, err)
    assert "1,5" in render_leaderboard(lb)
    store.dispose()


def test_runs_of_different_trained_models_are_separate_rows(tmp_path: Path) -> None:
    """Same model plugin, loss and weighting, but trained differently (here: two recorded
    models): one row each, told apart by a 'trained model' column; runs of one trained
    model still pool."""
    from harness.store.schema import Run, TrainedModel

    store = build_report_db(tmp_path / "r.db", per_bin=6)

    def add_models(s) -> None:  # type: ignore[no-untyped-def]
        first = s.get(Run, 1)
        ids = []
        for name in ("plain", "deferred"):
            tm = TrainedModel(spec_hash=name, dataset=first.dataset, dataset_fingerprint="f",
                              model=first.model, loss=first.loss, weighting=first.weighting,
                              seed=0, checkpoint_path="/nowhere", checkpoint_hash="0")  # fmt: skip
            s.add(tm)
            s.flush()
            ids.append(tm.id)
        first.trained_model_id = ids[0]
        for tm_id, seed in ((ids[1], 1), (ids[0], 2)):
            add_twin(s, ["success"], seed=seed, trained_model_id=tm_id)

    store.write(add_models)
    flt = RunFilter(weightings=("none",), models=("attentionxml",), attacks=("positive",))
    lb = build_leaderboard(store, flt)
    assert "trained_model_id" in lb.shown_fields
    assert [(r.key["trained_model_id"], r.run_ids) for r in lb.rows] == [(1, [1, 6]), (2, [5])]
    text = render_leaderboard(lb)
    assert "trained model" in text and "1,6" in text
    assert [r.label(lb.shown_fields) for r in lb.rows][0].startswith("attentionxml / model 1")
    store.dispose()


def test_runs_binned_differently_are_separate_rows(tmp_path: Path) -> None:
    """Bin 0 of a campaign binned at 20 labels a bin is not bin 0 of one binned at 100: the
    two runs of one trained model are separate rows (a 'bins' column tells them apart), and
    their cells are each run's own SQL counts, never a sum across binnings."""

    store = build_report_db(tmp_path / "r.db", per_bin=6)

    def add_coarser(s) -> None:  # type: ignore[no-untyped-def]
        coarse = [{"index": 0, "freq_low": 1, "freq_high": 9999}]
        add_twin(s, ["success", "budget-exhausted", "budget-exhausted"], bins=coarse, seed=1)

    store.write(add_coarser)
    flt = RunFilter(weightings=("none",), models=("attentionxml",), attacks=("positive",))
    lb = build_leaderboard(store, flt)
    assert "bins" in lb.shown_fields
    rows = {tuple(r.run_ids): r for r in lb.rows}
    assert set(rows) == {(1,), (5,)}
    for run_id, row in ((1, rows[(1,)]), (5, rows[(5,)])):
        k, n, _, _ = sql_counts(tmp_path / "r.db", [run_id])[0]
        assert (row.bins[0].successes, row.bins[0].n) == (k, n)
    assert str(rows[(5,)].key["bins"]) == "1 bin, freq 1–9999"
    assert rows[(5,)].bin_ranges == {0: (1, 9999)}
    text = render_leaderboard(lb)
    assert "1 bin, freq 1–9999" in text and "4 bins, freq 1–900" in text
    assert "bin 0 (ranges differ)" in text
    doc = json.loads(render_leaderboard(lb, fmt="json"))
    assert {r["bins"] for r in doc["rows"]} == {"1 bin, freq 1–9999", "4 bins, freq 1–900"}
    store.dispose()


def test_runs_of_another_k_are_separate_rows(tmp_path: Path) -> None:
    """Out of the top 3 is another goal than out of the top 5: no pooling across k."""

    store = build_report_db(tmp_path / "r.db", per_bin=6)

    def add_top3(s) -> None:  # type: ignore[no-untyped-def]
        add_twin(s, ["success"], k=3, seed=1)

    store.write(add_top3)
    flt = RunFilter(weightings=("none",), models=("attentionxml",), attacks=("positive",))
    lb = build_leaderboard(store, flt)
    assert "k" in lb.shown_fields and "bins" not in lb.shown_fields
    assert sorted((r.key["k"], tuple(r.run_ids)) for r in lb.rows) == [(3, (5,)), (5, (1,))]
    assert any(r.label(lb.shown_fields).endswith("k=3") for r in lb.rows)
    store.dispose()


def test_run_summary_for_eval(db: Path) -> None:
    store = open_store(str(db), create=False)
    text = render_run_summary(store, 2, scale="angular")
    store.dispose()
    assert text.startswith("Run 2: reuters21578 / attentionxml / bce / pw, positive attack")
    assert "angular" in text.splitlines()[0]
    expected = sql_counts(db, [2])
    lines = text.splitlines()
    for key in (0, 1, 2, 3, "all"):
        k, n, err, skip = expected[key]
        row = next(line.split() for line in lines if line.split()[:1] == [str(key)])
        assert str(n) in row and row[-2:] == [str(err), str(skip)]
        assert f"{100 * k / n:.1f}" in row


def test_selection_errors(db: Path) -> None:
    store = open_store(str(db), create=False)
    with pytest.raises(HarnessError, match="no run matches"):
        build_leaderboard(store, RunFilter(models=("nonexistent",)))
    with pytest.raises(HarnessError, match="run 99 does not exist"):
        build_leaderboard(store, RunFilter(run_ids=(1, 99)))
    with pytest.raises(HarnessError, match="no run with id 42"):
        render_run_summary(store, 42)
    lb = build_leaderboard(store, RunFilter(run_ids=(1,)))
    with pytest.raises(ConfigError):
        render_leaderboard(lb, fmt="nope")
    store.dispose()


def test_run_without_trials_is_refused(tmp_path: Path) -> None:
    from harness.store.schema import Run

    store = open_store(str(tmp_path / "e.db"))
    store.write(lambda s: s.add(Run(config_hash="x", config={}, seed=0, dataset="d", model="m",
                                    loss="bce", weighting="none", attack="positive", k=5,
                                    harness_version="0")))  # fmt: skip
    with pytest.raises(HarnessError, match="no trials yet"):
        build_leaderboard(store, RunFilter())
    store.dispose()


def test_plot_files(db: Path, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    png, svg = tmp_path / "lb.png", tmp_path / "lb.svg"
    cli_output(db, "leaderboard", "--plot", str(png))
    img = mpimg.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 500
    assert img[..., :3].std() > 0.05  # not a blank canvas
    cli_output(db, "leaderboard", "--run", "1", "--plot", str(svg))
    text = svg.read_text()
    assert "<svg" in text and "attack success rate" in text and "label frequency" in text
    res = invoke("leaderboard", "--plot", tmp_path / "x.pdf", db=db, expect=None)
    assert res.exit_code != 0 and "png or .svg" in str(res.exception)


def test_weighting_texts_tell_apart_trainings_that_differ_only_in_a_loss_option() -> None:
    """Two PW-cb models, one deferred, must not share a legend entry; options every row of a
    loss and weighting shares, and rows of other weightings, stay as they were."""
    plain = {"weighting": "none", "beta": 0.9, "defer": 0.0}
    start = {"weighting": "pw-cb", "beta": 0.9, "defer": 0.0}
    deferred = {"weighting": "pw-cb", "beta": 0.9, "defer": 0.66}
    rows = [("bce", "none", plain), ("bce", "pw-cb", start), ("bce", "pw-cb", deferred)]
    assert weighting_texts(rows) == ["none", "pw-cb defer=0.0", "pw-cb defer=0.66"]
    assert weighting_texts([("bce", "pw-cb", start), ("bce", "pw-cb", {})]) == [
        "pw-cb beta=0.9 defer=0.0",
        "pw-cb beta=None defer=None",
    ]
    assert weighting_texts([("bce", "none", plain), ("focal", "none", {})]) == ["none", "none"]
