"""How a worker process finds the model checkpoint: the folder the database recorded, or a
copy the driver shipped with the job.

A worker on the driver's machine (or on any machine that mounts the same model folder)
loads the recorded path. A worker on a machine without that folder gets the checkpoint's
two files as bytes (the executor carries them, Ray through its object store) and writes
them once per machine under the temporary folder, named by the checkpoint's content hash,
so every worker of that machine and every replacement worker reuses the one copy. Either
way the model is loaded through :func:`harness.checkpoint.load_checkpoint` against the
content hash the database recorded, so a worker never attacks a different model.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from harness.checkpoint import CONFIG, TENSORS, CheckpointCorrupt, CheckpointMissing
from harness.errors import CheckpointError
from harness.vocab import CheckpointVia

COPIES_FOLDER = "xmtc-harness-checkpoints"
"""Under the system's temporary folder: one sub-folder per shipped checkpoint hash."""

_HASH = re.compile(r"[0-9a-f]{64}")

T = TypeVar("T")


@dataclass(frozen=True)
class CheckpointFiles:
    """A checkpoint's two files as bytes, with the content hash they must have."""

    content_hash: str
    files: dict[str, bytes]

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())


def read_checkpoint_files(path: str | Path, content_hash: str) -> CheckpointFiles:
    """The driver's side: both files of the checkpoint at ``path``, to ship."""
    path = Path(path)
    files = {}
    for name in (CONFIG, TENSORS):
        try:
            files[name] = (path / name).read_bytes()
        except OSError as exc:
            raise CheckpointMissing(f"{path}: cannot read {name} to ship it ({exc})") from None
    return CheckpointFiles(content_hash, files)


def node_copy(files: CheckpointFiles, root: Path | None = None) -> Path:
    """The worker's side: the shipped checkpoint as a folder on this machine, written once
    (atomically: into a private folder, then renamed) and reused by later workers."""
    if not _HASH.fullmatch(files.content_hash):
        raise CheckpointCorrupt(f"shipped checkpoint has a malformed hash {files.content_hash!r}")
    if set(files.files) != {CONFIG, TENSORS}:
        raise CheckpointCorrupt(f"shipped checkpoint holds {sorted(files.files)}")
    root = root if root is not None else Path(tempfile.gettempdir()) / COPIES_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    target = root / files.content_hash
    if target.is_dir():
        return target
    private = root / f".{files.content_hash[:16]}-{uuid.uuid4().hex}"
    private.mkdir()
    try:
        for name, blob in files.files.items():
            with open(private / name, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
        try:
            private.rename(target)
        except OSError:
            if not target.is_dir():  # not another worker winning the race: a real failure
                raise
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return target


def discard_copy(path: Path) -> None:
    """Remove a node copy that failed to load, so the next worker writes it afresh."""
    if path.parent.name == COPIES_FOLDER:
        shutil.rmtree(path, ignore_errors=True)


def locate_and_load(
    recorded_path: str,
    via: str,
    fetch: Callable[[], CheckpointFiles] | None,
    load: Callable[[Path], T],
) -> tuple[T, str]:
    """Load the checkpoint the way ``via`` says; returns what ``load`` gave and where from.

    ``auto``: the recorded folder when it loads here (present and with the recorded hash),
    else the shipped copy; ``shared-folder``: the recorded folder only; ``object-store``: the
    shipped copy only. ``fetch`` returns the shipped files (None when none were shipped).
    """
    if via != CheckpointVia.OBJECT_STORE:
        try:
            return load(Path(recorded_path)), CheckpointVia.SHARED_FOLDER.value
        except CheckpointError:
            if via == CheckpointVia.SHARED_FOLDER or fetch is None:
                raise
    if fetch is None:
        raise CheckpointMissing("no checkpoint was shipped to this worker")
    copy = node_copy(fetch())
    try:
        return load(copy), CheckpointVia.OBJECT_STORE.value
    except CheckpointError:
        discard_copy(copy)  # a damaged copy on this machine: write it again, once
        return load(node_copy(fetch())), CheckpointVia.OBJECT_STORE.value
