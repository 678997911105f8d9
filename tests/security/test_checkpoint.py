"""Checkpoints and caches are loaded without unpickling anything.

A pickle payload whose unpickling would create a marker file is planted (1) as a
checkpoint's ``model.safetensors``, with ``config.json`` forged so that every recorded
hash matches it, (2) the same through the CLI, and (3) as the top-k prediction cache. The
loaders refuse it with a clear error (or recompute the cache) and the marker never appears.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from harness.checkpoint import CONFIG, TENSORS, CheckpointError, _self_hash, load_checkpoint
from harness.registry import load_registry
from tests.helpers.cli import eval_args, one_line_error, run_cli


class Payload:
    """Unpickling this object opens (creates) the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ckpt")
    res = run_cli(eval_args(tmp, "--limit", "1"), cwd=tmp)
    assert res.returncode == 0, res.stderr
    return tmp


def _checkpoint(tmp: Path) -> Path:
    (tensors,) = (tmp / "models").rglob(TENSORS)
    return tensors.parent


def _plant(ckpt: Path, marker: Path, forge: bool) -> None:
    (ckpt / TENSORS).write_bytes(pickle.dumps(Payload(marker)))
    if forge:  # make config.json vouch for the payload, so only the format can stop it
        cfg = json.loads((ckpt / CONFIG).read_text())
        cfg["tensors_sha256"] = hashlib.sha256((ckpt / TENSORS).read_bytes()).hexdigest()
        cfg["config_sha256"] = _self_hash(cfg)
        (ckpt / CONFIG).write_text(json.dumps(cfg))


def test_pickled_tensor_file_is_refused_not_unpickled(trained: Path, tmp_path: Path) -> None:
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(_checkpoint(trained), ckpt)
    marker = tmp_path / "UNPICKLED"
    _plant(ckpt, marker, forge=True)
    pickle.loads(pickle.dumps(Payload(tmp_path / "self-check")))  # the payload does work
    assert (tmp_path / "self-check").exists()
    with pytest.raises(CheckpointError, match="unreadable safetensors file"):
        load_checkpoint(ckpt, load_registry())
    assert not marker.exists()


def test_pickled_checkpoint_through_the_cli(trained: Path) -> None:
    """With --no-train the eval stops with one line naming the checkpoint; without it, the
    damaged checkpoint is retrained over. Either way nothing is unpickled."""
    ckpt = _checkpoint(trained)
    marker = trained / "UNPICKLED"
    _plant(ckpt, marker, forge=True)
    res = run_cli(eval_args(trained, "--limit", "1", "--no-train"), cwd=trained)
    assert res.returncode == 2, res.stderr
    line = one_line_error(res)
    assert str(ckpt) in line and "hash" in line
    assert not marker.exists()
    res = run_cli(eval_args(trained, "--limit", "1"), cwd=trained)
    assert res.returncode == 0, res.stderr
    assert not marker.exists()
    assert (ckpt / TENSORS).read_bytes()[:8] != pickle.dumps(0)[:8]  # a real file again


def test_pickled_topk_cache_is_recomputed_not_unpickled(trained: Path) -> None:
    marker = trained / "UNPICKLED-CACHE"
    caches = sorted((trained / "cache").glob("predictions-*.npz"))
    assert caches
    for cache in caches:
        payload = np.array([Payload(marker)], dtype=object)
        np.savez(cache, format=np.int64(1), n_labels=np.int64(1), indices=payload, scores=payload)
    res = run_cli(eval_args(trained, "--limit", "1"), cwd=trained)
    assert res.returncode == 0, res.stderr
    assert not marker.exists()
    rewritten = []
    for cache in caches:  # the current checkpoint's cache is rewritten as plain numbers
        try:
            with np.load(cache, allow_pickle=False) as f:
                rewritten.append((f["indices"].dtype.kind, f["scores"].dtype.kind))
        except ValueError:
            pass  # a stale cache of an earlier checkpoint, left alone and never unpickled
    assert rewritten == [("i", "f")]
