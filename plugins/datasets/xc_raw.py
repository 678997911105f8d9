"""``xc-raw``: AttentionXML's raw-text layout (how Wiki10-31K and AmazonCat-13K are shipped).

One document per line in ``{train,test}_raw_texts.txt`` (or ``{train,test}_texts.txt``) and,
on the same line number of ``{train,test}_labels.txt``, its label names separated by spaces.
The two files of a split are read in lockstep, one line at a time.
"""

from __future__ import annotations

from collections import Counter
from itertools import zip_longest
from pathlib import Path

from harness import hookimpl
from harness.components import Component, Option
from harness.data import Corpus, Document
from harness.errors import DatasetNotFoundError
from plugins.datasets._common import (
    COMMON_OPTIONS,
    ENCODING_OPTION,
    BadLines,
    LabelSpace,
    iter_lines,
    make_corpus,
    read_label_map,
    require_dir,
    require_encoding,
    require_plain_name,
    resolve_in,
)
from plugins.datasets._limits import MemoryBudget

TEXT_CHOICES = ("auto", "raw_texts", "texts")


class XCRawReader:
    """Reads an AttentionXML-style folder into a Corpus."""

    def __init__(
        self,
        data_dir: str | None = None,
        skip_bad_lines: bool = False,
        propensity_a: float | None = None,
        propensity_b: float | None = None,
        encoding: str = "utf-8",
        text_file: str = "auto",
        label_file: str | None = None,
        name: str | None = None,
    ):
        self.options = dict(propensity_a=propensity_a, propensity_b=propensity_b)
        self.data_dir = data_dir
        self.skip_bad_lines = skip_bad_lines
        self.encoding = encoding
        self.text_file = text_file
        self.label_file = label_file
        self.name = name

    def _files(self, root: Path, split: str) -> tuple[Path, Path]:
        """The (texts, labels) files of a split; raw texts win under ``auto``."""
        kinds = ("raw_texts", "texts") if self.text_file == "auto" else (self.text_file,)
        candidates = [root / f"{split}_{k}.txt" for k in kinds]
        texts = next((p for p in candidates if p.is_file()), None)
        labels = root / f"{split}_labels.txt"
        if texts is None or not labels.is_file():
            wanted = " or ".join(p.name for p in candidates)
            raise DatasetNotFoundError(
                f"dataset xc-raw: {root} must hold {wanted} and {labels.name} "
                "(AttentionXML layout: one document per line, its labels on the same line "
                "of the labels file)"
            )
        return texts, labels

    def load(self, progress: bool = False) -> Corpus:
        require_encoding("xc-raw", self.encoding)
        require_plain_name("xc-raw", "name", self.name)
        root = require_dir(self.data_dir, "xc-raw", "{train,test}_texts.txt and _labels.txt")
        files = {split: self._files(root, split) for split in ("train", "test")}
        label_map = resolve_in(root, self.label_file) if self.label_file else None
        MemoryBudget().charge_files(
            [p for pair in files.values() for p in pair] + ([label_map] if label_map else [])
        )
        bad = BadLines(self.skip_bad_lines)
        space = read_label_map(label_map, self.encoding, bad) if label_map else LabelSpace()
        dropped: Counter[str] = Counter()
        splits = [
            self._read_split(files[s], s, space, bad, dropped, progress) for s in ("train", "test")
        ]
        names, (train, test) = space.sorted(splits)
        return make_corpus(
            self.name or root.name,
            names,
            train,
            test,
            self.options,
            bad.counts,
            {"format": "xc-raw", "dropped": dict(dropped)},
            sources={split: texts for split, (texts, _) in files.items()},
        )

    def _read_split(
        self,
        files: tuple[Path, Path],
        split: str,
        space: LabelSpace,
        bad: BadLines,
        dropped: Counter[str],
        progress: bool,
    ) -> list[Document]:
        texts_path, labels_path = files
        docs: list[Document] = []
        pairs = zip_longest(
            iter_lines(texts_path, self.encoding, progress),
            iter_lines(labels_path, self.encoding, False),
        )
        for text_line, label_line in pairs:
            if text_line is None or label_line is None:
                longer, shorter = (
                    (labels_path, texts_path) if text_line is None else (texts_path, labels_path)
                )
                number = (label_line or text_line).number  # type: ignore[union-attr]
                bad.bad(
                    longer,
                    number,
                    "unpaired-line",
                    f"has a line {number} but {shorter.name} ends at line {number - 1}; "
                    "the two files must have one line per document",
                )
                continue
            n = text_line.number
            if not bad.usable(texts_path, text_line) or not bad.usable(labels_path, label_line):
                continue
            text = text_line.text.strip()
            if not text:
                bad.bad(texts_path, n, "empty-document", "empty document (no text on this line)")
                continue
            names = label_line.text.split()
            if not names:
                dropped["no-labels"] += 1
                continue
            labels: set[int] = set()
            unknown = None
            for label in names:
                i = space.get(label)
                if i is None:
                    unknown = label
                    break
                labels.add(i)
            if unknown is not None:
                bad.bad(
                    labels_path,
                    n,
                    "unknown-label",
                    f"label {unknown!r} is not in the label map {self.label_file}",
                )
                continue
            docs.append(Document(f"{split}-{n}", text, tuple(sorted(labels))))
        return docs


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    return [
        Component(
            kind="dataset",
            name="xc-raw",
            description="AttentionXML raw-text layout ({train,test}_texts.txt + _labels.txt)",
            factory=XCRawReader,
            options=COMMON_OPTIONS
            + (
                ENCODING_OPTION,
                Option(
                    "text_file",
                    str,
                    "auto",
                    "Which texts file: raw_texts, texts, or auto (raw_texts if present).",
                    choices=TEXT_CHOICES,
                ),
                Option(
                    "label_file",
                    str,
                    None,
                    "Optional label map (one name per line); labels not in it are bad lines.",
                ),
                Option("name", str, None, "Corpus name; default the folder's name."),
            ),
        )
    ]
