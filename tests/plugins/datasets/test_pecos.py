"""pecos: the PECOS xmc-base layout read into a Corpus; bad folders give one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness.errors import DatasetNotFoundError, InputError
from harness.registry import load_registry
from tests.helpers.pecos_layout import NAMES, TEST, TRAIN, write_pecos


def load(folder: Path, **opts):
    return load_registry().build("dataset", "pecos", {"data_dir": str(folder), **opts}).load()


def test_reads_texts_labels_and_names(tmp_path) -> None:
    c = load(write_pecos(tmp_path / "tiny", TRAIN, TEST, NAMES))
    assert c.name == "tiny" and c.label_names == NAMES
    assert [d.text for d in c.train] == [t for t, _ in TRAIN]
    assert [d.labels for d in c.train] == [tuple(ls) for _, ls in TRAIN]
    assert c.test[0].doc_id == "tst-1" and c.test[0].labels == (0, 1)
    Y = c.label_matrix("train")
    assert Y.shape == (4, 4) and Y.nnz == 5


def test_without_output_items_labels_are_indices_and_duplicates_are_renamed(tmp_path) -> None:
    c = load(write_pecos(tmp_path / "a", TRAIN, TEST, None, n_labels=4))
    assert c.label_names == ["0", "1", "2", "3"]
    c = load(write_pecos(tmp_path / "b", TRAIN, TEST, ["x", "y", "x", ""]))
    assert c.label_names == ["x", "y", "x#3", "#4"] and c.meta["renamed_duplicate_labels"] == 2


def test_unlabelled_documents_are_dropped_and_counted(tmp_path) -> None:
    c = load(write_pecos(tmp_path / "d", [*TRAIN, ("no labels here", [])], TEST, NAMES))
    assert len(c.train) == 4 and c.meta["dropped"] == {"no-labels": 1}


def test_fraction_keeps_the_first_documents(tmp_path) -> None:
    c = load(write_pecos(tmp_path / "f", TRAIN, TEST, NAMES), fraction="0.5")
    assert [d.text for d in c.train] == [TRAIN[0][0], TRAIN[1][0]] and len(c.test) == 1


def test_binary_from_any_nonzero_value(tmp_path) -> None:
    folder = write_pecos(tmp_path / "r", TRAIN, TEST, NAMES)
    Y = sp.load_npz(folder / "Y.trn.npz").tocsr()
    Y.data[:] = np.linspace(0.5, 3, Y.nnz)  # relevance scores, as some PECOS sets carry
    sp.save_npz(folder / "Y.trn.npz", Y)
    assert [d.labels for d in load(folder).train] == [tuple(ls) for _, ls in TRAIN]


@pytest.mark.parametrize(
    ("damage", "error", "words"),
    [
        (lambda f: (f / "Y.tst.npz").unlink(), DatasetNotFoundError, ["Y.tst.npz", "data fetch"]),
        (lambda f: (f / "Y.trn.npz").write_bytes(b"not a zip"), InputError, ["Y.trn.npz"]),
        (
            lambda f: (f / "X.trn.txt").write_text("one\ntwo\n"),
            InputError,
            ["X.trn.txt", "2 lines", "4"],
        ),
        (
            lambda f: (f / "X.tst.txt").write_text("a\nb\nc\n"),
            InputError,
            ["X.tst.txt:3", "past the 2 rows"],
        ),
        (
            lambda f: (f / "output-items.txt").write_text("a\nb\n"),
            InputError,
            ["output-items.txt", "2 labels", "4"],
        ),
        (
            lambda f: (f / "X.trn.txt").write_bytes(b"ok\n\xff\xfe\nok\nok\n"),
            InputError,
            ["X.trn.txt:2", "utf-8"],
        ),
    ],
)
def test_damaged_folders_are_named_in_one_line(tmp_path, damage, error, words) -> None:
    folder = write_pecos(tmp_path / "bad", TRAIN, TEST, NAMES)
    damage(folder)
    with pytest.raises(error) as info:
        load(folder)
    message = str(info.value)
    assert "\n" not in message
    for w in words:
        assert w in message, message


def test_pickled_label_matrix_is_refused(tmp_path) -> None:
    folder = write_pecos(tmp_path / "p", TRAIN, TEST, NAMES)
    np.savez(folder / "Y.trn.npz", data=np.array([object()], dtype=object))
    with pytest.raises(InputError, match="Y.trn.npz"):
        load(folder)
