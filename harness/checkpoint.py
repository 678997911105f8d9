"""Model checkpoints: a folder with ``model.safetensors`` and ``config.json``, nothing else.

* Saving is atomic: both files are written and fsynced into a temporary folder beside the
  target, which is then renamed into place, so an interrupted save leaves either the old
  checkpoint or the new one, never half of one; a failed save (a full disk) leaves nothing.
* The harness never overwrites a checkpoint (:func:`save_new_checkpoint`): a recorded run
  may point at it, perhaps in another database sharing the model folder, so a different
  training writes a different folder.
* Loading never unpickles: tensors come from safetensors, everything else from JSON.
* Integrity: ``config.json`` records the SHA-256 of the tensor file and a self-hash of its
  own content; the *content hash* of a checkpoint is a SHA-256 over both files (what the
  results database stores), and loading can check it too.
* A checkpoint is tied to a label space: loading against a dataset whose label names or
  fingerprint differ raises :class:`CheckpointMismatch` naming the path and the difference.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from harness import __version__
from harness.contracts.model import XMTCModel
from harness.errors import CheckpointError
from harness.provenance import canonical_json, file_sha256

TENSORS = "model.safetensors"
CONFIG = "config.json"
FORMAT_VERSION = 1


class CheckpointMissing(CheckpointError):
    """No checkpoint (or not both of its files) at the path."""


class CheckpointCorrupt(CheckpointError):
    """The files are there but truncated, edited or unreadable."""


class CheckpointMismatch(CheckpointError):
    """A sound checkpoint for a different label space or dataset."""


def content_hash(path: str | Path) -> str:
    """SHA-256 over both files of a checkpoint (name and bytes, in a fixed order)."""
    path = Path(path)
    h = hashlib.sha256()
    for name in (CONFIG, TENSORS):
        f = path / name
        if not f.is_file():
            raise CheckpointMissing(f"{path}: checkpoint file {name} is missing")
        h.update(name.encode() + b"\0" + file_sha256(f).encode() + b"\0")
    return h.hexdigest()


def _self_hash(config: dict[str, Any]) -> str:
    body = {k: v for k, v in config.items() if k != "config_sha256"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_folder(
    model: XMTCModel,
    parent: Path,
    *,
    model_name: str,
    options: dict[str, Any],
    dataset: str,
    fingerprint: str,
    meta: dict[str, Any] | None,
) -> Path:
    """Both files of a checkpoint, written and fsynced into a new hidden folder in
    ``parent``; on any failure (a full disk) nothing of it is left and the error names the
    folder in one line."""
    parent.mkdir(parents=True, exist_ok=True)
    tensors, extra = model.state()
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    tmp = parent / f".checkpoint.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        save_file(tensors, str(tmp / TENSORS), metadata={"format": "xmtc-harness"})
        _fsync_file(tmp / TENSORS)
        config: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "harness_version": __version__,
            "model": model_name,
            "options": options,
            "label_names": list(model.label_names),
            "dataset": dataset,
            "dataset_fingerprint": fingerprint,
            "extra": extra,
            "meta": meta or {},
            "tensors_sha256": file_sha256(tmp / TENSORS),
        }
        config["config_sha256"] = _self_hash(config)
        with open(tmp / CONFIG, "w", encoding="utf-8") as fh:
            json.dump(config, fh, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(tmp)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError | SafetensorError):
            why = getattr(exc, "strerror", None) or str(exc)
            raise CheckpointError(
                f"{parent}: cannot save the checkpoint ({why}); nothing of it was left "
                "behind; free space (or choose another model folder) and run again"
            ) from None
        raise
    return tmp


def save_checkpoint(
    model: XMTCModel,
    path: str | Path,
    *,
    model_name: str,
    options: dict[str, Any],
    dataset: str,
    fingerprint: str,
    meta: dict[str, Any] | None = None,
) -> str:
    """Write ``model`` to the folder ``path`` atomically, replacing what is there; returns
    its content hash. (The harness itself never replaces a checkpoint:
    :func:`save_new_checkpoint`.)

    ``options`` are the resolved model options (enough to rebuild the untrained model),
    ``meta`` anything else worth keeping with it (the training spec, metrics).
    """
    path = Path(path)
    tmp = _write_folder(
        model, path.parent, model_name=model_name, options=options, dataset=dataset,
        fingerprint=fingerprint, meta=meta,
    )  # fmt: skip
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    try:
        if path.exists():
            os.replace(path, old)  # a folder cannot replace a non-empty one in one step
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)  # put the previous checkpoint back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return content_hash(path)


def save_new_checkpoint(
    model: XMTCModel,
    path: str | Path,
    *,
    model_name: str,
    options: dict[str, Any],
    dataset: str,
    fingerprint: str,
    meta: dict[str, Any] | None = None,
) -> tuple[Path, str]:
    """Write ``model`` to the folder ``path``, or, when a checkpoint is already there (one a
    recorded run may point at, perhaps of another database), to the first free
    ``path-2``, ``path-3``, ...; never replaces one. Returns the folder and its content
    hash. The rename into place is atomic and fails on an existing non-empty folder, so two
    processes saving at once take two names."""
    path = Path(path)
    tmp = _write_folder(
        model, path.parent, model_name=model_name, options=options, dataset=dataset,
        fingerprint=fingerprint, meta=meta,
    )  # fmt: skip
    try:
        for n in range(1, 10_000):
            target = path if n == 1 else path.with_name(f"{path.name}-{n}")
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                continue
            try:
                os.rename(tmp, target)  # replaces at most an empty folder, atomically
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue  # taken meanwhile by another process
                raise
            _fsync_dir(path.parent)
            return target, content_hash(target)
        raise CheckpointError(f"{path}: no free checkpoint folder name beside it")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_config(path: str | Path) -> dict[str, Any]:
    """The checked ``config.json`` of a checkpoint (its self-hash must hold)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointMissing(f"{path}: no checkpoint folder here")
    for name in (CONFIG, TENSORS):
        if not (path / name).is_file():
            raise CheckpointMissing(f"{path}: checkpoint file {name} is missing")
    try:
        with open(path / CONFIG, encoding="utf-8") as fh:
            config = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointCorrupt(f"{path / CONFIG}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("config_sha256") != _self_hash(config):
        raise CheckpointCorrupt(f"{path / CONFIG}: content does not match its recorded hash")
    return config


def _label_difference(saved: Sequence[str], current: Sequence[str]) -> str:
    if len(saved) != len(current):
        return f"the checkpoint has {len(saved)} labels, the dataset {len(current)}"
    for i, (a, b) in enumerate(zip(saved, current, strict=True)):
        if a != b:
            return f"label {i} is {a!r} in the checkpoint but {b!r} in the dataset"
    return ""


def load_checkpoint(
    path: str | Path,
    registry: Any,
    *,
    label_names: Sequence[str] | None = None,
    fingerprint: str | None = None,
    expected_hash: str | None = None,
    option_overrides: dict[str, Any] | None = None,
) -> XMTCModel:
    """Rebuild the model saved at ``path`` through the registry and load its weights.

    Checks, in order: both files present, the config's self-hash, the content hash against
    ``expected_hash`` (the database's), the tensor file's hash, then the label names and
    dataset fingerprint against the dataset it is meant for. ``option_overrides`` may change
    options that do not affect the weights (``device``, batch sizes).
    """
    path = Path(path)
    config = read_config(path)
    if expected_hash is not None:
        actual = content_hash(path)
        if actual != expected_hash:
            raise CheckpointCorrupt(
                f"{path}: content hash {actual[:16]}… differs from the recorded "
                f"{expected_hash[:16]}… (files changed or damaged since training)"
            )
    if file_sha256(path / TENSORS) != config.get("tensors_sha256"):
        raise CheckpointCorrupt(f"{path / TENSORS}: does not match the hash in {CONFIG}")
    saved_labels = list(config["label_names"])
    if label_names is not None:
        diff = _label_difference(saved_labels, list(label_names))
        if diff:
            raise CheckpointMismatch(f"{path}: label names do not match the dataset: {diff}")
    if fingerprint is not None and config["dataset_fingerprint"] != fingerprint:
        raise CheckpointMismatch(
            f"{path}: dataset fingerprint {config['dataset_fingerprint']} (dataset "
            f"{config['dataset']!r}) differs from the current dataset's {fingerprint}"
        )
    try:
        tensors = load_file(str(path / TENSORS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointCorrupt(f"{path / TENSORS}: unreadable safetensors file ({exc})") from None
    options = dict(config["options"])
    options.update(option_overrides or {})
    model = registry.build("model", config["model"], options)
    model.label_names = saved_labels
    try:
        model.load_state(tensors, config["extra"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointCorrupt(
            f"{path}: weights do not fit model {config['model']!r} with the saved options "
            f"({exc.__class__.__name__}: {str(exc)[:200]})"
        ) from None
    return model
