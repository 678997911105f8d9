"""Tables in every output format: any tabulate format, markdown, CSV and JSON.

Every command that prints a table renders it here, so a format means the same thing
everywhere: text formats show display strings, CSV and JSON carry the raw numbers
(``records``) and JSON also the notes, so what the numbers mean travels with them.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tabulate import tabulate, tabulate_formats

from harness.errors import ConfigError

EXTRA_FORMATS = ("csv", "json", "markdown")
FORMATS = tuple(dict.fromkeys((*tabulate_formats, *EXTRA_FORMATS)))
"""Every tabulate format plus csv, json and markdown (tabulate already has ``latex``)."""

CELL_WIDTH = 60
"""Text tables of records cut longer cells (documents, word lists) so a row fits a terminal
line; CSV and JSON always carry the full values."""


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: str,
    *,
    title: str | None = None,
    footnotes: Sequence[str] = (),
    records: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    """A table as text in any tabulate format, markdown, CSV or JSON.

    CSV and JSON carry ``records`` (raw numbers) instead of the display strings; JSON also
    carries ``meta`` and the footnotes, so what the numbers mean travels with them.
    """
    if fmt not in FORMATS:
        raise ConfigError("report.format", f"unknown format {fmt!r}")
    if fmt in ("csv", "json"):
        recs = (
            records if records is not None else [dict(zip(headers, r, strict=True)) for r in rows]
        )
        if fmt == "json":
            doc = {**(meta or {}), "notes": list(footnotes), "rows": recs}
            return json.dumps(doc, indent=2, default=str)
        buf = io.StringIO()
        cols = list(dict.fromkeys(k for rec in recs for k in rec))
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(recs)
        return buf.getvalue()
    tablefmt = "pipe" if fmt == "markdown" else fmt
    body = tabulate(list(rows), headers=list(headers), tablefmt=tablefmt, disable_numparse=True)
    lines = [title] if title else []
    text_notes = list(footnotes)
    if tablefmt.startswith("latex"):
        head = [f"% {title}"] if title else []
        return "\n".join([*head, body, *(f"% {n}" for n in text_notes)])
    if tablefmt in ("html", "unsafehtml"):
        head = [f"<h3>{html.escape(title)}</h3>"] if title else []
        foot = [f"<p>{html.escape(n)}</p>" for n in text_notes]
        return "\n".join([*head, body, *foot])
    if fmt == "markdown":
        head = [f"**{title}**", ""] if title else []
        return "\n".join([*head, body, "", *(f"- {n}" for n in text_notes)])
    return "\n".join([*lines, body, *text_notes])


def percent(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage with ``digits`` decimals; "–" for missing or NaN."""
    return "–" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}"


def number(x: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals; "–" for missing or NaN."""
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and len(value) > CELL_WIDTH:
        value = value[: CELL_WIDTH - 1] + "…"
    return value


def _csv_cell(value: Any) -> Any:
    """A CSV cell: lists and dicts as JSON text."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def render_records(records: list[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Database rows as a table of ``columns``; CSV cells holding lists are JSON text."""
    recs = [{c: r[c] for c in columns} for r in records]
    if fmt == "csv":
        recs = [{c: _csv_cell(v) for c, v in r.items()} for r in recs]
    rows = [[_cell(r[c]) for c in columns] for r in recs]
    return render_table(columns, rows, fmt, records=recs)


def stream_records(
    records: Iterable[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    write: Callable[[str], Any],
    chunk_chars: int = 1 << 16,
) -> int:
    """``records`` as CSV or JSON written piece by piece as they come, in constant memory:
    the same document :func:`render_records` gives (CSV cells holding lists are JSON text;
    JSON is ``{"notes": [], "rows": [...]}``), one row per line. Returns the rows written."""
    if fmt not in ("csv", "json"):
        raise ConfigError("report.format", f"only csv and json stream, not {fmt!r}")
    cols = list(columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    if fmt == "csv":
        writer.writeheader()
    else:
        buf.write('{\n  "notes": [],\n  "rows": [')
    n = 0
    for rec in records:
        row = {c: rec[c] for c in cols}
        if fmt == "csv":
            writer.writerow(
                {c: json.dumps(v) if isinstance(v, list | dict) else v for c, v in row.items()}
            )
        else:
            buf.write(("," if n else "") + "\n    " + json.dumps(row, default=str))
        n += 1
        if buf.tell() >= chunk_chars:
            write(buf.getvalue())
            buf.seek(0)
            buf.truncate()
    if fmt == "json":
        buf.write("\n  ]\n}\n" if n else "]\n}\n")
    write(buf.getvalue())
    return n
