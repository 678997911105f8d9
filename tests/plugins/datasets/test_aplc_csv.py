"""aplc-csv: APLC-XLNet's train.csv / dev.csv / labels.txt, malformed rows named by line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from harness.errors import DatasetNotFoundError, InputError
from plugins.datasets.aplc_csv import APLCCSVReader


def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


HEADER = ["id", "text", "label"]
LABELS = "sports\npolitics\nscience\n"
TRAIN = [
    HEADER,
    ["0", "the match ended in a draw", "sports"],
    ["1", "vote, then debate", "politics,science"],
]
DEV = [HEADER, ["7", "a new telescope\nsees far", "science"]]


def write(folder: Path, **files: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    defaults: dict[str, str | bytes] = {
        "train.csv": csv_text(TRAIN),
        "dev.csv": csv_text(DEV),
        "labels.txt": LABELS,
    }
    for name, content in {**defaults, **{k.replace("_", "."): v for k, v in files.items()}}.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


def _error(root: Path) -> InputError:
    with pytest.raises(InputError) as info:
        APLCCSVReader(data_dir=str(root)).load()
    return info.value


def test_reads_format(tmp_path: Path) -> None:
    corpus = APLCCSVReader(data_dir=str(write(tmp_path / "eurlex"))).load()
    assert corpus.name == "eurlex"
    assert corpus.label_names == ["sports", "politics", "science"]  # labels.txt order
    assert [d.doc_id for d in corpus.train] == ["train-0", "train-1"]
    assert corpus.train[1].text == "vote, then debate"
    assert corpus.train[1].labels == (1, 2)
    assert [d.doc_id for d in corpus.test] == ["test-7"]  # dev.csv is the test split
    assert corpus.test[0].text == "a new telescope\nsees far"  # quoted multi-line field


def test_missing_files(tmp_path: Path) -> None:
    root = write(tmp_path / "d")
    (root / "dev.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match="dev.csv"):
        APLCCSVReader(data_dir=str(root)).load()


def test_wrong_column_count(tmp_path: Path) -> None:
    rows = [*TRAIN, ["2", "only two columns"], ["3", "fine", "sports"]]
    root = write(tmp_path / "d", train_csv=csv_text(rows))
    err = _error(root)
    assert err.path == str(root / "train.csv") and err.line == 4
    assert f"{root / 'train.csv'}:4: expected 3 columns" in str(err)
    corpus = APLCCSVReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"wrong-column-count": 1}
    assert [d.doc_id for d in corpus.train] == ["train-0", "train-1", "train-3"]


def test_line_number_is_where_a_multiline_record_starts(tmp_path: Path) -> None:
    rows = [HEADER, ["0", "line one\nline two\nline three", "sports"], ["1", "x", "nope"]]
    root = write(tmp_path / "d", train_csv=csv_text(rows))
    err = _error(root)
    assert err.line == 5 and "'nope' is not in labels.txt" in str(err)


def test_label_missing_from_label_map(tmp_path: Path) -> None:
    rows = [*DEV, ["8", "a goal", "sports,football"]]
    root = write(tmp_path / "d", dev_csv=csv_text(rows))
    err = _error(root)
    assert err.path == str(root / "dev.csv") and err.line == 4
    assert "'football' is not in labels.txt" in str(err)
    corpus = APLCCSVReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"unknown-label": 1} and len(corpus.test) == 1


def test_empty_document_and_unlabelled(tmp_path: Path) -> None:
    rows = [*TRAIN, ["2", "  ", "sports"], ["3", "no labels here", ""]]
    root = write(tmp_path / "d", train_csv=csv_text(rows))
    err = _error(root)
    assert err.line == 4 and "empty document" in str(err)
    corpus = APLCCSVReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"empty-document": 1}
    assert corpus.meta["dropped"] == {"no-labels": 1}


def test_undecodable_bytes(tmp_path: Path) -> None:
    data = csv_text(TRAIN).encode() + b'2,"bad \xff\xfe bytes",sports\n'
    root = write(tmp_path / "d", train_csv=data)
    err = _error(root)
    assert err.path == str(root / "train.csv") and err.line == 4 and "utf-8" in str(err)
    corpus = APLCCSVReader(data_dir=str(root), skip_bad_lines=True).load()
    assert corpus.skipped == {"undecodable": 1} and len(corpus.train) == 2


def test_unterminated_quote_is_an_error_not_a_swallowed_file(tmp_path: Path) -> None:
    data = csv_text(TRAIN) + '2,"never closed,sports\n3,more,sports\n'
    root = write(tmp_path / "d", train_csv=data)
    err = _error(root)
    assert err.path == str(root / "train.csv") and err.line == 4
    assert "not valid CSV" in str(err)


def test_header_and_duplicates(tmp_path: Path) -> None:
    root = write(tmp_path / "d", train_csv="id,text\n0,x,sports\n")
    err = _error(root)
    assert err.line == 1 and "header row" in str(err)
    root = write(tmp_path / "e", train_csv="")
    assert "empty file" in str(_error(root))
    rows = [*TRAIN, ["1", "again", "sports"]]
    root = write(tmp_path / "f", train_csv=csv_text(rows))
    err = _error(root)
    assert err.line == 4 and "already used at line 3" in str(err)
    root = write(tmp_path / "g", labels_txt="sports\npolitics\nsports\n")
    err = _error(root)
    assert err.path.endswith("labels.txt") and err.line == 3


def test_hundred_thousand_word_document(tmp_path: Path) -> None:
    long_text = " ".join(["word"] * 100_000)  # 500 kB: above csv's default field limit
    root = write(tmp_path / "d", train_csv=csv_text([*TRAIN, ["2", long_text, "science"]]))
    corpus = APLCCSVReader(data_dir=str(root)).load()
    assert len(corpus.train[2].words) == 100_000
