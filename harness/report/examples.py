"""Adversarial examples side by side: what changed, and what it did to the target's rank.

Long documents are cut to windows around the changed words (a reader wants to see the
edits, not 500 words of context). The original word sequence is rebuilt from the stored
adversarial words with the changes undone whenever the tokenised original does not line
up with the stored positions, so the highlighted positions are always the changed ones.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import click

from harness.store.queries import RunFilter, get_run, label_names, select_trials
from harness.store.schema import Trial
from harness.store.session import Store
from harness.text import tokenize

EXAMPLE_FORMATS = ("terminal", "markdown", "html")
DEFAULT_CONTEXT = 12
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


@dataclass(frozen=True)
class Example:
    """One trial as shown to a reader."""

    run_id: int
    trial_index: int
    sample_id: str
    bin_index: int
    label_freq: int
    outcome: str
    targets: tuple[str, ...]
    rank_before: int | None
    rank_after: int | None
    topk_before: tuple[str, ...]
    topk_after: tuple[str, ...]
    similarity: float | None
    change_rate: float | None
    original: tuple[str, ...]
    adversarial: tuple[str, ...]
    changes: dict[int, tuple[str, str]]
    error_message: str | None = None


def _name(index: int, names: Sequence[str] | None) -> str:
    if names is not None and 0 <= index < len(names):
        return names[index]
    return f"#{index}"


def _changes(trial: Trial) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    for entry in trial.changed_words or []:
        pos, old, new = int(entry[0]), str(entry[1]), str(entry[2])
        first_old = out[pos][0] if pos in out else old  # a word changed twice: first → last
        out[pos] = (first_old, new)
    return out


def example_from_trial(trial: Trial, names: Sequence[str] | None) -> Example:
    """Align the original and adversarial words of a trial and resolve label names."""
    changes = _changes(trial)
    text = trial.original_text or ""
    if trial.adversarial_text is not None:
        adversarial = trial.adversarial_text.split(" ")

        def aligned(words: Sequence[str]) -> bool:
            return len(words) == len(adversarial) and all(
                p < len(words) and words[p] == old for p, (old, _) in changes.items()
            )

        # campaigns store detokenised words (split on spaces); raw text needs the tokenizer
        original = next((w for w in (text.split(" "), tokenize(text)) if aligned(w)), None)
        if original is None:
            original = list(adversarial)
            for p, (old, _) in changes.items():
                if p < len(original):
                    original[p] = old
    else:
        original = tokenize(text)
        adversarial = list(original)
        changes = {}
    targets = tuple(trial.target_names or ()) or tuple(
        _name(int(i), names) for i in trial.target_labels or ()
    )
    return Example(
        run_id=trial.run_id,
        trial_index=trial.trial_index,
        sample_id=trial.sample_id,
        bin_index=trial.bin_index,
        label_freq=trial.label_freq,
        outcome=trial.outcome,
        targets=tuple(str(t) for t in targets),
        rank_before=trial.rank_before,
        rank_after=trial.rank_after,
        topk_before=tuple(_name(int(i), names) for i in trial.topk_before or ()),
        topk_after=tuple(_name(int(i), names) for i in trial.topk_after or ()),
        similarity=trial.similarity,
        change_rate=trial.change_rate,
        original=tuple(original),
        adversarial=tuple(adversarial),
        changes=changes,
        error_message=trial.error_message,
    )


def load_examples(
    store: Store,
    run_id: int,
    bins: Iterable[int] = (),
    outcomes: Iterable[str] = ("success",),
    limit: int = 5,
) -> list[Example]:
    """The first ``limit`` trials of a run with the given outcomes (and bins), in trial order."""
    with store.read() as s:
        run = get_run(s, run_id)
        names = label_names(run)
        trials = select_trials(s, RunFilter(run_ids=(run_id,)), outcomes, bins, limit)
        return [example_from_trial(t, names) for t in trials]


def windows(n: int, positions: Iterable[int], context: int = DEFAULT_CONTEXT) -> list[range]:
    """Word ranges to show: ``context`` words either side of each change, overlaps merged."""
    spans: list[range] = []
    for p in sorted(set(positions)):
        lo, hi = max(0, p - context), min(n, p + context + 1)
        if spans and lo <= spans[-1].stop:
            spans[-1] = range(spans[-1].start, max(spans[-1].stop, hi))
        else:
            spans.append(range(lo, hi))
    return spans or [range(0, min(n, 2 * context + 1))]


def _trimmed(
    words: Sequence[str],
    spans: Sequence[range],
    mark: dict[int, str],
    plain: Callable[[str], str],
    ellipsis: str = "…",
) -> str:
    parts: list[str] = []
    for k, span in enumerate(spans):
        if k > 0 or span.start > 0:
            parts.append(ellipsis)
        parts.extend(mark.get(i) or plain(words[i]) for i in span)
    if spans and spans[-1].stop < len(words):
        parts.append(ellipsis)
    return " ".join(parts)


def _texts(
    ex: Example,
    context: int,
    style_old: Callable[[str], str],
    style_new: Callable[[str], str],
    plain: Callable[[str], str],
) -> tuple[str, str]:
    spans = windows(len(ex.adversarial), ex.changes, context)
    old_marks = {p: style_old(ex.original[p]) for p in ex.changes if p < len(ex.original)}
    new_marks = {p: style_new(ex.adversarial[p]) for p in ex.changes if p < len(ex.adversarial)}
    return (
        _trimmed(ex.original, spans, old_marks, plain),
        _trimmed(ex.adversarial, spans, new_marks, plain),
    )


def _rate(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def _rank(r: int | None) -> str:
    return "–" if r is None else str(r)


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _header(ex: Example) -> str:
    return (
        f"run {ex.run_id}, trial {ex.trial_index} (sample {ex.sample_id}), bin {ex.bin_index},"
        f" label frequency {ex.label_freq}: {ex.outcome}"
    )


def render_terminal(examples: Sequence[Example], context: int = DEFAULT_CONTEXT) -> str:
    """Coloured text: removed words red, inserted words green (click strips colour off a tty)."""
    if not examples:
        return "no trials match"
    out = []
    for ex in examples:
        target_set = set(ex.targets)

        def hl(name: str, target_set: set[str] = target_set) -> str:
            return click.style(name, bold=True) if name in target_set else name

        original, adversarial = _texts(
            ex,
            context,
            lambda w: click.style(w, fg="red", bold=True),
            lambda w: click.style(w, fg="green", bold=True),
            str,
        )
        changes = ", ".join(f"{old} → {new}" for _, (old, new) in sorted(ex.changes.items()))
        out.append(
            "\n".join(
                [
                    click.style(_header(ex), bold=True),
                    f"  target:      {', '.join(ex.targets)}   rank {_rank(ex.rank_before)} → "
                    f"{_rank(ex.rank_after)}",
                    f"  top-k before: {', '.join(map(hl, ex.topk_before))}",
                    f"  top-k after:  {', '.join(map(hl, ex.topk_after))}",
                    f"  similarity {_num(ex.similarity)}, change rate "
                    f"{_rate(ex.change_rate)},"
                    f" changes: {changes or 'none'}",
                    *([f"  error:       {ex.error_message}"] if ex.error_message else []),
                    f"  original:    {original}",
                    f"  adversarial: {adversarial}",
                ]
            )
        )
    return "\n\n".join(out)


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def render_markdown(examples: Sequence[Example], context: int = DEFAULT_CONTEXT) -> str:
    """Markdown: removed words ~~struck~~, inserted words **bold**, targets bold in top-k."""
    if not examples:
        return "_no trials match_"
    out = []
    for ex in examples:
        targets = set(ex.targets)

        def hl(name: str, targets: set[str] = targets) -> str:
            return f"**{md_escape(name)}**" if name in targets else md_escape(name)

        original, adversarial = _texts(
            ex,
            context,
            lambda w: f"~~{md_escape(w)}~~",
            lambda w: f"**{md_escape(w)}**",
            md_escape,
        )
        changes = ", ".join(
            f"{md_escape(old)} → {md_escape(new)}" for _, (old, new) in sorted(ex.changes.items())
        )
        out.append(
            "\n".join(
                [
                    f"### {md_escape(_header(ex))}",
                    "",
                    f"- **Target:** {md_escape(', '.join(ex.targets))}, rank"
                    f" {_rank(ex.rank_before)} → {_rank(ex.rank_after)}",
                    f"- **Top-k before:** {', '.join(map(hl, ex.topk_before))}",
                    f"- **Top-k after:** {', '.join(map(hl, ex.topk_after))}",
                    f"- **Similarity:** {_num(ex.similarity)}; **change rate:** "
                    f"{_rate(ex.change_rate)};"
                    f" **changes:** {changes or 'none'}",
                    *([f"- **Error:** {md_escape(ex.error_message)}"] if ex.error_message else []),
                    "",
                    f"> **Original:** {original}",
                    ">",
                    f"> **Adversarial:** {adversarial}",
                ]
            )
        )
    return "\n\n".join(out) + "\n"


def render_html(examples: Sequence[Example], context: int = DEFAULT_CONTEXT) -> str:
    """An HTML fragment (one table per example) for the self-contained report page."""
    if not examples:
        return "<p><em>no trials match</em></p>"
    esc = html.escape
    out = []
    for ex in examples:
        targets = set(ex.targets)

        def hl(name: str, targets: set[str] = targets) -> str:
            return f"<strong>{esc(name)}</strong>" if name in targets else esc(name)

        original, adversarial = _texts(
            ex,
            context,
            lambda w: f"<del>{esc(w)}</del>",
            lambda w: f"<ins>{esc(w)}</ins>",
            esc,
        )
        rows = [
            ("target", f"{esc(', '.join(ex.targets))}"),
            ("rank", f"{_rank(ex.rank_before)} → {_rank(ex.rank_after)}"),
            ("top-k before", ", ".join(map(hl, ex.topk_before))),
            ("top-k after", ", ".join(map(hl, ex.topk_after))),
            ("similarity", _num(ex.similarity)),
            (
                "change rate",
                _rate(ex.change_rate),
            ),
            *([("error", esc(ex.error_message))] if ex.error_message else []),
            ("original", original),
            ("adversarial", adversarial),
        ]
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        out.append(
            f'<table class="example"><caption>{esc(_header(ex))}</caption>'
            f"<tbody>{body}</tbody></table>"
        )
    return "\n".join(out)


def render_examples(
    examples: Sequence[Example], fmt: str = "terminal", context: int = DEFAULT_CONTEXT
) -> str:
    if fmt == "markdown":
        return render_markdown(examples, context)
    if fmt == "html":
        return render_html(examples, context)
    return render_terminal(examples, context)
