"""xc-bow: Extreme Classification Repository sparse format; header and ids checked per line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import DatasetNotFoundError, InputError
from plugins.datasets.xc_bow import XCBowReader

TRAIN = "3 10 4\n0,2 3:0.5 7:0.9\n1 1:2.0 2:3.0\n3 9:1\n"
TEST = "2 10 4\n2 4:0.1\n0,1 5:1.5 6:0.2\n"


def write(folder: Path, **files: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {"train.txt": TRAIN, "test.txt": TEST, **files}.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name.replace("__", ".")).write_bytes(data)
    return folder


def _error(root: Path, **kw: object) -> InputError:
    with pytest.raises(InputError) as info:
        XCBowReader(data_dir=str(root), **kw).load()  # type: ignore[arg-type]
    return info.value


def test_reads_format_features_by_decreasing_value(tmp_path: Path) -> None:
    corpus = XCBowReader(data_dir=str(write(tmp_path / "eurlex"))).load()
    assert corpus.label_names == ["0", "1", "2", "3"]
    assert corpus.meta["n_features"] == 10
    assert corpus.train[0].text == "f7 f3" and corpus.train[0].labels == (0, 2)
    assert corpus.train[1].text == "f2 f1"
    assert corpus.test[1].labels == (0, 1) and corpus.test[1].doc_id == "test-3"
    assert corpus.label_counts.tolist() == [1, 1, 1, 1]


def test_count_mode_repeats_rounded_values(tmp_path: Path) -> None:
    corpus = XCBowReader(data_dir=str(write(tmp_path / "d")), repeat="count").load()
    assert corpus.train[1].text == "f2 f2 f2 f1 f1"
    assert corpus.train[0].text == "f7 f3"  # values below 1 still appear once
    capped = XCBowReader(data_dir=str(write(tmp_path / "e")), repeat="count", max_repeat=2)
    assert capped.load().train[1].text == "f2 f2 f1 f1"


def test_prefixed_files(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "eurlex_train.txt").write_text(TRAIN)
    (root / "eurlex_test.txt").write_text(TEST)
    corpus = XCBowReader(data_dir=str(root)).load()
    assert len(corpus.train) == 3 and corpus.name == "d"
    (root / "other_train.txt").write_text(TRAIN)
    with pytest.raises(DatasetNotFoundError, match="prefix"):
        XCBowReader(data_dir=str(root)).load()
    assert XCBowReader(data_dir=str(root), prefix="eurlex").load().name == "eurlex"


def test_bad_label_id(tmp_path: Path) -> None:
    root = write(tmp_path / "d", **{"train.txt": "2 10 4\n0,4 1:1\n1 2:1\n"})
    err = _error(root)
    assert err.path == str(root / "train.txt") and err.line == 2
    assert f"{root / 'train.txt'}:2: label id '4'" in str(err)
    root = write(tmp_path / "e", **{"train.txt": "2 10 4\n0,x 1:1\n1 2:1\n"})
    assert _error(root).line == 2
    corpus = XCBowReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"bad-label": 1} and len(corpus.train) == 1


def test_bad_feature(tmp_path: Path) -> None:
    for i, line in enumerate(["0 10:1", "0 3", "0 3:abc", "0 3:nan", "0 -1:2"]):
        root = write(tmp_path / f"d{i}", **{"train.txt": f"2 10 4\n1 2:1\n{line}\n"})
        err = _error(root)
        assert err.line == 3 and "feature" in str(err), line


def test_header_count_disagrees_with_file(tmp_path: Path) -> None:
    root = write(tmp_path / "d", **{"test.txt": TEST + "3 8:1\n"})
    err = _error(root)
    assert err.path == str(root / "test.txt") and err.line == 4
    assert "header promises 2 documents" in str(err)
    corpus = XCBowReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"beyond-header-count": 1} and len(corpus.test) == 2
    root = write(tmp_path / "e", **{"test.txt": "5 10 4\n2 4:1\n"})
    err = _error(root)
    assert err.line == 1 and "header says 5 documents but the file has 1" in str(err)


def test_bad_headers(tmp_path: Path) -> None:
    for i, header in enumerate(["3 10", "a b c", "3 10 -4", ""]):
        root = write(tmp_path / f"d{i}", **{"train.txt": f"{header}\n0 1:1\n"})
        err = _error(root, skip_bad_lines=True)  # a broken header cannot be skipped
        assert err.path == str(root / "train.txt") and err.line == 1, header
    root = write(tmp_path / "e", **{"train.txt": ""})
    assert "empty file" in str(_error(root))
    root = write(tmp_path / "f", **{"test.txt": "2 10 5\n2 4:0.1\n0,1 5:1.5\n"})
    err = _error(root)
    assert err.path == str(root / "test.txt") and err.line == 1 and "L=5" in str(err)


def test_empty_document_and_unlabelled(tmp_path: Path) -> None:
    root = write(tmp_path / "d", **{"train.txt": "3 10 4\n0,1\n 2:1\n1 1:1\n"})
    err = _error(root)
    assert err.line == 2 and "empty document" in str(err)
    corpus = XCBowReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"empty-document": 1}
    assert corpus.meta["dropped"] == {"no-labels": 1}
    assert [d.doc_id for d in corpus.train] == ["train-4"]


def test_undecodable_bytes(tmp_path: Path) -> None:
    root = write(tmp_path / "d", **{"train.txt": b"2 10 4\n0 1:1\n1 2:\xff1\n"})
    err = _error(root)
    assert err.line == 3 and "utf-8" in str(err)
    root = write(tmp_path / "e", **{"train.txt": b"\xff 10 4\n"})
    assert _error(root).line == 1
