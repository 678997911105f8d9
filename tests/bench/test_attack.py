"""bench/attack.py runs end to end on a tiny synthetic configuration and writes its JSON.

No timing assertions (speed is measured by the benchmark itself, not by tests); only that
the script runs both modes, checks their outcomes against each other and reports every
part it promises.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.bench import run_quick


def test_quick_run_writes_json(tmp_path: Path) -> None:
    res = run_quick("attack.py", tmp_path)
    (cmp,) = res["compare"]
    assert cmp["model"] == "linear"
    assert cmp["trials"] >= 1
    for mode in ("harness", "one_at_a_time"):
        s = cmp[mode]
        assert s["trials"] == cmp["trials"]
        for key in (
            "trials_per_s",
            "forward_passes_per_trial",
            "logical_queries_per_trial",
            "share_model",
            "share_encoder",
            "share_substituter",
            "share_overhead",
            "peak_rss_mb",
        ):
            assert key in s, key
        assert s["errors"] == []
    # the reference loop sends one text per forward pass and never caches
    base = cmp["one_at_a_time"]
    assert base["forward_passes_per_trial"] == base["logical_queries_per_trial"]
    assert base["batches_per_trial"] == base["forward_passes_per_trial"]
    assert cmp["identical"], cmp["mismatches"]
    # issue 19: every mode at every thread count, the load around it, the model's floor
    assert {(r["mode"], r["threads"]) for r in cmp["runs"]} == {
        ("harness", 1),
        ("one-at-a-time", 1),
    }
    assert len(cmp["load_before"]) == 3 and len(cmp["load_after"]) == 3
    assert cmp["floor"]["best"]["ms_per_doc"] > 0 and cmp["floor_ratio"] > 0
    assert cmp["reuse"]["reused"] > 0  # the harness's model reused kept scores
    assert {r["importance"] for r in res["scaling"]["rows"]} == {"mask", "gradient"}
    assert len(res["memory"]["blocks"]) >= 2
    assert "speedup_10x_all_models" in res["targets"]


def test_quick_tree_run_reports_trials_and_query_costs(tmp_path: Path) -> None:
    """The label-tree rows: harness mode only (no baseline), and the query-cost table with
    the sparse path (the tree's beam) agreeing with its exact dense top-5 on most texts."""
    readme = tmp_path / "README.md"
    readme.write_text("# B\n\n## Attack throughput\n\nkept\n")
    opts = ["tree=on", "epochs=2", "hidden=8", "fc_size=8", "max_words=30"]
    res = run_quick(
        "attack.py",
        tmp_path,
        "--models",
        "attentionxml",
        *[f"--model-opt=attentionxml:{o}" for o in opts],
        "--sections",
        "compare,queries",
        "--no-baseline",
        "--readme",
        str(readme),
        "--section-title",
        "## Attack throughput: label tree",
    )
    (cmp,) = res["compare"]
    assert "one_at_a_time" not in cmp and cmp["harness"]["errors"] == []
    (q,) = res["queries"]
    assert q["tree_levels"][-1] == 100 and q["sparse_texts_per_s"] > 0
    assert q["dense_texts_per_s"] > 0 and q["topk_agreement"] is not None
    assert res["targets"]["seconds_per_trial"]["attentionxml"] > 0
    text = readme.read_text()
    assert "kept" in text and "## Attack throughput: label tree" in text


def test_quick_guards_section_times_every_contract_check(tmp_path: Path) -> None:
    """The contract checks' cost (issue 13): every check the attack makes is timed, with
    calls per trial and its share of the trials' wall time."""
    res = run_quick("attack.py", tmp_path, "--sections", "guards")
    (g,) = res["guards"]
    assert g["model"] == "linear" and g["trials"] >= 1 and g["errors"] == []
    # a trial asks the model, the importance scorer, the substituter and the constraints
    assert {"topk_problem", "checked_scores", "checked_candidates", "checked_verdicts"} <= set(
        g["per_check"]
    )
    assert g["check_calls_per_trial"] > 0 and 0 < g["share_checks"] < 1
    assert "checks_le_1pct_all_models" in res["targets"]
