"""Examples: highlighted changes, trimmed windows, ranks and label names from the database."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import click
import pytest

from harness.report.examples import (
    example_from_trial,
    load_examples,
    render_markdown,
    render_terminal,
    windows,
)
from harness.store.schema import Trial
from harness.store.session import open_store
from tests.helpers.cli import cli_output
from tests.helpers.report_db import LABEL_NAMES, build_report_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ex") / "results.db"
    build_report_db(path).dispose()
    return path


def first_trial(db: Path, where: str) -> Trial:
    store = open_store(str(db), create=False)
    from sqlalchemy import select, text

    with store.read() as s:
        t = s.scalars(select(Trial).where(text(where)).order_by(Trial.trial_index)).first()
        s.expunge(t)
    store.dispose()
    return t


def test_windows_merge_and_clip() -> None:
    assert windows(100, [50], 3) == [range(47, 54)]
    assert windows(100, [1, 5], 3) == [range(0, 9)]  # overlapping windows merge
    assert windows(100, [10, 90], 2) == [range(8, 13), range(88, 93)]
    assert windows(10, [9], 5) == [range(4, 10)]
    assert windows(100, [], 3) == [range(0, 7)]  # no change: the start of the text


def test_terminal_output_matches_the_stored_trial(db: Path) -> None:
    t = first_trial(db, "run_id = 1 AND outcome = 'success' AND bin_index = 2")
    out = cli_output(db, "examples", "--run", "1", "--bin", "2", "--limit", "1")
    assert "\x1b[" not in out  # no colour codes when not writing to a terminal
    assert f"trial {t.trial_index} (sample {t.sample_id}), bin 2" in out
    assert f"{LABEL_NAMES[t.target_labels[0]]}   rank {t.rank_before} → {t.rank_after}" in out
    before = ", ".join(LABEL_NAMES[i] for i in t.topk_before)
    after = ", ".join(LABEL_NAMES[i] for i in t.topk_after)
    assert f"top-k before: {before}" in out and f"top-k after:  {after}" in out
    for _, old, new in t.changed_words:
        assert f"{old} → {new}" in out
    orig_line = next(line for line in out.splitlines() if line.strip().startswith("original:"))
    adv_line = next(line for line in out.splitlines() if line.strip().startswith("adversarial:"))
    assert len(orig_line.split()) == len(adv_line.split())  # aligned windows
    assert len(orig_line.split()) - 1 < t.n_words or "…" not in orig_line


def test_terminal_colours_mark_exactly_the_changed_words(db: Path) -> None:
    store = open_store(str(db), create=False)
    ex = load_examples(store, 2, limit=1)[0]
    store.dispose()
    text = render_terminal([ex], context=4)
    red = re.findall(r"\x1b\[31m\x1b\[1m(.*?)\x1b\[0m", text)
    green = re.findall(r"\x1b\[32m\x1b\[1m(.*?)\x1b\[0m", text)
    assert red == [old for _, (old, _) in sorted(ex.changes.items())]
    assert green == [new for _, (_, new) in sorted(ex.changes.items())]
    assert click.unstyle(text).count("…") >= 2  # a long text is trimmed around the changes


def test_markdown_strikes_old_and_bolds_new(db: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "ex.md"
    cli_output(db, "examples", "--run", "1", "--format", "markdown", "--limit", "3",
            "--context", "5", "--out", str(out_file))  # fmt: skip
    md = out_file.read_text()
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT trial_index, changed_words FROM trials WHERE run_id = 1 AND outcome = 'success'"
        " ORDER BY trial_index LIMIT 3"
    ).fetchall()
    con.close()
    import json

    assert md.count("### run 1, trial") == 3
    for ti, changed in rows:
        section = md.split(f"### run 1, trial {ti} ")[1].split("### ")[0]
        orig = next(line for line in section.splitlines() if line.startswith("> **Original:**"))
        adv = next(line for line in section.splitlines() if line.startswith("> **Adversarial:**"))
        for _, old, new in json.loads(changed):
            assert f"~~{old}~~" in orig and f"**{new}**" in adv
        assert orig.count("~~") == 2 * len(json.loads(changed))


def test_outcome_and_bin_filters(db: Path) -> None:
    out = cli_output(db, "examples", "--run", "1", "--outcome", "error", "--limit", "50")
    con = sqlite3.connect(db)
    (n_err,) = con.execute(
        "SELECT COUNT(*) FROM trials WHERE run_id = 1 AND outcome = 'error'"
    ).fetchone()
    con.close()
    assert out.count(": error\n") == n_err and "error:       CUDA out of memory" in out
    assert "changes: none" in out
    assert cli_output(db, "examples", "--run", "1", "--bin", "99").strip() == "no trials match"


def test_missing_label_names_and_misaligned_original() -> None:
    words = "The oil price rose , traders said on Monday .".split()
    trial = Trial(
        run_id=1,
        trial_index=0,
        sample_id="d",
        target_labels=[3],
        target_names=[],
        label_freq=4,
        bin_index=0,
        outcome="success",
        rank_before=2,
        rank_after=9,
        topk_before=[5, 3],
        topk_after=[5, 8],
        # the raw text tokenises differently ("oil-price" is one word), so the original
        # words are rebuilt from the adversarial ones with the change undone
        original_text="The oil-price rose, traders said on Monday.",
        adversarial_text=" ".join(words[:2] + ["cost"] + words[3:]),
        changed_words=[[2, "price", "cost"]],
        similarity=0.93,
        change_rate=0.1,
    )
    ex = example_from_trial(trial, None)
    assert ex.original == tuple(words)
    assert ex.targets == ("#3",) and ex.topk_before == ("#5", "#3")
    assert ex.original[2] == "price" and ex.adversarial[2] == "cost"
    md = render_markdown([ex])
    assert "~~price~~" in md and "**cost**" in md and "**\\#3**" in md
    assert "rank 2 → 9" in md
