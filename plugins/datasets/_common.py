"""Helpers shared by the built-in dataset readers: options, line streaming, bad-line policy.

This is where dataset input enters the harness, so the checks live here rather than in each
reader. Every reader streams its files line by line (a multi-gigabyte AmazonCat dump must
not be read whole) through :func:`iter_lines`, which is linear in the file, splits LF, CRLF
and lone-CR line breaks alike, drops a UTF-8 byte-order mark and bounds each line
(:mod:`plugins.datasets._limits`); it flags an undecodable or over-long line at its number.
Every malformed record goes through one :class:`BadLines` policy: raise an
:class:`~harness.errors.InputError` naming file and line, or, under ``skip_bad_lines``, drop
the record and count it by reason in ``Corpus.skipped``. :func:`make_corpus` refuses a
corpus the harness cannot use (an empty split), naming the file it came from.
"""

from __future__ import annotations

import codecs
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.components import Option
from harness.data import Corpus, Document
from harness.errors import DatasetNotFoundError, InputError, UsageError
from plugins.datasets._limits import max_record_chars

DEFAULT_PROPENSITY_A = 0.55
DEFAULT_PROPENSITY_B = 1.5

COMMON_OPTIONS: tuple[Option, ...] = (
    Option("data_dir", str, None, "Folder holding the dataset's files."),
    Option(
        "skip_bad_lines",
        bool,
        False,
        "Drop malformed records and count them by reason instead of stopping at the first.",
    ),
    Option(
        "propensity_a",
        float,
        None,
        "Jain et al. propensity constant A (docs/method.md, 'Rebalanced losses'); default 0.55.",
        min=0.0,
        min_inclusive=False,
        max=10.0,
    ),
    Option(
        "propensity_b",
        float,
        None,
        "Jain et al. propensity constant B (docs/method.md, 'Rebalanced losses'); default 1.5.",
        min=0.01,
        max=1000.0,
    ),
)
"""Options every dataset component takes (``data_dir`` is ignored by generated datasets)."""

ENCODING_OPTION = Option(
    "encoding", str, "utf-8", "Text encoding of the files; undecodable lines are bad lines."
)

_PROGRESS_EVERY = 4096  # lines between progress-bar updates: per-line tqdm calls cost too much


class BadLines:
    """The bad-record policy: raise at the first one, or count them by reason and go on."""

    def __init__(self, skip: bool):
        self.skip = skip
        self.counts: Counter[str] = Counter()

    def bad(self, path: str | Path, line: int, reason: str, message: str) -> None:
        """Report one malformed record: raises unless skipping, in which case it is counted."""
        if not self.skip:
            raise InputError(path, line, message)
        self.counts[reason] += 1

    def usable(self, path: str | Path, line: Line) -> bool:
        """True for a line without a problem; otherwise reports the problem and says False."""
        if line.problem is None:
            return True
        self.bad(path, line.number, *line.problem)
        return False


@dataclass(slots=True)
class Line:
    """One line of a file: its 1-based number, its text, and what is wrong with it if anything.

    ``problem`` is ``(reason, message)`` for a line the caller must report or skip at its
    number (``undecodable``, ``line-too-long``); ``text`` is then best effort (replacement
    characters, or empty for an over-long line).
    """

    number: int
    text: str
    problem: tuple[str, str] | None = None


# Bytes the codec could not decode, kept by the surrogateescape error handler.
_ESCAPED = re.compile("[\udc80-\udcff]")
_PROBE = "\n\r\t <>&;:,=\"'abcXYZ019"
_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _has_escapes(text: str, encoding: str) -> bool:
    """Whether ``text`` holds bytes the codec could not decode (surrogateescape'd).

    Decoded text re-encodes, escapes do not: the encode (C speed) answers for almost every
    line, four times faster than searching for the escapes; ``isascii`` is constant time.
    """
    if text.isascii():
        return False
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return _ESCAPED.search(text) is not None
    return False


def encoding_problem(encoding: str) -> str | None:
    """Why ``encoding`` cannot be read line by line, or None when it can.

    Lines are split on ASCII line breaks, so only codecs that keep ASCII as ASCII
    (UTF-8, Latin-1, cp1252, ...) work; UTF-16/32 would split mid-character.
    """
    try:
        codecs.lookup(encoding)
        same = _PROBE.encode("ascii").decode(encoding) == _PROBE
    except LookupError:
        return f"unknown encoding {encoding!r}"
    except (UnicodeError, ValueError, TypeError):
        same = False
    if not same:
        return f"{encoding!r} does not encode ASCII as ASCII; convert the files to UTF-8"
    return None


def require_encoding(dataset: str, encoding: str) -> None:
    """Check a dataset's ``encoding`` option before any file is opened."""
    problem = encoding_problem(encoding)
    if problem:
        raise UsageError(f"dataset:{dataset}.encoding", problem)


_PLAIN_NAME = re.compile(r"[\w.-]+")


def require_plain_name(dataset: str, option: str, value: str | None) -> None:
    """A name option (a corpus name, a file prefix) ends up in file names: one plain word.

    ``a/../../x`` as a corpus name once moved a cache file out of the cache folder.
    """
    if value is not None and (not _PLAIN_NAME.fullmatch(value) or value.startswith(".")):
        raise UsageError(
            f"dataset:{dataset}.{option}",
            f"{value!r} may hold only letters, digits, '_', '-' and '.' (not first)",
        )


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in {"utf-8", "utf-8-sig"}


def iter_lines(
    path: Path, encoding: str = "utf-8", progress: bool = False, fallback: str | None = None
) -> Iterator[Line]:
    """Stream ``path`` as decoded lines (newline kept as ``"\\n"``), never holding the file.

    Line breaks are LF, CRLF or a lone CR (old Mac files), as Python's text mode reads them.
    A UTF-8 byte-order mark at the start is dropped under a UTF-8 encoding; a file that starts
    with a UTF-16/32 mark, or with a UTF-8 one under another encoding, is refused at line 1.
    A line that does not decode is yielded with replacement characters and an
    ``undecodable`` problem (with ``fallback``, say ``latin-1``, it is decoded with the
    fallback instead); a line longer than :func:`max_record_chars` is yielded empty with a
    ``line-too-long`` problem, having been read past in bounded chunks. Every step is linear
    in the file's length.
    """
    problem = encoding_problem(encoding)
    if problem:
        raise InputError(path, None, problem)
    try:
        size = path.stat().st_size
        raw = open(path, "rb")  # closed in the finally below
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror or exc}") from None
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=path.name,
        disable=not progress,
        leave=False,
    )
    limit = max_record_chars()
    try:
        head = raw.peek(4)[:4]
        for bom, name in _FOREIGN_BOMS:
            if head.startswith(bom):
                raise InputError(
                    path, 1, f"starts with a {name} byte-order mark; convert the file to UTF-8"
                )
        if head.startswith(codecs.BOM_UTF8):
            if not _is_utf8(encoding):
                raise InputError(
                    path,
                    1,
                    f"starts with a UTF-8 byte-order mark but the encoding is {encoding!r} "
                    "(set the dataset option encoding=utf-8)",
                )
            raw.read(len(codecs.BOM_UTF8))
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline=None)
        done = 0
        number = 0
        while chunk := text.readline(limit + 1):
            number += 1
            if len(chunk) > limit and not chunk.endswith("\n"):
                message = f"line longer than {limit:,} characters; no dataset record is that long"
                yield Line(number, "", ("line-too-long", message))
                while chunk and not chunk.endswith("\n"):  # skipped: read past it in chunks
                    chunk = text.readline(2**20)
            elif not _has_escapes(chunk, encoding):
                yield Line(number, chunk)
            else:
                blob = chunk.encode(encoding, "surrogateescape")
                if fallback is not None:
                    yield Line(number, blob.decode(fallback, errors="replace"))
                else:
                    message = undecodable_message(encoding)
                    yield Line(
                        number,
                        blob.decode(encoding, errors="replace"),
                        ("undecodable", message),
                    )
            if number % _PROGRESS_EVERY == 0:
                at = raw.tell()
                bar.update(at - done)
                done = at
    finally:
        bar.update(size - bar.n)
        bar.close()
        raw.close()


def undecodable_message(encoding: str) -> str:
    return f"bytes that are not valid {encoding} (set the dataset option encoding=...)"


@dataclass
class LabelSpace:
    """Label names to indices: fixed (from a label map file) or growing as names appear."""

    names: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    fixed: bool = False

    @classmethod
    def from_names(cls, names: list[str]) -> LabelSpace:
        return cls(list(names), {n: i for i, n in enumerate(names)}, fixed=True)

    def get(self, name: str) -> int | None:
        """The index of ``name``; a new one unless the space is fixed (then None if unknown)."""
        i = self.index.get(name)
        if i is None and not self.fixed:
            i = self.index[name] = len(self.names)
            self.names.append(name)
        return i

    def sorted(self, splits: list[list[Document]]) -> tuple[list[str], list[list[Document]]]:
        """Renumber labels by sorted name, so indices do not depend on file order."""
        if self.fixed:
            return self.names, splits
        order = sorted(range(len(self.names)), key=self.names.__getitem__)
        remap = {old: new for new, old in enumerate(order)}
        out = [
            [Document(d.doc_id, d.text, tuple(sorted(remap[i] for i in d.labels))) for d in docs]
            for docs in splits
        ]
        return [self.names[i] for i in order], out


def require_dir(data_dir: str | None, dataset: str, expected: str) -> Path:
    """The dataset folder, or a DatasetNotFoundError saying what to pass and what it holds."""
    if not data_dir:
        raise DatasetNotFoundError(
            f"dataset {dataset}: no folder given; pass --data-dir PATH "
            f"(or --opt data_dir=PATH) pointing at a folder with {expected}"
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"dataset {dataset}: {path} is not a folder; it should hold {expected}"
        )
    return path


def make_corpus(
    name: str,
    label_names: list[str],
    train: list[Document],
    test: list[Document],
    options: dict[str, Any],
    skipped: Counter[str],
    meta: dict[str, object] | None = None,
    sources: Mapping[str, Path] | None = None,
) -> Corpus:
    """Assemble a Corpus, applying the propensity overrides of the options.

    A corpus with an empty split, which nothing can be trained or attacked on, is refused
    here for every reader alike (a header-only file, a folder without TEST documents, or
    every record skipped). ``sources`` maps ``train`` / ``test`` to the file (or folder) each
    split was read from, for the error to name; without it the error names the dataset.
    """
    for split, docs in (("train", train), ("test", test)):
        if docs:
            continue
        what = "training" if split == "train" else "test"
        problem = f"the {what} split is empty: no labelled document with text"
        lost = [f"{k} {v}" for k, v in sorted(skipped.items())]
        dropped = (meta or {}).get("dropped")
        if isinstance(dropped, dict):
            lost += [f"{k} {v}" for k, v in sorted(dropped.items()) if v]
        if lost:
            problem += f" (skipped or dropped: {', '.join(lost)})"
        where = (sources or {}).get(split)
        if where is None:
            raise UsageError(f"dataset:{name}", problem)
        raise InputError(where, None, problem)
    a = options.get("propensity_a")
    b = options.get("propensity_b")
    return Corpus(
        name=name,
        label_names=label_names,
        train=train,
        test=test,
        propensity_a=DEFAULT_PROPENSITY_A if a is None else float(a),
        propensity_b=DEFAULT_PROPENSITY_B if b is None else float(b),
        skipped=dict(sorted(skipped.items())),
        meta=dict(meta or {}),
    )


def read_label_map(path: Path, encoding: str, bad: BadLines, progress: bool = False) -> LabelSpace:
    """A label map file, one label name per line (blank lines ignored); order is kept."""
    if not path.is_file():
        raise DatasetNotFoundError(f"label map {path} not found")
    names: list[str] = []
    seen: dict[str, int] = {}
    for line in iter_lines(path, encoding, progress):
        if not bad.usable(path, line):
            continue
        name = line.text.strip()
        if not name:
            continue
        if name in seen:
            bad.bad(
                path,
                line.number,
                "duplicate-label",
                f"label {name!r} already listed at line {seen[name]}",
            )
            continue
        seen[name] = line.number
        names.append(name)
    if not names:
        raise InputError(path, 1, "label map lists no labels")
    return LabelSpace.from_names(names)


def resolve_in(data_dir: Path, name: str) -> Path:
    """``name`` as given if absolute, else inside the dataset folder."""
    p = Path(name).expanduser()
    return p if p.is_absolute() else data_dir / p
