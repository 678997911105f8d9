"""Writes the answer of the regime comparison, from the files ``docs/regimes_comparison.py``
wrote (each the output of one harness command): per attack, which regimes bce is beaten by
or beats beyond noise; a table of every regime's clean metrics, training seconds and cost,
and success overall and in the rarest bin with Wilson intervals; the plots of success by
label frequency; and for every regime against plain bce, the attacks' success on the shared
pairs overall and in the rarest bin with McNemar's exact test, the clean metrics'
differences with their paired bootstrap intervals, and the training cost the regime
recorded. A statement says "within noise" wherever the test or the interval does not
exclude no difference (p ≥ 0.05, or an interval that holds 0), and nothing else is claimed.

    python docs/regimes_readme.py [--out docs/regimes] [--out docs/regimes/linear] \
        [--readme README.md]

Without ``--readme`` the section is printed; with it, the text between the README's
``regimes-results`` markers is replaced (the markers are added at the end if missing).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from harness.report.models import cost_line

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- regimes-results:begin -->", "<!-- regimes-results:end -->"
ALPHA = 0.05
CLEAN = ("P@1", "P@5", "PSP@1", "PSP@5")
ATTACK_WORDS = {
    "positive-mask": "positive-targeted, `mask` importance (not the training attack's scorer)",
    "positive-gradient": "positive-targeted, `gradient` importance (the training attack's)",
    "negative-cluster": "negative-targeted with `--cluster`, `mask` importance",
}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def success_sentence(row: dict, what: str) -> str:
    """One bin's (or all bins') paired success of a regime (B) against bce (A)."""
    a, b, n, p = (
        row["success_rate_a"],
        row["success_rate_b"],
        row["n_pairs"],
        row["mcnemar_exact_p"],
    )
    if n == 0:
        return f"{what}: no shared pairs"
    diff = 100 * (b - a)
    if p is None or p >= ALPHA:
        verdict = "within noise"
    elif b < a:
        verdict = "fewer successes: more robust"
    else:
        verdict = "more successes: less robust"
    shown = "n/a" if p is None else f"{p:.3g}"
    return (
        f"{what}: {pct(b)} against bce's {pct(a)} on {n} shared pairs ({diff:+.1f} points; "
        f"only bce {row['only_a']}, only this regime {row['only_b']}; McNemar p = {shown}): "
        f"{verdict}"
    )


def clean_sentence(rows: list[dict]) -> str:
    parts = []
    for r in rows:
        if r["metric"] not in CLEAN:
            continue
        lo, hi = r["low"], r["high"]
        verdict = "within noise" if lo <= 0 <= hi else ("higher" if lo > 0 else "lower")
        parts.append(
            f"{r['metric']} {r['b']:.4f} ({r['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}], {verdict})"
        )
    return "; ".join(parts)


def cost_sentence(cost: dict | None) -> str:
    """What the regime recorded of its cost (``models --format json``'s ``training cost``)."""
    return cost_line(cost) if cost else "training cost: none beyond plain training"


def _ci(rate: float, low: float, high: float) -> str:
    return f"{100 * rate:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _where(out: Path) -> str:
    return str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out)


def _models(out: Path) -> dict[int, dict]:
    """The comparison's trained models by id (``models.json``; {} for older outputs)."""
    path = out / "models.json"
    if not path.exists():
        return {}
    return {row["id"]: row for row in json.loads(path.read_text())["rows"]}


def _paired(out: Path, attack: str, name: str) -> list[dict]:
    return json.loads((out / f"{attack}_bce_vs_{name}.json").read_text())["rows"]


def summary_table(out: Path, record: dict) -> list[str]:
    """One row per regime: clean metrics, training seconds and cost, and each attack's success
    on the shared pairs (overall and in the rarest bin) with 95% Wilson intervals."""
    models = _models(out)
    names = list(record["models"])
    attacks = list(record["runs"])
    head = ["regime", "model", *CLEAN, "train s", "s vs plain part"]
    for attack in attacks:
        head += [f"{attack} success % (all)", f"{attack} rarest bin"]
    rows = []
    others = [n for n in names if n != "bce"]
    for name in names:
        mid = record["models"][name]
        row = models.get(mid, {})
        cost = row.get("training cost") or {}
        ratio = cost.get("seconds_vs_plain")
        cells = [f"`{name}`", str(mid)]
        cells += [f"{row[m]:.4f}" if m in row else "–" for m in CLEAN]
        cells.append(f"{row['train s']:.0f}" if row.get("train s") is not None else "–")
        cells.append(f"{ratio:.2f}x" if isinstance(ratio, int | float) else "1x")
        for attack in attacks:
            # bce's own success is side A of every comparison; a regime's is side B of its own.
            rows_ = _paired(out, attack, name if name != "bce" else others[0])
            side = "a" if name == "bce" else "b"
            overall = next(r for r in rows_ if r["bin"] == "all")
            bins = [r for r in rows_ if r["bin"] != "all"]
            tail = min(bins, key=lambda r: r["freq_low"]) if bins else None
            for r in (overall, tail):
                if r is None or r["n_pairs"] == 0:
                    cells.append("–")
                else:
                    rate = r[f"success_rate_{side}"]
                    cells.append(_ci(rate, r[f"ci_low_{side}"], r[f"ci_high_{side}"]))
        rows.append(cells)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def verdict(out: Path, record: dict, attack: str) -> str:
    """Where an attack succeeds against a regime less (or more) often than against bce at
    p < 0.05: overall and in each frequency bin; regimes with no such place are named as
    within noise. Per-bin p-values are not corrected for the number of bins."""
    better, worse, level = [], [], []
    for name in record["models"]:
        if name == "bce":
            continue
        rows = _paired(out, attack, name)
        bins = sorted((r for r in rows if r["bin"] != "all"), key=lambda r: r["freq_low"])
        found = []
        for r in [next(x for x in rows if x["bin"] == "all"), *bins]:
            p = r["mcnemar_exact_p"]
            if p is None or p >= ALPHA or not r["n_pairs"]:
                continue
            if r["bin"] == "all":
                where = "overall"
            else:
                rarest = " (the rarest)" if r is bins[0] else ""
                where = f"in bin {r['bin']}{rarest}, frequency {r['freq_low']}–{r['freq_high']},"
            diff = 100 * (r["success_rate_b"] - r["success_rate_a"])
            found.append((diff, f"`{name}` {where} {diff:+.1f} points (p = {p:.3g})"))
        better += [t for d, t in found if d < 0]
        worse += [t for d, t in found if d > 0]
        if not found:
            level.append(f"`{name}`")
    words = ATTACK_WORDS.get(attack, attack)
    parts = [f"{words[0].upper()}{words[1:]}: more robust than bce:"]
    parts.append(f"{'; '.join(better) if better else 'none'}.")
    parts.append(f"Less robust: {'; '.join(worse) if worse else 'none'}.")
    if level:
        parts.append(f"Within noise of bce overall and in every bin: {', '.join(level)}.")
    return " ".join(parts)


def section(out: Path) -> str:
    record = json.loads((out / "regimes.json").read_text())
    models = _models(out)
    base = models.get(record["models"]["bce"], {})
    where = _where(out)
    title = f"#### {record.get('model', 'attentionxml')}"
    if base.get("dataset"):
        title += f" on {base['dataset']}"
    lines = [
        f"{title}, seed {record['seed']}",
        "",
        "Every regime attacked on the same pairs. Differences are this regime minus plain "
        f"bce; per-bin tables and every file behind this section are in `{where}`.",
        "",
    ]
    if record.get("quick"):
        lines += [
            "**A quick check of the pipeline on a synthetic corpus: it answers nothing.**",
            "",
        ]
    for attack in record["runs"]:
        lines.append(f"- {verdict(out, record, attack)}")
    lines += ["", *summary_table(out, record), ""]
    first = next(iter(record["runs"]))
    others = [n for n in record["models"] if n != "bce"]
    n_bins = sum(r["bin"] != "all" for r in _paired(out, first, others[0])) if others else 0
    lines.append(
        "Clean metrics on the test split; success in % of attacked pairs with its 95% Wilson "
        "interval; `s vs plain part`: the regime's seconds per epoch against its own plain "
        "part (1x for plain training). McNemar's exact test per bin is not corrected for the "
        f"number of bins: with {n_bins} bins, one p below 0.05 by chance alone is not rare."
    )
    lines.append("")
    for attack in record["runs"]:
        plot = out / f"{attack}_by_frequency.png"
        if plot.exists():
            lines.append(f"![{attack} success by label frequency]({_where(plot)})")
    lines.append("")
    for name in record["models"]:
        if name == "bce":
            continue
        how = " ".join(record["regimes"][name]) or "plain"
        lines.append(f"**{name}** (model {record['models'][name]}, `{how}`)")
        lines.append("")
        clean = json.loads((out / f"compare_models_bce_vs_{name}.json").read_text())
        intervals = clean_sentence(clean["rows"])
        lines.append(f"- Clean test metrics, paired bootstrap 95% intervals: {intervals}.")
        for attack in record["runs"]:
            rows = _paired(out, attack, name)
            overall = next((r for r in rows if r["bin"] == "all"), None)
            bins = [r for r in rows if r["bin"] != "all"]
            words = ATTACK_WORDS.get(attack, attack)
            if overall is not None:
                lines.append(f"- {words}: {success_sentence(overall, 'all bins')}.")
            if bins:
                tail = min(bins, key=lambda r: r["freq_low"])
                label = f"rarest bin (training frequency {tail['freq_low']}–{tail['freq_high']})"
                lines.append(f"  {success_sentence(tail, label)}.")
                sig = [
                    str(r["bin"])
                    for r in bins
                    if r["mcnemar_exact_p"] is not None and r["mcnemar_exact_p"] < ALPHA
                ]
                lines.append(f"  Bins with p < {ALPHA}: {', '.join(sig) if sig else 'none'}.")
        cost = models.get(record["models"][name], {}).get("training cost")
        said = cost_sentence(cost)
        lines.append(f"- {said[0].upper()}{said[1:]}.")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, action="append", help="A comparison's folder (repeatable).")
    ap.add_argument("--readme", type=Path)
    a = ap.parse_args(argv)
    outs = [out.resolve() for out in a.out or [ROOT / "docs" / "regimes"]]
    for out in outs:
        if not (out / "regimes.json").is_file():
            ap.error(f"--out {out}: no regimes.json (docs/regimes_comparison.py writes it)")
    body = "\n".join(section(out) for out in outs)
    if a.readme is None:
        print(body, end="")
        return
    text = a.readme.read_text()
    block = f"{BEGIN}\n\n{body}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    a.readme.write_text(text)


if __name__ == "__main__":
    main()
