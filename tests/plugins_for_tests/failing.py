"""Test-only plugins that raise on one particular document.

``flaky-glove`` (substituter) is the built-in GloVe substituter, except that the
``fail_nth``-th document it is started on in a process raises ``RuntimeError``.
``flaky-sim`` (similarity) accepts every text with similarity 1.0, except that the
``fail_nth``-th document it is started on in a process raises ``RuntimeError``.
The campaign starts the similarity constraint once per trial, in plan order, so on a fresh
run ``flaky-sim`` with ``fail_nth=N`` fails exactly trial_index N-1.
``doomed-glove`` (substituter) is GloVe, except that it raises ``RuntimeError`` on every
document whose words' CRC-32 is a multiple of ``every``: it fails on the same documents
whichever process runs them, in any order (what a distributed run is compared on).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from harness import hookimpl
from harness.components import Component, Option
from plugins.substituters.glove import build as build_glove

MESSAGE = "flaky test plugin refuses document number"
DOOMED = "doomed test plugin refuses the document with CRC-32"


class FlakyGlove:
    def __init__(self, fail_nth: int, k: int):
        self.inner = build_glove(k=k)
        self.fail_nth = fail_nth
        self.started = 0

    def start(self, original: list[str]):
        self.started += 1
        if self.started == self.fail_nth:
            raise RuntimeError(f"{MESSAGE} {self.started} ({' '.join(original[:3])} ...)")
        return self.inner.start(original)


class DoomedGlove:
    def __init__(self, every: int, k: int):
        self.inner = build_glove(k=k)
        self.every = every

    def start(self, original: list[str]):
        digest = zlib.crc32(" ".join(original).encode())
        if digest % self.every == 0:
            raise RuntimeError(f"{DOOMED} {digest:08x} ({' '.join(original[:3])} ...)")
        return self.inner.start(original)


class AlwaysSimilar:
    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        return np.ones(len(texts), dtype=bool)

    def max_changes(self) -> int | None:
        return None

    def similarity(self, texts: Sequence[list[str]]) -> np.ndarray:
        return np.ones(len(texts))


class FlakySimilarity:
    name = "flaky-sim"

    def __init__(self, fail_nth: int):
        self.fail_nth = fail_nth
        self.started = 0

    def start(self, original: list[str]) -> AlwaysSimilar:
        self.started += 1
        if self.started == self.fail_nth:
            raise RuntimeError(f"{MESSAGE} {self.started} ({' '.join(original[:3])} ...)")
        return AlwaysSimilar()


@hookimpl
def xmtc_register_substituters() -> list[Component]:
    return [
        Component(
            kind="substituter",
            name="flaky-glove",
            description="glove, but raises on the fail_nth document (tests only)",
            factory=FlakyGlove,
            options=(Option("fail_nth", int, 2, min=1), Option("k", int, 16, min=1)),
        ),
        Component(
            kind="substituter",
            name="doomed-glove",
            description="glove, but raises on documents whose CRC-32 divides by every (tests)",
            factory=DoomedGlove,
            options=(Option("every", int, 3, min=1), Option("k", int, 16, min=1)),
        ),
    ]


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [
        Component(
            kind="similarity",
            name="flaky-sim",
            description="accepts everything, but raises on the fail_nth document (tests only)",
            factory=FlakySimilarity,
            options=(Option("fail_nth", int, 2, min=1),),
        )
    ]
