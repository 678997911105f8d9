"""How a worker reaches the checkpoint (harness/campaign/executors/shipping.py), on a real
trained checkpoint: the recorded folder when it loads, else the copy shipped with the job,
written once per machine, rewritten when damaged, and always checked against the recorded
content hash."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from harness.campaign.executors.base import ModelRef
from harness.campaign.executors.shipping import (
    COPIES_FOLDER,
    CheckpointFiles,
    locate_and_load,
    node_copy,
    read_checkpoint_files,
)
from harness.checkpoint import TENSORS, CheckpointCorrupt, CheckpointMissing
from harness.registry import Registry, load_registry
from harness.store.session import open_store
from harness.training import ModelSpec, train_and_record

DATA = {"n_docs": 300, "n_labels": 100, "doc_length": 30}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, ModelRef]:
    tmp = tmp_path_factory.mktemp("shipping")
    reg = load_registry()
    corpus = reg.build("dataset", "synthetic", DATA).load(progress=False)
    spec = ModelSpec.resolve(
        reg, dataset="synthetic", dataset_options=DATA, model="linear",
        model_options={"max_iter": 30}, loss="bce", loss_options={}, seed=0,
    )  # fmt: skip
    store = open_store(str(tmp / "r.db"))
    _model, row = train_and_record(reg, store, spec, corpus, tmp / "models", progress=False)
    store.dispose()
    ref = ModelRef(
        row.checkpoint_path, row.checkpoint_hash, tuple(corpus.label_names), corpus.fingerprint()
    )
    return reg, ref


@pytest.fixture
def copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's folder of shipped copies, inside the test's temporary folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path / COPIES_FOLDER


def shipped(ref: ModelRef) -> CheckpointFiles:
    return read_checkpoint_files(ref.checkpoint_path, ref.checkpoint_hash)


def test_auto_loads_the_recorded_folder_when_it_is_there(
    trained: tuple[Registry, ModelRef], copies: Path
) -> None:
    reg, ref = trained
    fetched = []
    model, source = locate_and_load(
        ref.checkpoint_path, "auto", lambda: fetched.append(1) or shipped(ref),
        lambda p: ref.load(reg, p),
    )  # fmt: skip
    assert source == "shared-folder" and fetched == []  # the copy was never fetched
    assert model.label_names == list(ref.label_names)
    assert not copies.exists()


def test_auto_falls_back_to_the_shipped_copy_written_once(
    trained: tuple[Registry, ModelRef], copies: Path, tmp_path: Path
) -> None:
    reg, ref = trained
    elsewhere = str(tmp_path / "not-mounted-here")
    for _ in range(2):  # a second worker on the same machine reuses the copy
        model, source = locate_and_load(
            elsewhere, "auto", lambda: shipped(ref), lambda p: ref.load(reg, p)
        )
        assert source == "object-store"
    assert [p.name for p in copies.iterdir()] == [ref.checkpoint_hash]
    assert model.label_names == list(ref.label_names)


def test_shared_folder_refuses_a_missing_folder_and_object_store_ignores_it(
    trained: tuple[Registry, ModelRef], copies: Path, tmp_path: Path
) -> None:
    reg, ref = trained
    with pytest.raises(CheckpointMissing):
        locate_and_load(
            str(tmp_path / "gone"), "shared-folder", lambda: shipped(ref),
            lambda p: ref.load(reg, p),
        )  # fmt: skip
    _model, source = locate_and_load(
        ref.checkpoint_path, "object-store", lambda: shipped(ref), lambda p: ref.load(reg, p)
    )
    assert source == "object-store" and (copies / ref.checkpoint_hash).is_dir()
    with pytest.raises(CheckpointMissing):  # nothing shipped, nothing to load
        locate_and_load(ref.checkpoint_path, "object-store", None, lambda p: ref.load(reg, p))


def test_a_damaged_copy_is_rewritten_and_a_wrong_one_refused(
    trained: tuple[Registry, ModelRef], copies: Path, tmp_path: Path
) -> None:
    reg, ref = trained
    copy = node_copy(shipped(ref))
    blob = bytearray((copy / TENSORS).read_bytes())
    blob[-1] ^= 0xFF
    (copy / TENSORS).write_bytes(bytes(blob))
    _model, source = locate_and_load(
        str(tmp_path / "gone"), "auto", lambda: shipped(ref), lambda p: ref.load(reg, p)
    )
    assert source == "object-store"
    assert (copy / TENSORS).read_bytes() == (Path(ref.checkpoint_path) / TENSORS).read_bytes()

    files = shipped(ref)
    tampered = dict(files.files)
    tampered[TENSORS] = bytes(blob)
    wrong = CheckpointFiles(files.content_hash, tampered)  # not what the hash says
    shutil.rmtree(copies / ref.checkpoint_hash)  # so the tampered files are what is written
    with pytest.raises(CheckpointCorrupt):
        locate_and_load(str(tmp_path / "gone"), "object-store", lambda: wrong,
                        lambda p: ref.load(reg, p))  # fmt: skip


def test_a_malformed_hash_never_becomes_a_path(copies: Path) -> None:
    with pytest.raises(CheckpointCorrupt):
        node_copy(CheckpointFiles("../../etc", {"config.json": b"{}", TENSORS: b""}))
    assert not (copies.parent / "etc").exists()
