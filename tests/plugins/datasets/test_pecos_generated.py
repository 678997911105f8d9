"""Generated damage to a PECOS xmc-base folder (issue 13): any of its files truncated, with
bytes replaced at random offsets, or replaced by random bytes, loads to a sound corpus or
raises one line naming a file of the folder, in bounded time; any other exception is a bug.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.registry import load_registry
from tests.helpers.pecos_layout import NAMES, TEST, TRAIN, write_pecos

REGISTRY = load_registry()
FILES = ("X.trn.txt", "X.tst.txt", "Y.trn.npz", "Y.tst.npz", "output-items.txt")
CPU_BOUND_S = 10.0  # a hang detector, not a measurement: an example takes milliseconds


@st.composite
def damage(draw: st.DrawFn, size: int) -> tuple[str, object]:
    kind = draw(st.sampled_from(["truncate", "bytes", "replace"]))
    if kind == "truncate":
        return kind, draw(st.integers(0, max(size - 1, 0)))
    if kind == "replace":
        return kind, draw(st.binary(max_size=300))
    n = draw(st.sampled_from([1, 1, 2, 5]))
    flips = st.tuples(st.integers(0, max(size - 1, 0)), st.integers(1, 255))
    return kind, draw(st.lists(flips, min_size=n, max_size=n))


def damaged(data: bytes, how: tuple[str, object]) -> bytes:
    kind, arg = how
    if kind == "truncate":
        return data[: int(arg)]  # type: ignore[call-overload]
    if kind == "replace":
        return bytes(arg)  # type: ignore[arg-type]
    out = bytearray(data)
    for offset, xor in arg:  # type: ignore[union-attr]
        if out:
            out[offset % len(out)] ^= xor
    return bytes(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_pecos_folder_loads_or_raises_one_located_line(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_pecos(Path(tmp).resolve() / "xmc", TRAIN, TEST, NAMES)
        name = data.draw(st.sampled_from(FILES), label="file")
        path = root / name
        original = path.read_bytes()
        path.write_bytes(damaged(original, data.draw(damage(len(original)), label="damage")))
        start = time.process_time()
        try:
            corpus = REGISTRY.build("dataset", "pecos", {"data_dir": str(root)}).load()
        except HarnessError as exc:
            message = str(exc)
            assert "\n" not in message, message
            assert str(root) in message or "dataset:pecos." in message, message
        else:
            assert corpus.train and corpus.test
            for doc in corpus.train + corpus.test:
                assert all(0 <= i < corpus.n_labels for i in doc.labels)
            assert len(corpus.label_names) == corpus.n_labels
        spent = time.process_time() - start
    assert spent < CPU_BOUND_S, f"{spent:.1f} s of CPU for a folder of a few KiB"


def test_label_matrix_claiming_a_huge_shape_is_refused_before_allocating(tmp_path: Path) -> None:
    """A COO matrix of two entries that claims 10^12 rows: converting it to CSR would
    allocate 7 TiB of row pointers (a MemoryError traceback before)."""
    root = write_pecos(tmp_path / "xmc", TRAIN, TEST, NAMES)
    rows, cols = np.array([0, 1]), np.array([0, 1])
    lying = sp.coo_matrix((np.ones(2, np.float32), (rows, cols)), shape=(10**12, len(NAMES)))
    sp.save_npz(root / "Y.trn.npz", lying)
    with pytest.raises(HarnessError) as info:
        REGISTRY.build("dataset", "pecos", {"data_dir": str(root)}).load()
    message = str(info.value)
    assert "\n" not in message and str(root / "Y.trn.npz") in message, message


@pytest.mark.parametrize("name", ["Y.trn.npz", "Y.tst.npz"])
def test_every_byte_of_a_label_matrix_damaged_is_one_line(name: str) -> None:
    """Each byte of a label matrix file flipped in turn (the zip headers' compression method
    and flags included, which the generated test once hit): a sound corpus or one line."""
    with tempfile.TemporaryDirectory() as tmp:
        root = write_pecos(Path(tmp).resolve() / "xmc", TRAIN, TEST, NAMES)
        path = root / name
        original = path.read_bytes()
        for offset in range(len(original)):
            for xor in (1, 0x40, 0xFF):
                path.write_bytes(damaged(original, ("bytes", [(offset, xor)])))
                try:
                    REGISTRY.build("dataset", "pecos", {"data_dir": str(root)}).load()
                except HarnessError as exc:
                    assert "\n" not in str(exc) and str(root) in str(exc), (offset, xor, exc)
