"""``reuters21578``: the original SGML distribution of Reuters-21578 (Lewis, 1997).

Reads ``reut2-000.sgm`` .. ``reut2-021.sgm`` as they come from the UCI KDD archive. Labels
come from all five category fields, prefixed by field (``topics:cocoa``, ``places:usa``,
``people:...``, ``orgs:...``, ``exchanges:...``) so that equal strings in two fields stay two
labels; the text is TITLE plus BODY; the split is the "ModLewis" one of the LEWISSPLIT
attribute (TRAIN / TEST; NOT-USED documents are dropped). Documents without any label or
without text are dropped and counted in ``Corpus.meta["dropped"]``.

The reader is a hand-written scanner rather than an SGML library because the Lewis DTD is
flat and tiny (no nesting beyond ``<D>`` inside a category field), the files are not valid
XML (bare ``&#3;`` control entities, unquoted ``<`` in text), and a line-by-line scanner lets
every error name the file and line it was found at. It finds tags with ``str.find`` and
never searches the same stretch of text twice, so it is linear in its input: a hostile line
of a million start tags, or a document repeating ``<TOPICS>``, costs what reading it costs.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from harness import hookimpl
from harness.components import Component, Option
from harness.data import Corpus, Document
from harness.errors import DatasetNotFoundError, InputError
from plugins.datasets._common import COMMON_OPTIONS, BadLines, iter_lines, make_corpus
from plugins.datasets._limits import MemoryBudget, max_record_chars

NAME = "reuters21578"
URL = "https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.tar.gz"
ENV_DATA = "XMTC_DATA_DIR"
ENV_OFFLINE = "XMTC_OFFLINE"
FIELDS = ("TOPICS", "PLACES", "PEOPLE", "ORGS", "EXCHANGES")
SPLITS = {"TRAIN": "train", "TEST": "test", "NOT-USED": None}
FILE_GLOB = "reut2-*.sgm"

_OPEN = "<REUTERS"
_END = "</REUTERS>"
# Attribute name="value" pairs. Possessive quantifiers and the look-behind (a name starts a
# letter run) keep every failed attempt short, so findall is linear even on a hostile tag.
_ATTR = re.compile(r'(?<![A-Za-z])([A-Za-z]++)\s*+=\s*+"([^"]*+)"')
# Control characters (the &#2; / &#3; / &#5; markers of the wire format, stray bytes) become
# spaces; newlines and tabs stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(sgml: str) -> str:
    """Entities resolved (``&lt;``, ``&#3;``), control characters made spaces, ends trimmed.

    Raises ValueError for a decimal character reference longer than Python converts.
    """
    return _CONTROL.sub(" ", html.unescape(sgml)).strip()


class _Next:
    """``text.find(needle, pos)`` for non-decreasing ``pos``, scanning each character once.

    The scanner asks again for the next start and end tag after every step; a fresh find
    each time would rescan the same stretch (quadratic on many start tags before one far
    end tag). A found position is kept until ``pos`` passes it; not found stays not found.
    """

    def __init__(self, text: str, needle: str):
        self.text, self.needle = text, needle
        self.at: int | None = None

    def __call__(self, pos: int) -> int:
        if self.at is None or 0 <= self.at < pos:
            self.at = self.text.find(self.needle, pos)
        return self.at


class _Starts:
    """The next ``<REUTERS`` start tag at or after ``pos`` (``<REUTERSX`` is not one)."""

    def __init__(self, text: str):
        self.text = text
        self.find = _Next(text, _OPEN)

    def __call__(self, pos: int) -> int:
        while (i := self.find(pos)) >= 0:
            after = i + len(_OPEN)
            if after == len(self.text) or not (
                self.text[after].isalnum() or self.text[after] == "_"
            ):
                return i
            pos = after
        return -1


def _blank_or_doctype(outside: str) -> bool:
    """Text between documents may only be whitespace and one ``<!DOCTYPE ...>``."""
    rest = outside.strip()
    return not rest or (rest.startswith("<!DOCTYPE") and rest.find(">") == len(rest) - 1)


def _element(body: str, tag: str) -> tuple[int, str | None] | None:
    """The first ``<tag>...</tag>`` in ``body``: where it opens and its content (None when it
    is never closed); None when there is no ``<tag>``."""
    opening, closing = f"<{tag}>", f"</{tag}>"
    i = body.find(opening)
    if i < 0:
        return None
    j = body.find(closing, i + len(opening))
    return i, (body[i + len(opening) : j] if j >= 0 else None)


def _entries(inner: str) -> tuple[list[str], str]:
    """The ``<D>...</D>`` contents of a category field, and what else it holds (stripped)."""
    names: list[str] = []
    rest: list[str] = []
    pos = 0
    while (i := inner.find("<D>", pos)) >= 0:
        j = inner.find("</D>", i + 3)
        if j < 0:
            break
        rest.append(inner[pos:i])
        names.append(inner[i + 3 : j])
        pos = j + 4
    rest.append(inner[pos:])
    return names, "".join(rest).strip()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob(FILE_GLOB))


def cache_dir() -> Path:
    """Where a downloaded copy goes: $XDG_CACHE_HOME/xmtc-harness or ~/.cache/xmtc-harness."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "xmtc-harness" / NAME


def search_path() -> list[Path]:
    """Folders searched, in order, when no ``data_dir`` is given."""
    out: list[Path] = []
    if os.environ.get(ENV_DATA):
        out.append(Path(os.environ[ENV_DATA]).expanduser() / NAME)
    out += [Path("data") / NAME, cache_dir()]
    return [p.absolute() for p in out]


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a tar archive, refusing any member that could land outside ``target``.

    Only plain files and folders with relative, ``..``-free names are accepted (no links,
    devices or absolute paths); the stdlib ``data`` filter is applied on top.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                parts = Path(m.name).parts
                if (
                    Path(m.name).is_absolute()
                    or m.name.startswith(("/", "\\"))
                    or ".." in parts
                    or not (m.isfile() or m.isdir())
                ):
                    raise InputError(archive, None, f"unsafe archive member {m.name!r}; refused")
            target.mkdir(parents=True, exist_ok=True)
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(archive, None, f"not a readable tar archive: {exc}") from None


def download(url: str, dest: Path, timeout: float = 120.0) -> Path:
    """Fetch the archive at ``url`` and put its ``reut2-*.sgm`` files (and docs) in ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        archive = Path(tmp) / "reuters21578.tar.gz"
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(archive, "wb") as fh:
            shutil.copyfileobj(resp, fh)
        out = Path(tmp) / "extract"
        safe_extract(archive, out)
        found = sorted(out.rglob(FILE_GLOB))
        if not found:
            raise InputError(archive, None, f"archive holds no {FILE_GLOB} files")
        dest.mkdir(parents=True, exist_ok=True)
        for p in found[0].parent.iterdir():
            if p.is_file():
                shutil.move(str(p), dest / p.name)
    return dest


@dataclass(frozen=True)
class _Parsed:
    """One parsed document before label names become indices."""

    split: str | None
    doc_id: str
    text: str
    labels: tuple[str, ...]


class ReutersReader:
    """Finds (or fetches) the SGML files and parses them into a Corpus."""

    def __init__(
        self,
        data_dir: str | None = None,
        skip_bad_lines: bool = False,
        propensity_a: float | None = None,
        propensity_b: float | None = None,
        offline: bool | None = None,
        url: str = URL,
    ):
        self.options = dict(propensity_a=propensity_a, propensity_b=propensity_b)
        self.data_dir = data_dir
        self.skip_bad_lines = skip_bad_lines
        self.offline = _truthy(os.environ.get(ENV_OFFLINE)) if offline is None else offline
        self.url = url

    # -- finding the files ------------------------------------------------------------------
    def locate(self) -> Path:
        """The folder with the SGML files; downloads into the cache if allowed and needed."""
        if self.data_dir:
            given = Path(self.data_dir).expanduser().absolute()
            for cand in (given, given / NAME):
                if _has_files(cand):
                    return cand
            raise DatasetNotFoundError(
                f"Reuters-21578: no {FILE_GLOB} files in {given} (nor in {given / NAME}). "
                f"Put reut2-000.sgm .. reut2-021.sgm (from {URL}) there, or leave out "
                "--data-dir to search the default folders and download into the cache."
            )
        searched = search_path()
        for cand in searched:
            if _has_files(cand):
                return cand
        where = "\n  ".join(str(p) for p in searched)
        advice = (
            f"Reuters-21578 not found. Searched, in order:\n  {where}\n"
            f"Put reut2-000.sgm .. reut2-021.sgm (unpacked from {URL}) in one of these "
            f"folders, or pass --data-dir PATH, or set {ENV_DATA}=PARENT "
            f"(with the files in PARENT/{NAME})."
        )
        if self.offline:
            raise DatasetNotFoundError(
                f"{advice}\nNot downloading: offline (option offline / {ENV_OFFLINE}=1)."
            )
        try:
            return download(self.url, cache_dir())
        except (urllib.error.URLError, OSError, InputError, ValueError) as exc:
            raise DatasetNotFoundError(
                f"{advice}\nDownload from {self.url} failed: {exc}"
            ) from None

    # -- parsing ----------------------------------------------------------------------------
    def load(self, progress: bool = False) -> Corpus:
        root = self.locate()
        files = sorted(root.glob(FILE_GLOB))
        MemoryBudget().charge_files(files)
        bad = BadLines(self.skip_bad_lines)
        dropped: Counter[str] = Counter()
        seen: dict[int, str] = {}
        parsed: list[_Parsed] = []
        for path in tqdm(files, desc=NAME, unit="file", disable=not progress):
            parsed.extend(self._read_file(path, bad, dropped, seen))
        # The collection-wide figures (all LEWISSPLIT values) are kept in meta: they are the
        # ones usually quoted for Reuters-21578 (19.6k labelled documents, 444 labels).
        collection = {
            "documents": len(seen),
            "labelled_with_text": len(parsed),
            "labels": len({n for p in parsed for n in p.labels}),
        }
        dropped["not-used"] = sum(p.split is None for p in parsed)
        parsed = [p for p in parsed if p.split is not None]
        names = sorted({n for p in parsed for n in p.labels})
        index = {n: i for i, n in enumerate(names)}
        train, test = (
            [
                Document(p.doc_id, p.text, tuple(sorted(index[n] for n in p.labels)))
                for p in parsed
                if p.split == split
            ]
            for split in ("train", "test")
        )
        return make_corpus(
            NAME,
            names,
            train,
            test,
            self.options,
            bad.counts,
            {
                "format": "reuters21578-sgml",
                "root": str(root),
                "files": len(files),
                "dropped": dict(sorted(dropped.items())),
                "collection": collection,
            },
            sources={"train": root, "test": root},
        )

    def _read_file(
        self, path: Path, bad: BadLines, dropped: Counter[str], seen: dict[int, str]
    ) -> Iterator[_Parsed]:
        """Yield each labelled document with text of one file (NOT-USED ones included)."""
        block: list[str] | None = None
        block_start = 0
        block_attrs = ""
        size = 0
        n_docs = 0
        last = 0
        resync = False  # after a damaged document: ignore text up to the next start tag
        limit = max_record_chars()
        for line in iter_lines(path, "utf-8", fallback="latin-1"):
            text, n, pos = line.text, line.number, 0
            last = n
            if line.problem is not None:
                bad.bad(path, n, *line.problem)
                block, resync = None, True
                continue
            if "REUTERS" not in text:  # fast paths: no tag on this line
                if block is not None and size < limit:
                    block.append(text)  # a line inside a document
                    size += len(text)
                    continue
                if resync:
                    continue
            starts, ends, closes = _Starts(text), _Next(text, _END), _Next(text, ">")
            while pos < len(text):
                if resync:
                    i = starts(pos)
                    if i < 0:
                        break
                    resync, pos = False, i
                    continue
                if block is None:
                    i = starts(pos)
                    if not _blank_or_doctype(text[pos : i if i >= 0 else len(text)]):
                        bad.bad(path, n, "outside-document", "text outside a <REUTERS> element")
                    if i < 0:
                        break
                    g = closes(i + len(_OPEN))
                    if g < 0:
                        bad.bad(path, n, "bad-start-tag", "<REUTERS start tag without '>'")
                        resync, pos = True, i + len(_OPEN)
                        continue
                    block, block_start, block_attrs, size = [], n, text[i + len(_OPEN) : g], 0
                    pos = g + 1
                    continue
                end = ends(pos)
                nested = starts(pos)
                if nested >= 0 and (end < 0 or nested < end):
                    block = None
                    bad.bad(
                        path,
                        n,
                        "unclosed-document",
                        f"<REUTERS> starts before the document opened at line {block_start} "
                        "is closed",
                    )
                    pos = nested
                    continue
                chunk = text[pos : end if end >= 0 else len(text)]
                block.append(chunk)
                size += len(chunk)
                if size > limit:
                    block = None
                    bad.bad(
                        path,
                        block_start,
                        "document-too-long",
                        f"document longer than {limit:,} characters",
                    )
                    resync, pos = True, pos + len(chunk)
                    continue
                if end < 0:
                    break
                n_docs += 1
                got = self._document(path, block_start, block_attrs, "".join(block), bad, seen)
                block = None
                pos = end + len(_END)
                if got is None:
                    continue
                if not got.labels:
                    dropped["no-labels"] += 1
                elif not got.text:
                    dropped["empty-text"] += 1
                else:
                    yield got
        if block is not None:
            bad.bad(
                path,
                block_start,
                "unclosed-document",
                "<REUTERS> opened here is never closed (</REUTERS> missing)",
            )
        if n_docs == 0:
            bad.bad(path, max(last, 1), "no-documents", "no <REUTERS> documents in this file")

    @staticmethod
    def _document(
        path: Path, start: int, attrs: str, body: str, bad: BadLines, seen: dict[int, str]
    ) -> _Parsed | None:
        """Parse one <REUTERS> element; None when it is malformed (and skipped)."""

        def line_at(pos: int) -> int:
            return start + body.count("\n", 0, pos)

        values = dict(_ATTR.findall(attrs))
        split_attr = values.get("LEWISSPLIT")
        if split_attr not in SPLITS:
            bad.bad(
                path,
                start,
                "bad-attributes",
                f"LEWISSPLIT must be TRAIN, TEST or NOT-USED, got {split_attr!r}",
            )
            return None
        newid = values.get("NEWID", "")
        if not newid.isdigit() or not newid.isascii() or len(newid) > 18:
            bad.bad(path, start, "bad-attributes", f"NEWID must be an integer, got {newid!r}")
            return None
        key = int(newid)
        if key in seen:
            bad.bad(path, start, "duplicate-id", f"NEWID {key} already used at {seen[key]}")
            return None
        labels: list[str] = []
        try:
            for field in FIELDS:
                found = _element(body, field)
                if found is None or found[1] is None:
                    bad.bad(path, start, "bad-category", f"no <{field}>...</{field}> element")
                    return None
                at, inner = found
                entries, rest = _entries(inner)
                if rest:
                    bad.bad(
                        path,
                        line_at(at),
                        "bad-category",
                        f"<{field}> holds something other than <D>...</D> entries: {rest[:40]!r}",
                    )
                    return None
                for d in entries:
                    name = _clean(d)
                    if not name:
                        bad.bad(path, line_at(at), "bad-category", f"empty <D> in <{field}>")
                        return None
                    labels.append(f"{field.lower()}:{name}")
            parts = []
            for tag in ("TITLE", "BODY"):
                found = _element(body, tag)
                if found is None:
                    continue
                at, inner = found
                if inner is None:
                    bad.bad(path, line_at(at), "bad-text", f"<{tag}> is never closed")
                    return None
                parts.append(_clean(inner))
        except ValueError:
            bad.bad(
                path, start, "bad-entity", "a character reference (&#...;) with too many digits"
            )
            return None
        seen[key] = f"{path.name}:{start}"
        text = "\n".join(p for p in parts if p)
        return _Parsed(SPLITS[split_attr], f"{NAME}-{key}", text, tuple(dict.fromkeys(labels)))


@hookimpl
def xmtc_register_datasets() -> list[Component]:
    return [
        Component(
            kind="dataset",
            name=NAME,
            description="Reuters-21578 SGML, Lewis split, labels from all five category fields",
            factory=ReutersReader,
            options=COMMON_OPTIONS
            + (
                Option(
                    "offline",
                    bool,
                    None,
                    f"Never download (default: ${ENV_OFFLINE}, else download when missing).",
                ),
                Option("url", str, URL, "Where to download reuters21578.tar.gz from."),
            ),
        )
    ]
