"""``train --adversarial``: a model trained under a regime is recorded with it and its cost,
listed with it by ``models``, found again by ``train`` and ``eval`` from the same words, and
a regime a model cannot take is refused in one line before anything is loaded."""

from __future__ import annotations

import json

import pytest

from harness.store.models import list_models
from harness.store.session import open_store
from tests.helpers.cli import SYNTH, invoke, run_main

AXML = ("--model", "attentionxml", "--model-opt", "hidden=8", "--model-opt", "fc_size=8",
        "--model-opt", "max_words=30", "--epochs", "2", "--no-progress")  # fmt: skip


def test_embedding_regime_is_recorded_listed_and_found_again(tmp_path) -> None:
    db = str(tmp_path / "r.db")
    common = ["train", *SYNTH, *AXML, "--model-dir", str(tmp_path / "models")]
    plain = invoke(*common, db=db)
    assert "training plain" in plain.output
    adv = [*common, "--adversarial", "embedding", "--adversarial-opt", "radius=2"]
    res = invoke(*adv, db=db)
    assert "training embedding fgm r=2" in res.output
    assert "forward passes 2.00x and backward passes 2.00x" in res.output
    store = open_store(db)
    rows = list_models(store)
    store.dispose()
    assert len(rows) == 2 and rows[0].spec_hash != rows[1].spec_hash
    config = rows[1].config
    assert config["training"]["adversarial"] == "embedding" and config["training"]["radius"] == 2
    assert config["training_cost"]["forward_vs_plain"] == 2.0
    folder = tmp_path / "models" / rows[1].spec_hash
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    saved = json.loads((folder / "config.json").read_text())
    assert saved["meta"]["spec"]["training"]["radius"] == 2 and saved["meta"]["training_cost"]

    listed = invoke("models", db=db)
    assert "training" in listed.output.splitlines()[0]
    assert "embedding fgm r=2" in listed.output and "plain" in listed.output
    js = json.loads(invoke("models", "--format", "json", db=db).output)
    assert js["rows"][1]["training cost"]["backward_vs_plain"] == 2.0
    assert js["rows"][0]["training"] == "plain" and js["rows"][0]["training cost"] is None

    again = invoke(*adv, db=db)
    assert "already trained: model id 2" in again.output
    run = invoke(
        "eval", *SYNTH, *AXML[:-1], "--adversarial", "embedding", "--adversarial-opt", "radius=2",
        "--model-dir", str(tmp_path / "models"), "--cache-dir", str(tmp_path / "cache"),
        "--no-train", "--samples-per-bin", "1", "--limit", "2", "--importance", "gradient",
        "--similarity", "change-rate", "--no-progress", db=db,
    )  # fmt: skip
    store = open_store(db)
    with store.read() as s:
        from harness.store.schema import Run

        (stored,) = s.query(Run).all()
        assert stored.trained_model_id == 2
        assert stored.config["model_spec"]["training"]["radius"] == 2
    store.dispose()
    assert run.exit_code == 0
    board = invoke("leaderboard", "--run", str(stored.id), "--summary", db=db).output
    header, row = board.splitlines()[1], board.splitlines()[3]
    assert "training" in header and "embedding fgm r=2" in row  # the regime names its row


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--model", "linear", "--adversarial", "embedding"], ["--adversarial", "linear"]),
        (["--adversarial", "embedding", "--adversarial-opt", "radius=-1"],
         ["--adversarial-opt radius"]),
        (["--adversarial", "embedding", "--adversarial-opt", "method=fgm",
          "--adversarial-opt", "steps=2"], ["--adversarial-opt steps", "fgm"]),
        (["--adversarial", "substitution", "--adversarial-opt", "trials"],
         ["--adversarial-opt", "key=value"]),
        (["--adversarial", "substitution", "--adversarial-opt", "refresh=x"],
         ["--adversarial-opt refresh"]),
        (["--adversarial-opt", "radius=1"], ["--adversarial-opt", "without a regime"]),
    ],
)  # fmt: skip
def test_regimes_a_model_cannot_take_are_refused_in_one_line(tmp_path, capsys, args, needles):
    db = tmp_path / "r.db"
    argv = ["--db", str(db), "train", *SYNTH, *args, "--model-dir", str(tmp_path / "m")]
    code, _, err = run_main(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert all(n in lines[0] for n in needles), err
    assert not (tmp_path / "m").exists()  # refused before anything was trained
