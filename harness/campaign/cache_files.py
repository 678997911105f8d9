"""Cache files a campaign keeps between runs (the test split's top-k, the label clusters):
written atomically with a hash of their content and of what they were computed from, and
believed on reading only when both hold.

A cache saves time and nothing else, so a file that is missing, truncated, edited, larger
than its content can be, nested past reason, of another source or simply unreadable is
recomputed (and rewritten), never trusted and never a traceback. What a cache holds must
also pass its caller's own check of the values (label indices in range, a partition of the
labels), since a hash proves only that the file is as it was written.

File names come from hashes and from :func:`safe_name`, never from text as given (a corpus
name with ``../`` in it), so every cache file stays inside the cache folder. Arrays are
stored as safetensors (no pickle), everything else as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from harness.errors import HarnessError
from harness.provenance import canonical_json, config_hash

FORMAT = "xmtc-harness cache 1"
HEADER_SLACK = 1 << 16
"""Bytes a cache file may hold beyond its content (the safetensors header, JSON framing)."""


class CacheWriteError(HarnessError):
    """A cache file could not be written (a full disk, a read-only folder)."""


def safe_name(text: str, limit: int = 64) -> str:
    """``text`` as a plain file-name word: letters, digits, ``.``, ``_`` and ``-`` kept,
    anything else (``/``, ``..``, spaces) replaced, no leading dot, at most ``limit``
    characters."""
    word = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:limit].lstrip(".")
    return word or "_"


def cache_path(folder: str | Path, kind: str, source: dict[str, Any], label: str = "") -> Path:
    """Where the cache of ``kind`` computed from ``source`` lives: the file name is the
    kind, an optional readable label (made safe) and the source's hash."""
    middle = f"-{safe_name(label)}" if label else ""
    return Path(folder) / f"{kind}{middle}-{config_hash(source)}"


def _content_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _arrays_hash(arrays: dict[str, np.ndarray]) -> str:
    """One hash over named arrays (names, dtypes, shapes and bytes), streamed: no copy of
    the content is made beyond a contiguous view."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    """``write(tmp)`` then rename into place; on failure nothing is left and the error is
    one line naming the file."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except (OSError, SafetensorError) as exc:
        tmp.unlink(missing_ok=True)
        why = getattr(exc, "strerror", None) or str(exc)
        raise CacheWriteError(
            f"{path}: cannot write this cache file ({why}); nothing of it was left behind; "
            "free space or choose another cache folder"
        ) from None


def read_arrays(
    path: Path, source: dict[str, Any], names: Sequence[str], max_bytes: int
) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` cached at ``path`` if they were computed from ``source`` and are
    unchanged (and the file holds exactly those); None (recompute) otherwise."""
    try:
        if not path.is_file() or path.stat().st_size > max_bytes + HEADER_SLACK:
            return None
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != FORMAT or meta.get("source") != canonical_json(source):
                return None
            if sorted(fh.keys()) != sorted(names):
                return None
            arrays = {name: fh.get_tensor(name) for name in names}
    except (OSError, SafetensorError, ValueError, TypeError, KeyError):
        return None
    if meta.get("content_sha256") != _arrays_hash(arrays):
        return None
    return arrays


def write_arrays(path: Path, arrays: dict[str, np.ndarray], source: dict[str, Any]) -> None:
    """Cache the named ``arrays`` at ``path`` with their content hash and ``source``."""
    arrays = {name: np.ascontiguousarray(arr) for name, arr in arrays.items()}
    meta = {
        "format": FORMAT,
        "source": canonical_json(source),
        "content_sha256": _arrays_hash(arrays),
    }
    _atomic_write(path, lambda tmp: save_file(arrays, str(tmp), metadata=meta))


def read_array(path: Path, source: dict[str, Any], max_bytes: int) -> np.ndarray | None:
    """The one array cached at ``path`` by :func:`write_array` (see :func:`read_arrays`)."""
    found = read_arrays(path, source, ("value",), max_bytes)
    return None if found is None else found["value"]


def write_array(path: Path, arr: np.ndarray, source: dict[str, Any]) -> None:
    """Cache ``arr`` at ``path`` with its content hash and ``source``."""
    write_arrays(path, {"value": arr}, source)


def read_json(path: Path, source: dict[str, Any], max_bytes: int) -> Any | None:
    """The JSON value cached at ``path`` if it was computed from ``source`` and is
    unchanged; None (recompute) otherwise (a damaged, edited or absurdly nested file)."""
    try:
        if not path.is_file() or path.stat().st_size > max_bytes + HEADER_SLACK:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    if data.get("source") != json.loads(canonical_json(source)):
        return None
    content = data.get("content")
    try:
        digest = _content_hash(canonical_json(content).encode())
    except (ValueError, RecursionError):
        return None
    return content if data.get("content_sha256") == digest else None


def write_json(path: Path, value: Any, source: dict[str, Any]) -> None:
    """Cache the JSON ``value`` at ``path`` with its content hash and ``source``."""
    data = {
        "format": FORMAT,
        "source": json.loads(canonical_json(source)),
        "content_sha256": _content_hash(canonical_json(value).encode()),
        "content": value,
    }
    _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data), encoding="utf-8"))


def documents_hash(documents: Iterable[tuple[str, Sequence[str]]]) -> str:
    """A hash of documents as a model reads them (id and word list of each, streamed): part
    of a prediction cache's source, so texts edited under the same label space recompute
    it."""
    h = hashlib.sha256()
    for doc_id, ws in documents:
        h.update(doc_id.encode("utf-8", "surrogatepass") + b"\0")
        h.update("\x1f".join(ws).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()
