"""bench/textattack.py runs end to end on a tiny synthetic configuration (quick mode).

TextAttack is a benchmark-only dependency with its own install steps (bench/README.md,
"Side by side with TextAttack"); the test is skipped, with that reason, where it is not
installed. No timing assertions: only that all three modes ran every trial of both models,
that the TextAttack modes differ only in batch size or encoder (identical outcomes), and
that every figure the README table shows is there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.helpers.bench import run_quick

MODES = ("harness", "textattack", "textattack-tuned", "textattack-incremental")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("textattack") is None,
    reason="TextAttack is not installed in this environment (benchmark-only dependency; "
    "install steps in bench/README.md, 'Side by side with TextAttack')",
)


def test_quick_run_writes_json(tmp_path: Path) -> None:
    res = run_quick("textattack.py", tmp_path, "--ablation", timeout=1200)
    assert res["textattack_version"] == "0.3.11"
    assert [r["model"] for r in res["compare"]] == ["linear", "attentionxml"]
    for r in res["compare"]:
        assert r["trials"] >= 1
        assert r["text_roundtrip_differs"] == 0
        assert r["tuned_batch"] in {x["batch_size"] for x in r["batch_sweep"]}
        for name in MODES:
            s = r["modes"][name]
            assert s["trials"] == r["trials"]
            assert s["errors"] == [], s["errors"]
            assert s["threads"] >= 1
            for key in (
                "trials_per_s",
                "forward_passes_per_trial",
                "logical_queries_per_trial",
                "share_model",
                "share_encoder",
                "share_overhead",
                "peak_rss_mb",
            ):
                assert key in s, key
            assert 0.0 <= r["success_rate"][name] <= 1.0
        ta = r["modes"]["textattack"]
        assert ta["batch_size"] == 32  # TextAttack's default model batch size
        assert r["modes"]["textattack-tuned"]["batch_size"] == r["tuned_batch"]
        # TextAttack caches by text: never more forward passes than queries
        assert ta["forward_passes_per_trial"] <= ta["logical_queries_per_trial"]
        # the batch size and the encoder's implementation change the cost, never the attack
        assert r["textattack_modes_identical"]
        agreement = r["agreement"]["textattack"]
        assert len(agreement["trials"]) == r["trials"]
        assert 0.0 <= agreement["same_outcome"] <= 1.0
        assert r["speedup_vs_textattack"] > 0
    assert "speedup_3x_all_models" in res["targets"]
