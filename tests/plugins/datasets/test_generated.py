"""Generated dataset files for every file-reading dataset plugin (hypothesis).

Each example draws a small labelled corpus and writes it in one plugin's format
(``reuters21578``, ``xc-raw``, ``aplc-csv``, ``xc-bow``). Two properties per format:

* **dressed**: written with any line breaks (LF, CRLF, a lone CR), with or without a UTF-8
  byte-order mark and a final line break, in UTF-8 or Latin-1, the files load to exactly the
  corpus they were written from: no documents merged, no mark inside a label;
* **damaged**: the same files truncated, with bytes replaced, lines made over-long, junk
  inserted, a foreign byte-order mark, a header that lies, through the real ``data stats``
  command (in-process): exit 0 with a clean stderr, or exit 2 with one stderr line naming a
  file of the dataset or an option; never a traceback, never more than a few CPU seconds.

The record limit is lowered to a few KiB (and the memory limit to 1 MiB) so that over-long
lines and over-large claims stay small files; the real limits are pinned in
``tests/test_datasets_limits.py``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.data import Corpus
from harness.errors import HarnessError
from harness.registry import load_registry
from plugins.datasets import _limits
from tests.helpers.cli import assert_clean_outcome, main_captured

LAYOUTS = ("reuters21578", "xc-raw", "aplc-csv", "xc-bow")
SMALL_RECORD = 4096
SMALL_MEMORY = 2**20
CPU_BOUND_S = 10.0  # a hang detector, not a measurement: an example takes milliseconds

DRESSED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAMAGED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Latin-1 words keep one accented letter between ASCII ones, so Latin-1 bytes are never
# valid UTF-8 (Reuters decodes each line as UTF-8, falling back to Latin-1).
LATIN_WORDS = ("cocoa", "grain", "café", "naïve", "Zürich", "the", "of", "rose", "5.5", "U.S.")
UTF8_WORDS = ("日本", "Ωmega", "straße")
LABELS = ("cocoa", "grain", "café", "ship", "money-fx", "Zürich", "acq")


@dataclass(frozen=True)
class Doc:
    lines: tuple[tuple[str, ...], ...]  # the text: lines of words
    labels: tuple[str, ...]  # distinct label names, in the order written


@dataclass(frozen=True)
class Dress:
    encoding: str  # utf-8 or latin-1
    newline: str  # "\n", "\r\n" or "\r"
    final_newline: bool
    bom: bool  # a UTF-8 byte-order mark at the start of every file (UTF-8 only)


@contextlib.contextmanager
def small_limits() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_limits, "MAX_RECORD_CHARS", SMALL_RECORD)
        mp.setattr(_limits, "memory_limit", lambda: SMALL_MEMORY)
        yield


# --- the corpus and its formats -------------------------------------------------------------


@st.composite
def docs(draw: st.DrawFn, utf8: bool) -> Doc:
    words = st.sampled_from(LATIN_WORDS + (UTF8_WORDS if utf8 else ()))
    lines = draw(
        st.lists(st.lists(words, min_size=1, max_size=6).map(tuple), min_size=1, max_size=3)
    )
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3, unique=True))
    return Doc(tuple(lines), tuple(labels))


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[Doc], list[Doc], Dress]:
    encoding = draw(st.sampled_from(("utf-8", "latin-1")))
    utf8 = encoding == "utf-8"
    dress = Dress(
        encoding,
        draw(st.sampled_from(("\n", "\r\n", "\r"))),
        draw(st.booleans()),
        utf8 and draw(st.booleans()),
    )
    train = draw(st.lists(docs(utf8), min_size=1, max_size=5))
    test = draw(st.lists(docs(utf8), min_size=1, max_size=3))
    return train, test, dress


def _file(lines: list[str], dress: Dress) -> bytes:
    text = dress.newline.join(lines) + (dress.newline if dress.final_newline else "")
    return (b"\xef\xbb\xbf" if dress.bom else b"") + text.encode(dress.encoding)


def _flat(doc: Doc) -> str:
    return " ".join(w for line in doc.lines for w in line)


def _multiline(doc: Doc) -> str:
    return "\n".join(" ".join(line) for line in doc.lines)


def write_reuters(train: list[Doc], test: list[Doc], dress: Dress) -> dict[str, bytes]:
    lines = ['<!DOCTYPE lewis SYSTEM "lewis.dtd">']
    for i, (split, doc) in enumerate([("TRAIN", d) for d in train] + [("TEST", d) for d in test]):
        topics = "".join(f"<D>{name}</D>" for name in doc.labels)
        title, *body = [" ".join(line) for line in doc.lines]
        lines += [
            f'<REUTERS TOPICS="YES" LEWISSPLIT="{split}" CGISPLIT="TRAINING-SET" NEWID="{i + 1}">',
            f"<TOPICS>{topics}</TOPICS>",
            "<PLACES></PLACES><PEOPLE></PEOPLE><ORGS></ORGS><EXCHANGES></EXCHANGES>",
            f"<TEXT>&#2;<TITLE>{title}</TITLE>",
            "<BODY>" + "\n".join(body),
            "&#3;</BODY></TEXT>",
            "</REUTERS>",
        ]
    return {"reut2-000.sgm": _file("\n".join(lines).split("\n"), dress)}


def write_xc_raw(train: list[Doc], test: list[Doc], dress: Dress) -> dict[str, bytes]:
    out = {}
    for split, ds in (("train", train), ("test", test)):
        out[f"{split}_texts.txt"] = _file([_flat(d) for d in ds], dress)
        out[f"{split}_labels.txt"] = _file([" ".join(d.labels) for d in ds], dress)
    return out


def write_aplc_csv(train: list[Doc], test: list[Doc], dress: Dress) -> dict[str, bytes]:
    out = {"labels.txt": _file(list(LABELS), dress)}
    for name, ds in (("train.csv", train), ("dev.csv", test)):
        buf = io.StringIO()
        # Minimal quoting quotes a field holding a character of the line terminator only, so
        # under CR line breaks the texts' LF must be quoted explicitly.
        quoting = csv.QUOTE_ALL if dress.newline == "\r" else csv.QUOTE_MINIMAL
        writer = csv.writer(buf, lineterminator=dress.newline, quoting=quoting)
        writer.writerow(["id", "text", "labels"])
        for i, d in enumerate(ds):
            writer.writerow([f"d{i}", _multiline(d), ",".join(d.labels)])
        text = buf.getvalue()
        if not dress.final_newline:
            text = text[: -len(dress.newline)]
        out[name] = (b"\xef\xbb\xbf" if dress.bom else b"") + text.encode(dress.encoding)
    return out


def write_xc_bow(train: list[Doc], test: list[Doc], dress: Dress) -> dict[str, bytes]:
    """Labels are ids into LABELS; each word is a feature (its vocabulary index), written in
    decreasing value so the reader's order is the file's."""
    vocab = {w: i for i, w in enumerate(LATIN_WORDS + UTF8_WORDS)}
    out = {}
    for split, ds in (("train", train), ("test", test)):
        lines = [f"{len(ds)} {len(vocab)} {len(LABELS)}"]
        for d in ds:
            fids = list(dict.fromkeys(vocab[w] for line in d.lines for w in line))
            feats = " ".join(f"{f}:{len(fids) - k}.5" for k, f in enumerate(fids))
            lines.append(",".join(str(LABELS.index(n)) for n in d.labels) + " " + feats)
        out[f"{split}.txt"] = _file(lines, dress)
    return out


WRITERS = {
    "reuters21578": write_reuters,
    "xc-raw": write_xc_raw,
    "aplc-csv": write_aplc_csv,
    "xc-bow": write_xc_bow,
}


def expected(layout: str, ds: list[Doc]) -> list[tuple[str, frozenset[str]]]:
    """(text, label names) of each document as the reader should return it."""
    vocab = LATIN_WORDS + UTF8_WORDS
    out = []
    for d in ds:
        if layout == "reuters21578":
            text = _multiline(d)
            names = frozenset(f"topics:{n}" for n in d.labels)
        elif layout == "xc-bow":
            fids = dict.fromkeys(vocab.index(w) for line in d.lines for w in line)
            text = " ".join(f"f{f}" for f in fids)
            names = frozenset(str(LABELS.index(n)) for n in d.labels)
        else:
            text = _flat(d) if layout == "xc-raw" else _multiline(d)
            names = frozenset(d.labels)
        out.append((text, names))
    return out


def observed(corpus: Corpus, split: str) -> list[tuple[str, frozenset[str]]]:
    return [
        (d.text, frozenset(corpus.label_names[i] for i in d.labels)) for d in corpus.split(split)
    ]


def write(root: Path, files: dict[str, bytes]) -> None:
    for name, blob in files.items():
        (root / name).write_bytes(blob)


def options(layout: str, root: Path, dress: Dress) -> dict[str, str]:
    opts = {"data_dir": str(root)}
    if layout == "reuters21578":
        opts["offline"] = "1"
    else:
        opts["encoding"] = dress.encoding
    return opts


# --- dressed: valid files load to exactly the corpus written --------------------------------

REGISTRY = load_registry(())


@pytest.mark.parametrize("layout", LAYOUTS)
@DRESSED
@given(drawn=corpora())
def test_dressed_files_load_to_the_corpus_written(
    layout: str, drawn: tuple[list[Doc], list[Doc], Dress]
) -> None:
    train, test, dress = drawn
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root, WRITERS[layout](train, test, dress))
        corpus = REGISTRY.build("dataset", layout, options(layout, root, dress)).load()
    assert corpus.skipped == {}
    assert observed(corpus, "train") == expected(layout, train)
    assert observed(corpus, "test") == expected(layout, test)
    assert not any(name.startswith("\ufeff") or "\r" in name for name in corpus.label_names)


# --- damaged: one clean line and exit 2, or success ------------------------------------------

# Junk that reaches the parsers' deeper branches, not only their first check.
JUNK = st.one_of(
    st.binary(max_size=24),
    st.sampled_from(
        [
            b"\r",
            b"\r\n",
            b"\x00",
            b'"',
            b",",
            b":",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"\xed\xa0\x80",  # an encoded surrogate: never valid UTF-8
            b"0 0 0",
            b"5 10 1000000000000",
            b"1:1e400",
            b"3:nan",
            b"1_0:2",
            b"\xd9\xa3:1",  # an Arabic-Indic digit
            b"9" * 700,
            b"<REUTERS ",
            b"<REUTERS>",
            b"</REUTERS>",
            b"<TOPICS>",
            b"<D>",
            b"</D>",
            b"<BODY>",
            b"&#" + b"9" * 5000 + b";",
            b'NEWID="' + b"9" * 40 + b'"',
            b'LEWISSPLIT="TEST"',
        ]
    ),
)


@st.composite
def damage(draw: st.DrawFn, files: dict[str, bytes]) -> dict[str, bytes]:
    """One to four edits, each to a file of the dataset."""
    out = dict(files)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(out)))
        blob = out[name]
        at = draw(st.integers(0, len(blob)))
        kind = draw(
            st.sampled_from(
                ("truncate", "replace", "insert", "long-line", "foreign-bom", "empty", "lie")
            )
        )
        if kind == "truncate":
            blob = blob[:at]
        elif kind == "replace":
            junk = draw(JUNK)
            blob = blob[:at] + junk + blob[at + len(junk) :]
        elif kind == "insert":
            blob = blob[:at] + draw(JUNK) + blob[at:]
        elif kind == "long-line":
            filler = draw(st.sampled_from((b"a", b"<REUTERS ", b'"', b"1:1 ", b"\xe9")))
            blob = blob[:at] + filler * (SMALL_RECORD // len(filler) + 1) + blob[at:]
        elif kind == "foreign-bom":
            blob = draw(st.sampled_from((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))) + blob
        elif kind == "empty":
            blob = b""
        else:  # a header (or first line) that lies
            head, sep, rest = blob.partition(b"\n")
            n = st.integers(0, 10**15).map(lambda v: str(v).encode())
            lie = b" ".join([draw(n), draw(n), draw(n)])
            blob = (
                draw(st.sampled_from((lie, b"60 50 1000000000000", b"-1 2 3", b"1 2"))) + sep + rest
            )
        out[name] = blob
    return out


@st.composite
def damaged_dataset(draw: st.DrawFn, layout: str) -> tuple[dict[str, bytes], dict[str, str]]:
    """Damaged files of ``layout`` and the dataset options to read them with (as strings)."""
    train, test, dress = draw(corpora())
    files = draw(damage(WRITERS[layout](train, test, dress)))
    opts = {k: v for k, v in options(layout, Path("."), dress).items() if k != "data_dir"}
    if draw(st.booleans()):
        opts["skip_bad_lines"] = "1"
    if layout == "xc-bow" and draw(st.booleans()):
        opts |= {"repeat": "count", "max_repeat": str(draw(st.integers(1, 10**6)))}
    return files, opts


@pytest.mark.parametrize("layout", LAYOUTS)
@DAMAGED
@given(data=st.data())
def test_damaged_files_load_or_raise_one_located_line(layout: str, data: st.DataObject) -> None:
    """The reader in-process: a corpus, or a HarnessError of one line naming a file of the
    dataset (what the CLI prints with exit code 2); any other exception is a bug."""
    files, opts = data.draw(damaged_dataset(layout))
    with tempfile.TemporaryDirectory() as tmp, small_limits():
        root = Path(tmp).resolve()
        write(root, files)
        start = time.process_time()
        try:
            corpus = REGISTRY.build("dataset", layout, {**opts, "data_dir": str(root)}).load()
        except HarnessError as exc:
            message = str(exc)
            assert "\n" not in message, message
            assert message.startswith(str(root)) or f"dataset:{layout}." in message, message
        else:
            assert corpus.train and corpus.test
            for doc in corpus.train + corpus.test:
                assert doc.text.strip() and doc.labels
                assert all(0 <= i < corpus.n_labels for i in doc.labels)
        spent = time.process_time() - start
    assert spent < CPU_BOUND_S, f"{spent:.1f} s of CPU for a file of a few KiB"


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(DAMAGED, max_examples=300)
@given(data=st.data())
def test_damaged_files_through_the_command(layout: str, data: st.DataObject) -> None:
    """The same, through ``xmtc-harness data stats``: exit 0, or exit 2 and one line."""
    files, opts = data.draw(damaged_dataset(layout))
    with tempfile.TemporaryDirectory() as tmp, small_limits():
        root = Path(tmp).resolve()
        write(root, files)
        argv = ["data", "stats", layout, "--data-dir", str(root), "--no-progress"]
        argv += [a for k, v in opts.items() for a in ("--opt", f"{k}={v}")]
        code, out, err = main_captured(argv)
    assert_clean_outcome(code, err, str(root), f"dataset:{layout}.")
    if code == 0:
        assert out.startswith("dataset ")
