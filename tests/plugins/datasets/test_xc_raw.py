"""xc-raw: AttentionXML layout, read in lockstep; every malformed line named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import DatasetNotFoundError, InputError, UsageError
from harness.registry import load_registry
from plugins.datasets.xc_raw import XCRawReader


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


GOOD = {
    "train_texts.txt": "the cat sat on the mat\na dog barked loudly\nbirds fly south\n",
    "train_labels.txt": "animals cats\nanimals dogs\nbirds\n",
    "test_texts.txt": "a cat and a dog\nfish swim\n",
    "test_labels.txt": "cats dogs\nfish\n",
}


def test_reads_layout_and_sorts_labels(tmp_path: Path) -> None:
    corpus = XCRawReader(data_dir=str(write(tmp_path / "wiki", GOOD))).load()
    assert corpus.name == "wiki"
    assert corpus.label_names == ["animals", "birds", "cats", "dogs", "fish"]
    assert [d.doc_id for d in corpus.train] == ["train-1", "train-2", "train-3"]
    assert corpus.train[0].text == "the cat sat on the mat"
    assert [corpus.label_names[i] for i in corpus.train[0].labels] == ["animals", "cats"]
    assert [corpus.label_names[i] for i in corpus.test[1].labels] == ["fish"]
    assert corpus.label_counts.tolist() == [2, 1, 1, 1, 0]
    assert (corpus.propensity_a, corpus.propensity_b) == (0.55, 1.5)


def test_raw_texts_preferred_and_selectable(tmp_path: Path) -> None:
    files = dict(GOOD)
    files["train_raw_texts.txt"] = "The Cat.\nA Dog!\nBirds?\n"
    files["test_raw_texts.txt"] = "Cat, dog.\nFish.\n"
    root = write(tmp_path / "d", files)
    assert XCRawReader(data_dir=str(root)).load().train[0].text == "The Cat."
    plain = XCRawReader(data_dir=str(root), text_file="texts").load()
    assert plain.train[0].text == "the cat sat on the mat"


def test_registry_component_and_propensity_override(tmp_path: Path) -> None:
    reg_file = tmp_path / "reg.yaml"
    reg_file.write_text("datasets:\n  - plugins.datasets.xc_raw\n")
    reg = load_registry(registry_file=reg_file)
    root = write(tmp_path / "d", GOOD)
    corpus = reg.build(
        "dataset", "xc-raw", {"data_dir": str(root), "propensity_a": "0.6", "propensity_b": "2.6"}
    ).load()
    assert (corpus.propensity_a, corpus.propensity_b) == (0.6, 2.6)
    with pytest.raises(UsageError, match="propensity_a"):
        reg.build("dataset", "xc-raw", {"propensity_a": "0"})
    with pytest.raises(UsageError, match="text_file"):
        reg.build("dataset", "xc-raw", {"text_file": "html"})


def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="--data-dir"):
        XCRawReader().load()
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        XCRawReader(data_dir=str(tmp_path / "nope")).load()
    write(tmp_path / "half", {"train_texts.txt": "x\n"})
    with pytest.raises(DatasetNotFoundError, match="train_labels.txt"):
        XCRawReader(data_dir=str(tmp_path / "half")).load()


def _error(root: Path, **kw: object) -> InputError:
    with pytest.raises(InputError) as info:
        XCRawReader(data_dir=str(root), **kw).load()  # type: ignore[arg-type]
    return info.value


def test_empty_document_names_file_and_line(tmp_path: Path) -> None:
    files = dict(GOOD, **{"train_texts.txt": "the cat\n   \nbirds fly\n"})
    root = write(tmp_path / "d", files)
    err = _error(root)
    assert err.path == str(root / "train_texts.txt") and err.line == 2
    assert f"{root / 'train_texts.txt'}:2" in str(err) and "empty document" in str(err)
    corpus = XCRawReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"empty-document": 1}
    assert [d.doc_id for d in corpus.train] == ["train-1", "train-3"]


def test_line_count_mismatch(tmp_path: Path) -> None:
    files = dict(GOOD, **{"test_labels.txt": "cats dogs\nfish\nbirds\n"})
    root = write(tmp_path / "d", files)
    err = _error(root)
    assert err.path == str(root / "test_labels.txt") and err.line == 3
    assert "test_texts.txt ends at line 2" in str(err)
    files = dict(GOOD, **{"test_texts.txt": "a\nb\nc\nd\n"})
    root = write(tmp_path / "e", files)
    err = _error(root)
    assert err.path == str(root / "test_texts.txt") and err.line == 3
    corpus = XCRawReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"unpaired-line": 2}


def test_undecodable_line_mixed_encodings(tmp_path: Path) -> None:
    # line 2 is latin-1 inside a UTF-8 file
    text = "caf\u00e9 au lait\n".encode() + "caf\u00e9 noir\n".encode("latin-1") + b"tea\n"
    root = write(tmp_path / "d", dict(GOOD, **{"train_texts.txt": text}))
    err = _error(root)
    assert err.path.endswith("train_texts.txt") and err.line == 2
    assert "utf-8" in str(err) and ":2:" in str(err)
    corpus = XCRawReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"undecodable": 1}
    assert corpus.train[0].text == "caf\u00e9 au lait"
    latin = XCRawReader(data_dir=str(root), encoding="latin-1").load()
    assert latin.train[1].text == "caf\u00e9 noir"
    with pytest.raises(UsageError, match="dataset:xc-raw.encoding: unknown encoding"):
        XCRawReader(data_dir=str(root), encoding="no-such-codec").load()


def test_label_missing_from_label_map(tmp_path: Path) -> None:
    files = dict(GOOD, **{"labels.txt": "animals\ncats\ndogs\nbirds\n"})
    root = write(tmp_path / "d", files)
    err = _error(root, label_file="labels.txt")
    assert err.path == str(root / "test_labels.txt") and err.line == 2
    assert "'fish' is not in the label map" in str(err)
    corpus = XCRawReader(data_dir=str(root), label_file="labels.txt", skip_bad_lines=True).load()
    assert corpus.label_names == ["animals", "cats", "dogs", "birds"]  # label map order kept
    assert corpus.skipped == {"unknown-label": 1}
    assert len(corpus.test) == 1


def test_duplicate_in_label_map(tmp_path: Path) -> None:
    files = dict(GOOD, **{"labels.txt": "animals\ncats\n\nanimals\n"})
    root = write(tmp_path / "d", files)
    err = _error(root, label_file="labels.txt")
    assert err.path == str(root / "labels.txt") and err.line == 4
    assert "already listed at line 1" in str(err)


def test_unlabelled_documents_are_dropped_and_counted(tmp_path: Path) -> None:
    files = dict(GOOD, **{"train_labels.txt": "animals cats\n\nbirds\n"})
    corpus = XCRawReader(data_dir=str(write(tmp_path / "d", files))).load()
    assert len(corpus.train) == 2 and corpus.meta["dropped"] == {"no-labels": 1}
    assert corpus.skipped == {}


def test_hundred_thousand_word_document(tmp_path: Path) -> None:
    long_text = " ".join(f"w{i % 977}" for i in range(100_000))
    files = dict(GOOD, **{"train_texts.txt": f"short\n{long_text}\nbirds\n"})
    corpus = XCRawReader(data_dir=str(write(tmp_path / "d", files))).load()
    assert len(corpus.train[1].words) == 100_000
