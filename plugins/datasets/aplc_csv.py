"""``aplc-csv``: APLC-XLNet's layout, ``train.csv`` / ``dev.csv`` plus ``labels.txt``.

As APLC-XLNet's ``MultiLabelTextProcessor`` reads them: each CSV starts with a header row,
then one row per document with three columns, ``id``, ``text`` and the document's label
names joined by commas; ``labels.txt`` lists every label name, one per line. The dev split
is the test split. Read with Python's csv module, fed one decoded line at a time so quoted
multi-line texts work and errors carry the line a record starts on.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
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
)
from plugins.datasets._limits import MemoryBudget, max_record_chars

SPLIT_FILES = (("train", "train.csv"), ("test", "dev.csv"))
N_COLUMNS = 3


class APLCCSVReader:
    """Reads an APLC-XLNet data folder into a Corpus."""

    def __init__(
        self,
        data_dir: str | None = None,
        skip_bad_lines: bool = False,
        propensity_a: float | None = None,
        propensity_b: float | None = None,
        encoding: str = "utf-8",
        name: str | None = None,
    ):
        self.options = dict(propensity_a=propensity_a, propensity_b=propensity_b)
        self.data_dir = data_dir
        self.skip_bad_lines = skip_bad_lines
        self.encoding = encoding
        self.name = name

    def load(self, progress: bool = False) -> Corpus:
        require_encoding("aplc-csv", self.encoding)
        require_plain_name("aplc-csv", "name", self.name)
        root = require_dir(self.data_dir, "aplc-csv", "train.csv, dev.csv and labels.txt")
        missing = [n for n in ("train.csv", "dev.csv", "labels.txt") if not (root / n).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"dataset aplc-csv: {root} lacks {', '.join(missing)} (APLC-XLNet layout: "
                "train.csv and dev.csv with columns id,text,labels and labels.txt)"
            )
        MemoryBudget().charge_files(root / n for n in ("train.csv", "dev.csv", "labels.txt"))
        bad = BadLines(self.skip_bad_lines)
        space = read_label_map(root / "labels.txt", self.encoding, bad)
        dropped: Counter[str] = Counter()
        train, test = (
            self._read_csv(root / f, split, space, bad, dropped, progress)
            for split, f in SPLIT_FILES
        )
        return make_corpus(
            self.name or root.name,
            space.names,
            train,
            test,
            self.options,
            bad.counts,
            {"format": "aplc-csv", "dropped": dict(dropped)},
            sources={split: root / f for split, f in SPLIT_FILES},
        )

    def _read_csv(
        self,
        path: Path,
        split: str,
        space: LabelSpace,
        bad: BadLines,
        dropped: Counter[str],
        progress: bool,
    ) -> list[Document]:
        problems: list[tuple[int, str, str]] = []  # (line, reason, message) in this record

        def lines() -> Iterator[str]:
            for line in iter_lines(path, self.encoding, progress):
                if line.problem is not None:
                    problems.append((line.number, *line.problem))
                yield line.text

        # strict: an unterminated quote is an error, not a field that swallows the file. The
        # field limit (process-wide, so restored after) bounds a quoted field spanning lines:
        # csv's default 128 KiB is too small for a 100,000-word text.
        previous_limit = csv.field_size_limit(max_record_chars())
        try:
            return self._read_rows(path, split, space, bad, dropped, problems, lines)
        finally:
            csv.field_size_limit(previous_limit)

    def _read_rows(
        self,
        path: Path,
        split: str,
        space: LabelSpace,
        bad: BadLines,
        dropped: Counter[str],
        problems: list[tuple[int, str, str]],
        lines: Callable[[], Iterator[str]],
    ) -> list[Document]:
        reader = csv.reader(lines(), strict=True)
        docs: list[Document] = []
        seen: dict[str, int] = {}
        header_done = False
        end = 0
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                end = reader.line_num
                # A line's own problem (an over-long line read as empty) is the cause.
                message = f"not valid CSV: {exc}"
                if "field limit" in message:
                    limit = max_record_chars()
                    message = f"a field longer than {limit:,} characters (a quote left open?)"
                first = problems[0] if problems else (max(start, 1), "bad-csv", message)
                problems.clear()
                bad.bad(path, *first)
                continue
            end = reader.line_num
            if problems:
                first = problems[0]
                problems.clear()
                bad.bad(path, *first)
                header_done = True
                continue
            if not header_done:
                header_done = True
                if len(row) != N_COLUMNS:
                    bad.bad(
                        path,
                        start,
                        "bad-header",
                        f"header row must have {N_COLUMNS} columns (id, text, labels), "
                        f"got {len(row)}",
                    )
                continue
            if len(row) != N_COLUMNS:
                bad.bad(
                    path,
                    start,
                    "wrong-column-count",
                    f"expected {N_COLUMNS} columns (id, text, labels), got {len(row)}",
                )
                continue
            doc_id, text, label_field = (c.strip() for c in row)
            if not doc_id:
                bad.bad(path, start, "missing-id", "empty id column")
                continue
            if doc_id in seen:
                bad.bad(
                    path,
                    start,
                    "duplicate-id",
                    f"id {doc_id!r} already used at line {seen[doc_id]}",
                )
                continue
            if not text:
                bad.bad(path, start, "empty-document", "empty document (the text column is empty)")
                continue
            names = [n.strip() for n in label_field.split(",") if n.strip()]
            if not names:
                dropped["no-labels"] += 1
                continue
            indices = [space.get(n) for n in names]
            if None in indices:
                unknown = names[indices.index(None)]
                bad.bad(path, start, "unknown-label", f"label {unknown!r} is not in labels.txt")
                continue
            seen[doc_id] = start
            labels = tuple(sorted({i for i in indices if i is not None}))
            docs.append(Document(f"{split}-{doc_id}", text, labels))
        if not header_done:
            bad.bad(path, max(reader.line_num, 1), "bad-header", "empty file: no header row")
        return docs


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    return [
        Component(
            kind="dataset",
            name="aplc-csv",
            description="APLC-XLNet layout (train.csv, dev.csv as test, labels.txt)",
            factory=APLCCSVReader,
            options=COMMON_OPTIONS
            + (
                ENCODING_OPTION,
                Option("name", str, None, "Corpus name; default the folder's name."),
            ),
        )
    ]
