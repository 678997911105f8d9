"""``xc-bow``: the Extreme Classification Repository's sparse bag-of-words format.

Each file starts with a header ``N D L`` (documents, features, labels), then one document per
line: ``l1,l2,... f1:v1 f2:v2 ...`` (label ids, then feature id:value pairs). Files are
``train.txt`` / ``test.txt`` or ``<prefix>_train.txt`` / ``<prefix>_test.txt``.

There is no text in this format, so a document's text is made of its feature tokens
(``f123``) so that word-based models and attacks work on it unchanged. Choice: tokens are
ordered by decreasing feature value (a model that truncates keeps the strongest
features), and by default each feature appears once, since the repository's values are
mostly tf-idf weights whose rounding means nothing; ``repeat=count`` repeats each token
``round(value)`` times (at least once, at most ``max_repeat``) for files of raw counts.
Label names are the label ids as strings (``"0"`` .. ``"L-1"``); every id the header allows
is in the label space, so indices are the file's own.

The header is a claim, not a fact: its label count is checked against this machine's memory
before any label is built, every id on a line against the header, the number of lines
against its document count; a line under ``repeat=count`` is measured before it is expanded.
Numbers are plain ASCII digits (``int`` would also take ``1_000`` or Arabic-Indic digits).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from harness import hookimpl
from harness.components import Component, Option
from harness.data import Corpus, Document
from harness.errors import DatasetNotFoundError, InputError
from plugins.datasets._common import (
    COMMON_OPTIONS,
    ENCODING_OPTION,
    BadLines,
    iter_lines,
    make_corpus,
    require_dir,
    require_encoding,
    require_plain_name,
)
from plugins.datasets._limits import BYTES_PER_LABEL, MemoryBudget, max_record_chars

MAX_REPEAT = 1_000_000
_MAX_DIGITS = 600  # below any int-to-str limit Python allows; far above any real count


def _count(token: str) -> int | None:
    """A non-negative integer written in ASCII digits, else None."""
    ok = token.isascii() and token.isdigit() and len(token) <= _MAX_DIGITS
    return int(token) if ok else None


def _value(token: str) -> float | None:
    """A finite number in plain ASCII notation (no ``_`` separators), else None."""
    if not token.isascii() or "_" in token:
        return None
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class XCBowReader:
    """Reads an Extreme Classification Repository BoW folder into a Corpus."""

    def __init__(
        self,
        data_dir: str | None = None,
        skip_bad_lines: bool = False,
        propensity_a: float | None = None,
        propensity_b: float | None = None,
        encoding: str = "utf-8",
        prefix: str | None = None,
        repeat: str = "once",
        max_repeat: int = 100,
        name: str | None = None,
    ):
        self.options = dict(propensity_a=propensity_a, propensity_b=propensity_b)
        self.data_dir = data_dir
        self.skip_bad_lines = skip_bad_lines
        self.encoding = encoding
        self.prefix = prefix
        self.repeat = repeat
        self.max_repeat = max_repeat
        self.name = name

    def _file(self, root: Path, split: str) -> Path:
        if self.prefix:
            path = root / f"{self.prefix}_{split}.txt"
            if not path.is_file():
                raise DatasetNotFoundError(f"dataset xc-bow: {path} not found")
            return path
        plain = root / f"{split}.txt"
        if plain.is_file():
            return plain
        found = sorted(root.glob(f"*_{split}.txt"))
        if len(found) == 1:
            return found[0]
        if not found:
            raise DatasetNotFoundError(
                f"dataset xc-bow: {root} holds neither {split}.txt nor a *_{split}.txt file "
                "(Extreme Classification Repository BoW format)"
            )
        names = ", ".join(p.name for p in found)
        raise DatasetNotFoundError(
            f"dataset xc-bow: {root} holds several {split} files ({names}); "
            "choose one with --opt prefix=NAME"
        )

    def load(self, progress: bool = False) -> Corpus:
        require_encoding("xc-bow", self.encoding)
        require_plain_name("xc-bow", "prefix", self.prefix)
        require_plain_name("xc-bow", "name", self.name)
        root = require_dir(self.data_dir, "xc-bow", "train.txt and test.txt")
        bad = BadLines(self.skip_bad_lines)
        dropped: Counter[str] = Counter()
        paths = {split: self._file(root, split) for split in ("train", "test")}
        budget = MemoryBudget()
        budget.charge_files(paths.values())
        train, header = self._read(paths["train"], "train", None, bad, dropped, budget, progress)
        test, _ = self._read(paths["test"], "test", header, bad, dropped, budget, progress)
        n_labels = header[2]
        return make_corpus(
            self.name or (self.prefix or root.name),
            [str(i) for i in range(n_labels)],
            train,
            test,
            self.options,
            bad.counts,
            {"format": "xc-bow", "n_features": header[1], "dropped": dict(dropped)},
            sources=paths,
        )

    def _header(
        self,
        path: Path,
        text: str,
        train_header: tuple[int, int, int] | None,
        budget: MemoryBudget,
    ) -> tuple[int, int, int]:
        numbers = [_count(p) for p in text.split()]
        values = tuple(v for v in numbers if v is not None)
        if len(numbers) != 3 or len(values) != 3:
            raise InputError(
                path,
                1,
                "header must be three non-negative integers 'N D L' "
                f"(documents, features, labels), got {text.strip()[:80]!r}",
            )
        if train_header is not None and values[1:] != train_header[1:]:
            raise InputError(
                path,
                1,
                f"header has D={values[1]} L={values[2]} but the training file has "
                f"D={train_header[1]} L={train_header[2]}",
            )
        if train_header is None:  # the label names are built from L: check it fits first
            budget.charge(
                values[2] * BYTES_PER_LABEL, path, 1, f"the header's {values[2]:,} labels"
            )
        return values  # type: ignore[return-value]

    def _read(
        self,
        path: Path,
        split: str,
        train_header: tuple[int, int, int] | None,
        bad: BadLines,
        dropped: Counter[str],
        budget: MemoryBudget,
        progress: bool,
    ) -> tuple[list[Document], tuple[int, int, int]]:
        docs: list[Document] = []
        header: tuple[int, int, int] | None = None
        n_data = 0
        for line in iter_lines(path, self.encoding, progress):
            if header is None:
                if line.problem is not None:
                    raise InputError(path, line.number, line.problem[1])
                header = self._header(path, line.text, train_header, budget)
                continue
            n_data += 1
            if n_data > header[0]:
                bad.bad(
                    path,
                    line.number,
                    "beyond-header-count",
                    f"the header promises {header[0]} documents but the file goes on",
                )
                continue
            if not bad.usable(path, line):
                continue
            doc = self._parse(path, line.number, line.text, header, split, bad, dropped, budget)
            if doc is not None:
                docs.append(doc)
        if header is None:
            raise InputError(path, 1, "empty file: expected a header 'N D L'")
        if n_data < header[0]:
            bad.bad(
                path,
                1,
                "header-count-mismatch",
                f"header says {header[0]} documents but the file has {n_data}",
            )
        return docs, header

    def _parse(
        self,
        path: Path,
        number: int,
        text: str,
        header: tuple[int, int, int],
        split: str,
        bad: BadLines,
        dropped: Counter[str],
        budget: MemoryBudget,
    ) -> Document | None:
        _, n_features, n_labels = header
        text = text.rstrip("\r\n")
        head, _, rest = text.partition(" ")
        if ":" in head:  # no label field at all: the line starts with a feature
            head, rest = "", text
        labels: set[int] = set()
        for tok in filter(None, head.split(",")):
            lab = _count(tok)
            if lab is None or lab >= n_labels:
                bad.bad(
                    path,
                    number,
                    "bad-label",
                    f"label id {tok[:40]!r} is not an integer in [0, {n_labels})",
                )
                return None
            labels.add(lab)
        feats: list[tuple[float, int, int]] = []
        for pos, tok in enumerate(rest.split()):
            f, sep, v = tok.partition(":")
            fid, val = _count(f), _value(v)
            if not sep or fid is None or fid >= n_features or val is None:
                bad.bad(
                    path,
                    number,
                    "bad-feature",
                    f"feature {tok[:40]!r} is not 'id:value' with id in [0, {n_features}) "
                    "and a finite value",
                )
                return None
            feats.append((-val, pos, fid))
        if not feats:
            bad.bad(path, number, "empty-document", "empty document (no features)")
            return None
        if not labels:
            dropped["no-labels"] += 1
            return None
        feats.sort()
        if self.repeat == "count":
            reps = [min(self.max_repeat, max(1, round(-neg))) for neg, _, _ in feats]
            chars = sum(r * (len(str(fid)) + 2) for r, (_, _, fid) in zip(reps, feats, strict=True))
            if chars > (limit := max_record_chars()):
                bad.bad(
                    path,
                    number,
                    "document-too-long",
                    f"under repeat=count this document would be {chars:,} characters, more "
                    f"than {limit:,} (lower max_repeat)",
                )
                return None
            budget.charge(chars, path, number, "the documents repeat=count has made so far")
            words = [
                f"f{fid}" for r, (_, _, fid) in zip(reps, feats, strict=True) for _ in range(r)
            ]
        else:
            words = [f"f{fid}" for _, _, fid in feats]
        return Document(f"{split}-{number}", " ".join(words), tuple(sorted(labels)))


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    return [
        Component(
            kind="dataset",
            name="xc-bow",
            description="Extreme Classification Repository sparse BoW (header 'N D L')",
            factory=XCBowReader,
            options=COMMON_OPTIONS
            + (
                ENCODING_OPTION,
                Option("prefix", str, None, "Read <prefix>_train.txt / <prefix>_test.txt."),
                Option(
                    "repeat",
                    str,
                    "once",
                    "Feature tokens once each, or repeated round(value) times (count).",
                    choices=("once", "count"),
                ),
                Option(
                    "max_repeat",
                    int,
                    100,
                    "Cap on repeats under repeat=count.",
                    min=1,
                    max=MAX_REPEAT,
                ),
                Option("name", str, None, "Corpus name; default the prefix or folder name."),
            ),
        )
    ]
