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
    undecodable_message,
)


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
        root = require_dir(self.data_dir, "xc-bow", "train.txt and test.txt")
        bad = BadLines(self.skip_bad_lines)
        dropped: Counter[str] = Counter()
        train, header = self._read(self._file(root, "train"), "train", None, bad, dropped, progress)
        test, _ = self._read(self._file(root, "test"), "test", header, bad, dropped, progress)
        n_labels = header[2]
        return make_corpus(
            self.name or (self.prefix or root.name),
            [str(i) for i in range(n_labels)],
            train,
            test,
            self.options,
            bad.counts,
            {"format": "xc-bow", "n_features": header[1], "dropped": dict(dropped)},
        )

    def _header(self, path: Path, text: str, train_header: tuple[int, int, int] | None):
        parts = text.split()
        try:
            values = tuple(int(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) != 3 or min(values) < 0:
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
        return values

    def _read(
        self,
        path: Path,
        split: str,
        train_header: tuple[int, int, int] | None,
        bad: BadLines,
        dropped: Counter[str],
        progress: bool,
    ) -> tuple[list[Document], tuple[int, int, int]]:
        docs: list[Document] = []
        header: tuple[int, int, int] | None = None
        n_data = 0
        for line in iter_lines(path, self.encoding, progress):
            if header is None:
                if not line.decoded:
                    raise InputError(path, 1, undecodable_message(self.encoding))
                header = self._header(path, line.text, train_header)
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
            if not line.decoded:
                bad.bad(path, line.number, "undecodable", undecodable_message(self.encoding))
                continue
            doc = self._parse(path, line.number, line.text, header, split, bad, dropped)
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
    ) -> Document | None:
        _, n_features, n_labels = header
        text = text.rstrip("\r\n")
        head, _, rest = text.partition(" ")
        if ":" in head:  # no label field at all: the line starts with a feature
            head, rest = "", text
        labels: set[int] = set()
        for tok in filter(None, head.split(",")):
            try:
                lab = int(tok)
            except ValueError:
                lab = -1
            if not 0 <= lab < n_labels:
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
            try:
                fid, val = int(f), float(v)
            except ValueError:
                fid, val = -1, math.nan
            if not sep or not 0 <= fid < n_features or not math.isfinite(val):
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
            words = [
                f"f{fid}"
                for neg, _, fid in feats
                for _ in range(min(self.max_repeat, max(1, round(-neg))))
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
                Option("max_repeat", int, 100, "Cap on repeats under repeat=count.", min=1),
                Option("name", str, None, "Corpus name; default the prefix or folder name."),
            ),
        )
    ]
