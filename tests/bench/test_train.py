"""bench/train.py's AttentionXML step table on a tiny grid, and its README section rewrite.

No timing assertions (the benchmark measures speed; tests only check that it runs both LSTM
variants and reports what it promises).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bench_train():
    spec = importlib.util.spec_from_file_location("bench_train", REPO / "bench" / "train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_train"] = module
    spec.loader.exec_module(module)
    return module


def test_step_costs_time_both_lstms_and_fill_the_table() -> None:
    bench = bench_train()
    rows = bench.step_costs(1, grid=((4, 8, 12),), batch=4, labels=5, vocab=50)
    assert [r["lstm"] for r in rows] == ["BiLSTM", "packed nn.LSTM"]
    assert all(r["s_per_step"] > 0 for r in rows)
    table = bench.step_table(rows)
    assert "speed-up" in table and len(table.splitlines()) == 3  # header, rule, one size


def test_readme_section_is_replaced_between_markers_only(tmp_path: Path) -> None:
    bench = bench_train()
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\n\nkept above\n\n{bench.BEGIN}\nold\n{bench.END}\n\nkept below\n")
    rows = [
        {"hidden": 8, "fc": 8, "words": 10, "lstm": "BiLSTM", "batch": 4, "s_per_step": 0.01},
        {"hidden": 8, "fc": 8, "words": 10, "lstm": "packed", "batch": 4, "s_per_step": 0.04},
    ]
    bench.write_readme([], rows, "python bench/train.py --models ''", readme=readme)
    text = readme.read_text()
    assert "kept above" in text and "kept below" in text and "old" not in text
    assert "4.0x" in text and text.count(bench.BEGIN) == 1


def test_tree_step_costs_compare_flat_and_tree() -> None:
    bench = bench_train()
    rows = bench.tree_step_costs(
        1, labels=(20, 40), batch=4, words=12, vocab=50, flat_max=30, steps=1, hidden=4
    )
    assert [r["labels"] for r in rows] == [20, 40]
    assert rows[0]["flat_cpu"] >= 0 and "flat_cpu" not in rows[1]  # above flat_max
    assert all(r["tree_wall"] > 0 and len(r["levels_cpu"]) == 3 for r in rows)
    table = bench.tree_step_table(rows)
    assert "too large" in table and len(table.splitlines()) == 4


def test_topk_metrics_match_dense_evaluation() -> None:
    """A model's own top-5 gives the metrics the dense evaluation gives (flat model)."""
    import pytest

    from harness.training import evaluate_model
    from tests.helpers.models import synthetic, train

    bench = bench_train()
    corpus = synthetic()
    model = train("attentionxml", corpus, {"epochs": 2, "hidden": 8, "fc_size": 8, "max_words": 20})
    dense = evaluate_model(model, corpus)
    sparse = bench.topk_metrics(model, corpus)
    for key in ("P@1", "P@3", "P@5", "nDCG@5", "PSP@5"):
        assert sparse[key] == pytest.approx(dense[key], abs=1e-9), key


def test_a_regime_row_is_set_against_the_plain_row_of_its_model() -> None:
    """``adversarial=`` in a model entry trains under that regime (a tiny real AttentionXML),
    records its counted cost, and the regime table divides by the plain row."""
    import argparse

    bench = bench_train()
    tiny = "attentionxml@epochs=1@hidden=8@fc_size=8@max_words=20@swa_epochs=0"
    args = argparse.Namespace(
        threads=1,
        dataset="synthetic",
        dataset_opt=["n_docs=300", "n_labels=100", "doc_length=30"],
        data_dir=REPO / "nowhere",
        options="",
        train_docs=0,
    )
    records = []
    for entry in (tiny, f"{tiny}@adversarial=embedding@adversarial.radius=2"):
        args.one = entry
        records.append(bench.run_one(args))
    plain, adv = records
    assert plain["training"] == {} and plain["training_cost"] is None
    assert adv["training"]["radius"] == 2.0 and adv["options"] == plain["options"]
    assert adv["training_cost"]["forward_vs_plain"] == 2.0
    table = bench.regime_table(records)
    lines = table.splitlines()
    assert len(lines) == 3 and "embedding fgm r=2" in lines[2]  # header, rule, one regime
    assert "2.00x" in lines[2] and f"({plain['metrics']['P@1']:.4f})" in lines[2]
