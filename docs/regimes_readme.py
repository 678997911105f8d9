"""Writes the answer of the regime comparison in words, from the files
``docs/regimes_comparison.py`` wrote (each the output of one harness command): for every
regime against plain bce, the attacks' success on the shared pairs overall and in the
rarest bin with McNemar's exact test, the clean metrics' differences with their paired
bootstrap intervals, and the training cost the regime recorded. A statement says "within
noise" wherever the test or the interval does not exclude no difference (p ≥ 0.05, or an
interval that holds 0), and nothing else is claimed.

    python docs/regimes_readme.py [--out docs/regimes] [--readme README.md]

Without ``--readme`` the section is printed; with it, the text between the README's
``regimes-results`` markers is replaced (the markers are added at the end if missing).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

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


def cost_sentence(train_text: str) -> str:
    found = re.search(r"^training cost \((\w+)\): (.*)$", train_text, re.M)
    return found.group(2) if found else "plain training (no extra cost)"


def section(out: Path) -> str:
    record = json.loads((out / "regimes.json").read_text())
    lines = [
        f"Seed {record['seed']}; every regime attacked on the same pairs. Differences are "
        "this regime minus plain bce; success intervals and per-bin tables are in "
        f"`{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}`.",
        "",
    ]
    if record.get("quick"):
        lines += [
            "**A quick check of the pipeline on a synthetic corpus: it answers nothing.**",
            "",
        ]
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
            rows = json.loads((out / f"{attack}_bce_vs_{name}.json").read_text())["rows"]
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
        train = out / f"train_{name}.txt"
        if train.exists():
            lines.append(f"- Training cost: {cost_sentence(train.read_text())}.")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "regimes")
    ap.add_argument("--readme", type=Path)
    a = ap.parse_args(argv)
    body = section(a.out.resolve())
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
