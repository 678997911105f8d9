"""Helpers shared by the built-in dataset readers: options, line streaming, bad-line policy.

Every reader streams its files line by line (a multi-gigabyte AmazonCat dump must not be read
whole), decodes each line on its own so that an undecodable byte is reported at its line,
and routes every malformed record through one :class:`BadLines` policy: raise an
:class:`~harness.errors.InputError` naming file and line, or, under ``skip_bad_lines``, drop
the record and count it by reason in ``Corpus.skipped``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.components import Option
from harness.data import Corpus, Document
from harness.errors import DatasetNotFoundError, InputError

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
    ),
    Option(
        "propensity_b",
        float,
        None,
        "Jain et al. propensity constant B (docs/method.md, 'Rebalanced losses'); default 1.5.",
        min=0.0,
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


@dataclass(slots=True)
class Line:
    """One physical line of a file: its 1-based number, text, and whether it decoded cleanly."""

    number: int
    text: str
    decoded: bool = True


def iter_lines(
    path: Path, encoding: str = "utf-8", progress: bool = False, fallback: str | None = None
) -> Iterator[Line]:
    """Stream ``path`` as decoded lines (newline kept), never holding the whole file.

    A line that does not decode is yielded with replacement characters and
    ``decoded=False`` so the caller can report or skip it at its line number; with
    ``fallback`` (say ``latin-1``) such a line is decoded with the fallback instead.
    """
    try:
        size = path.stat().st_size
        fh = open(path, "rb")  # closed in the finally below
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
    pending = 0
    try:
        for number, raw in enumerate(fh, 1):
            try:
                line = Line(number, raw.decode(encoding))
            except UnicodeDecodeError:
                if fallback is not None:
                    line = Line(number, raw.decode(fallback, errors="replace"))
                else:
                    line = Line(number, raw.decode(encoding, errors="replace"), decoded=False)
            except LookupError:
                raise InputError(path, None, f"unknown encoding {encoding!r}") from None
            pending += len(raw)
            if number % _PROGRESS_EVERY == 0:
                bar.update(pending)
                pending = 0
            yield line
    finally:
        bar.update(pending)
        bar.close()
        fh.close()


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
) -> Corpus:
    """Assemble a Corpus, applying the propensity overrides of the options."""
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
        if not line.decoded:
            bad.bad(path, line.number, "undecodable", undecodable_message(encoding))
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
