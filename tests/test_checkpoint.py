"""Checkpoints: exact round trip, atomic saves, corruption and label-space mismatches."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from harness import checkpoint as ck
from harness.checkpoint import (
    CONFIG,
    TENSORS,
    CheckpointCorrupt,
    CheckpointError,
    CheckpointMismatch,
    CheckpointMissing,
    content_hash,
    load_checkpoint,
    save_checkpoint,
)
from tests.helpers.models import registry, synthetic, train

OPTS = {"epochs": 2, "batch_size": 64, "lr": 0.1}


@pytest.fixture(scope="module")
def trained():
    corpus = synthetic()
    model = train("linear", corpus, OPTS)
    return corpus, model


def _save(model, corpus, path):
    opts = registry().get("model", "linear").resolve_options(OPTS)
    return save_checkpoint(
        model,
        path,
        model_name="linear",
        options=opts,
        dataset=corpus.name,
        fingerprint=corpus.fingerprint(),
    )


def test_round_trip_gives_identical_predictions(trained, tmp_path) -> None:
    corpus, model = trained
    h = _save(model, corpus, tmp_path / "ck")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [CONFIG, TENSORS]
    assert h == content_hash(tmp_path / "ck") and len(h) == 64
    loaded = load_checkpoint(
        tmp_path / "ck",
        registry(),
        label_names=corpus.label_names,
        fingerprint=corpus.fingerprint(),
        expected_hash=h,
    )
    docs = [d.words for d in corpus.test]
    np.testing.assert_array_equal(loaded.predict_proba(docs), model.predict_proba(docs))
    assert loaded.label_names == model.label_names


def test_mismatched_labels_raise_and_name_the_difference(trained, tmp_path) -> None:
    corpus, model = trained
    _save(model, corpus, tmp_path / "ck")
    names = list(corpus.label_names)
    names[3] = "something-else"
    with pytest.raises(CheckpointMismatch, match=r"label 3 is .* 'something-else'") as err:
        load_checkpoint(tmp_path / "ck", registry(), label_names=names)
    assert str(tmp_path / "ck") in str(err.value)
    with pytest.raises(CheckpointMismatch, match="labels, the dataset"):
        load_checkpoint(tmp_path / "ck", registry(), label_names=names[:-1])
    other = replace(corpus, name="other-dataset")
    with pytest.raises(CheckpointError, match="fingerprint"):
        load_checkpoint(tmp_path / "ck", registry(), fingerprint=other.fingerprint())


@pytest.mark.parametrize(
    "damage", ["truncate-tensors", "flip-byte", "edit-config", "truncate-config", "delete-tensors"]
)
def test_damaged_checkpoint_is_detected(trained, tmp_path, damage: str) -> None:
    corpus, model = trained
    path = tmp_path / "ck"
    h = _save(model, corpus, path)
    t, c = path / TENSORS, path / CONFIG
    if damage == "truncate-tensors":
        t.write_bytes(t.read_bytes()[: t.stat().st_size // 2])
    elif damage == "flip-byte":
        data = bytearray(t.read_bytes())
        data[-10] ^= 0xFF
        t.write_bytes(bytes(data))
    elif damage == "edit-config":
        cfg = json.loads(c.read_text())
        cfg["options"]["epochs"] = 99
        c.write_text(json.dumps(cfg))
    elif damage == "truncate-config":
        c.write_text(c.read_text()[:100])
    else:
        t.unlink()
    expected = CheckpointMissing if damage == "delete-tensors" else CheckpointCorrupt
    with pytest.raises(expected, match=str(path)):
        load_checkpoint(path, registry(), label_names=corpus.label_names)
    with pytest.raises(CheckpointError):
        load_checkpoint(path, registry(), expected_hash=h)


def test_interrupted_save_leaves_the_old_checkpoint(trained, tmp_path, monkeypatch) -> None:
    corpus, model = trained
    path = tmp_path / "ck"
    h = _save(model, corpus, path)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(ck, "_fsync_dir", boom)
    with pytest.raises(KeyboardInterrupt):
        _save(model, corpus, path)
    assert content_hash(path) == h  # the old checkpoint is back, whole
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # no temporary folder left
    monkeypatch.undo()
    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        _save(model, corpus, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_missing_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CheckpointMissing, match="no checkpoint folder"):
        load_checkpoint(tmp_path / "nope", registry())
