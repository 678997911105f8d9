"""Hostile input: every file reader, fed random bytes or mutated lines, raises only InputError.

An InputError must name one of the reader's files and a line; any other exception (an
IndexError, a UnicodeDecodeError, a csv.Error) escaping a reader is a bug these tests catch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from plugins.datasets.aplc_csv import APLCCSVReader
from plugins.datasets.reuters21578 import ReutersReader
from plugins.datasets.xc_bow import XCBowReader
from plugins.datasets.xc_raw import XCRawReader

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REUTERS_DOC = (
    '<REUTERS TOPICS="YES" LEWISSPLIT="{split}" CGISPLIT="TRAINING-SET" OLDID="5" NEWID="{i}">\n'
    "<DATE>26-FEB-1987 15:01:01.79</DATE>\n<TOPICS><D>cocoa</D></TOPICS>\n"
    "<PLACES><D>el-salvador</D><D>usa</D></PLACES>\n<PEOPLE></PEOPLE>\n<ORGS></ORGS>\n"
    "<EXCHANGES></EXCHANGES>\n<COMPANIES></COMPANIES>\n<UNKNOWN>&#5;&#5;C T</UNKNOWN>\n"
    "<TEXT>&#2;\n<TITLE>BAHIA COCOA &lt;REVIEW&gt;</TITLE>\n"
    "<DATELINE>SALVADOR, Feb 26 - </DATELINE><BODY>Showers continued in\nthe zone.\n"
    " Reuter\n&#3;</BODY></TEXT>\n</REUTERS>\n"
)

# name -> (reader factory over a folder, the folder's valid files)
LAYOUTS: dict[str, tuple[Callable[[str], object], dict[str, bytes]]] = {
    "xc-raw": (
        lambda d: XCRawReader(data_dir=d, label_file="labels.txt"),
        {
            "train_texts.txt": b"the cat sat\na dog barked\n",
            "train_labels.txt": b"cats animals\ndogs\n",
            "test_texts.txt": b"a cat and a dog\n",
            "test_labels.txt": b"cats dogs\n",
            "labels.txt": b"cats\ndogs\nanimals\n",
        },
    ),
    "aplc-csv": (
        lambda d: APLCCSVReader(data_dir=d),
        {
            "train.csv": b'id,text,label\n0,"the match, drawn",sports\n1,vote,"politics,science"\n',
            "dev.csv": b'id,text,label\n7,"a telescope\nsees",science\n',
            "labels.txt": b"sports\npolitics\nscience\n",
        },
    ),
    "xc-bow": (
        lambda d: XCBowReader(data_dir=d),
        {
            "train.txt": b"2 10 4\n0,2 3:0.5 7:0.9\n1 1:2.0 2:3.0\n",
            "test.txt": b"1 10 4\n2 4:0.1\n",
        },
    ),
    "reuters21578": (
        lambda d: ReutersReader(data_dir=d, offline=True),
        {
            "reut2-000.sgm": (
                '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n'
                + REUTERS_DOC.format(split="TRAIN", i=1)
                + REUTERS_DOC.format(split="TEST", i=2)
            ).encode("latin-1"),
        },
    ),
}


def _check(layout: str, files: dict[str, bytes], skip: bool = False) -> None:
    """Load the layout with ``files`` replacing its valid ones: success or a located InputError."""
    factory, valid = LAYOUTS[layout]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in {**valid, **files}.items():
            (root / name).write_bytes(data)
        reader = factory(str(root))
        reader.skip_bad_lines = skip  # type: ignore[attr-defined]
        try:
            corpus = reader.load()  # type: ignore[attr-defined]
        except InputError as err:
            assert "\n" not in str(err), err
            if err.line is None:  # a whole split is empty: names its file (or the folder)
                assert "split is empty" in str(err), err
                assert Path(err.path) == root or Path(err.path).parent == root, err
                assert str(err).startswith(f"{err.path}: ")
                return
            assert Path(err.path).parent == root, err
            assert Path(err.path).name in {**valid, **files}, err
            assert err.line >= 1, err
            assert str(err).startswith(f"{err.path}:{err.line}: ")
            return
        for doc in corpus.train + corpus.test:
            assert doc.text.strip() and doc.labels
            assert all(0 <= i < corpus.n_labels for i in doc.labels)


def _mutate(data: bytes, ops: list[tuple[int, int, bytes]]) -> bytes:
    """Apply line-level mutations: delete, duplicate, replace, insert into, swap, truncate."""
    lines = data.split(b"\n")
    for op, pos, junk in ops:
        if not lines:
            break
        i = pos % len(lines)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            lines[i] = junk
        elif op == 3:
            cut = pos % (len(lines[i]) + 1)
            lines[i] = lines[i][:cut] + junk + lines[i][cut:]
        elif op == 4:
            j = (pos * 7 + 3) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        else:
            return b"\n".join(lines)[: pos % (len(data) + 1)]
    return b"\n".join(lines)


# Junk that reaches the parsers' deeper branches, not only their first check.
JUNK = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"",
            b",",
            b":",
            b" ",
            b'"',
            b"\xff\xfe",
            b"\x00",
            b"0,1",
            b"3:0.5",
            b"-1:2",
            b"1e999",
            b"nan",
            b"9 9 9",
            b"<REUTERS>",
            b'<REUTERS LEWISSPLIT="TRAIN" NEWID="1">',
            b"</REUTERS>",
            b"<D>",
            b"</D>",
            b"<TOPICS>",
            b"</TOPICS>",
            b"<TITLE>",
            b"<BODY>",
            b"&#3;",
            b"&#99999999;",
            b"&lt",
            "caf\u00e9".encode("latin-1"),
            "caf\u00e9".encode(),
        ]
    ),
)
OPS = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10_000), JUNK), min_size=1, max_size=6)


def _files(layout: str) -> list[str]:
    return sorted(LAYOUTS[layout][1])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@SETTINGS
@given(data=st.data())
def test_random_bytes(layout: str, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(_files(layout)))
    blob = data.draw(st.binary(max_size=400) | st.lists(JUNK, max_size=30).map(b"\n".join))
    skip = data.draw(st.booleans())
    _check(layout, {name: blob}, skip)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@SETTINGS
@given(data=st.data())
def test_mutated_lines(layout: str, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(_files(layout)))
    ops = data.draw(OPS)
    skip = data.draw(st.booleans())
    _check(layout, {name: _mutate(LAYOUTS[layout][1][name], ops)}, skip)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_valid_layouts_load(layout: str) -> None:
    """The base files the mutations start from are themselves valid (so mutations matter)."""
    factory, valid = LAYOUTS[layout]
    with tempfile.TemporaryDirectory() as tmp:
        for name, blob in valid.items():
            (Path(tmp) / name).write_bytes(blob)
        corpus = factory(tmp).load()  # type: ignore[attr-defined]
    assert corpus.train and corpus.test
