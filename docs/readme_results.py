"""Writes the README's "Results on Reuters-21578" section from the files that
docs/reuters_results.sh generated (each one the output of one harness command), and
sentences built from results.db (read-only): which model each run attacked, and the
default model's metrics against its PW-cb counterparts.

    python docs/readme_results.py POS=2 POS_PWCB=4 NEG=1 NEGC=3 [BCE_MODEL=5 PWCB_MODELS=6,7,8]
        [REPLICATES=9:10]   # bce:PW-cb model ids trained with other seeds
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reuters"
BEGIN, END = "<!-- reuters-results:begin -->", "<!-- reuters-results:end -->"


def table(name: str, drop_title: bool = True) -> str:
    text = (OUT / name).read_text().strip()
    if drop_title and text.startswith("**"):
        text = text.split("\n", 1)[1].strip()
    return text


def first_example(name: str) -> str:
    text = (OUT / name).read_text()
    parts = re.split(r"(?m)^### ", text)
    return ("### " + parts[1]).strip().replace("### ", "#### ", 1)


def db_rows(sql: str, *args: object) -> list[tuple]:
    """Rows of a read-only query on results.db (opened read-only)."""
    con = sqlite3.connect(f"file:{ROOT / 'results.db'}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def model_of_run(run: str) -> int:
    return int(db_rows("SELECT trained_model_id FROM runs WHERE id = ?", int(run))[0][0])


def model_row(model_id: int) -> tuple[dict, dict]:
    options, metrics = db_rows(
        "SELECT model_options, metrics FROM trained_models WHERE id = ?", model_id
    )[0]
    return json.loads(options), json.loads(metrics)


def loss_comparison(bce: int, weighted: list[int]) -> str:
    """The bce-vs-PW-cb sentences, from the models' recorded test metrics and options."""
    _, m_bce = model_row(bce)
    out = [
        f"The default `attentionxml` (model {bce}) reaches P@1 {m_bce['P@1']:.4f} and P@3 "
        f"{m_bce['P@3']:.4f}."
    ]
    for model in weighted:
        (loss_options,) = db_rows("SELECT loss_options FROM trained_models WHERE id = ?", model)[0]
        lo = json.loads(loss_options)
        how = f"{lo.get('weighting')}, weights normalised over {lo.get('normalise', 'labels')}"
        if lo.get("defer"):
            how += f" and applied from {lo['defer']:.0%} of training on (deferred re-weighting)"
        _, m = model_row(model)
        verdict = "higher" if m["PSP@5"] > m_bce["PSP@5"] else "lower"
        out.append(
            f"Trained with {how} under the same seed and model options (model {model}), its "
            f"PSP@5 is {verdict}: {m['PSP@5']:.4f} against {m_bce['PSP@5']:.4f} (P@1 "
            f"{m['P@1']:.4f})."
        )
    return " ".join(out)


def optimum_note() -> str:
    """The re-ranking table of docs/reweighted_optimum.py, when it was generated."""
    path = OUT / "reweighted_optimum.md"
    if not path.exists():
        return ""
    lines = path.read_text().strip().splitlines()
    return (
        "Is that the loss or the training? Weighted BCE is minimised by "
        "`σ(z_j) = w_j η / (w_j η + 1 − η)`, so re-ranking the bce model's probabilities by "
        "`log w_j + logit η` shows what each weighting scores at its optimum "
        "(`python docs/reweighted_optimum.py`, "
        + lines[0].rstrip(":")
        + "):\n\n"
        + "\n".join(lines[1:])
        + "\n\nAt its optimum PW-cb would raise PSP@5 a little at almost no cost in P@1, and "
        "the trained PW-cb networks fall short of it. That suggests (taking the bce model's "
        "probabilities as the truth, an approximation) that on this corpus the gap is in how "
        "the network learns under these weights, where a tail label's single document counts "
        "up to ~190 times a head label's, rather than in the loss's optimum. Deferred "
        "re-weighting (`--loss-opt defer=F`, after Cao et al., 2019) acts on exactly that: the "
        "network learns its features under plain weights for the first fraction F of training "
        "and only then under PW-cb."
    )


def replicates(pairs: str) -> str:
    """Other seeds of the same bce / PW-cb comparison (``A:B,...`` model ids), read from
    results.db, so the seed-0 difference can be judged against seed-to-seed spread."""
    out = []
    for pair in filter(None, pairs.split(",")):
        a, b = (int(x) for x in pair.split(":"))
        (seed,) = db_rows("SELECT seed FROM trained_models WHERE id = ?", a)[0]
        _, ma = model_row(a)
        _, mb = model_row(b)
        diffs = ", ".join(f"{k} {mb[k] - ma[k]:+.4f}" for k in ("P@1", "PSP@1", "PSP@3", "PSP@5"))
        out.append(
            f"seed {seed}: bce (model {a}) P@1 {ma['P@1']:.4f}, P@3 {ma['P@3']:.4f}, PSP@5 "
            f"{ma['PSP@5']:.4f}; deferred PW-cb (model {b}) PSP@5 {mb['PSP@5']:.4f}; PW-cb − "
            f"bce: {diffs}"
        )
    if not out:
        return ""
    return (
        "The same two trainings with another seed, to set the differences above against "
        "seed-to-seed spread: " + "; ".join(out) + "."
    )


def bootstrap_note() -> str:
    """The compare-models table (docs/reuters_results.sh with PWCB_MODEL) and which of its
    intervals clear zero, read from the same command's JSON."""
    md, js = OUT / "compare_models.md", OUT / "compare_models.json"
    if not (md.exists() and js.exists()):
        return ""
    doc = json.loads(js.read_text())
    a, b = doc["model_a"], doc["model_b"]
    above = [r["metric"] for r in doc["rows"] if r["low"] > 0]
    below = [r["metric"] for r in doc["rows"] if r["high"] < 0]
    level = [r["metric"] for r in doc["rows"] if r["low"] <= 0 <= r["high"]]

    def names(ms: list[str]) -> str:
        return ", ".join(ms) if ms else "none"

    return (
        f"Is model {b}'s difference from model {a} more than the luck of this test split? "
        f"Both score the same {doc['n_documents']:,} test documents; resampling documents "
        f"(`xmtc-harness compare-models {a} {b}`, {doc['resamples']} resamples) gives each "
        "difference a 95% interval:\n\n"
        + table("compare_models.md")
        + f"\n\nModel {b} is ahead, with intervals clear of zero, on: {names(above)}; behind on: "
        f"{names(below)}; within resampling noise on: {names(level)}."
    )


def attack_comparison(runs: dict[str, str]) -> str:
    """The paired per-bin comparison of the two positive-targeted runs (McNemar), and a
    sentence read from the same command's JSON."""
    js = OUT / "compare_bce_vs_pwcb.json"
    if not js.exists():
        return ""
    doc = json.loads(js.read_text())
    rows = [r for r in doc["rows"] if r["bin"] != "all"]
    total = next(r for r in doc["rows"] if r["bin"] == "all")
    small = [str(r["bin"]) for r in rows if r["mcnemar_exact_p"] < 0.05]
    return (
        f"Paired, on the {total['n_pairs']} (document, label) pairs both runs attacked "
        f"(`xmtc-harness compare {runs['POS']} {runs['POS_PWCB']}`):\n\n"
        + table("compare_bce_vs_pwcb.md")
        + f"\n\nOverall the difference is {100 * total['difference_b_minus_a']:+.1f} points "
        f"(McNemar p = {total['mcnemar_exact_p']:.2f}); bins with p < 0.05: "
        f"{', '.join(small) if small else 'none'}."
    )


def run_models(runs: dict[str, str], default: int) -> str:
    """Which model each run attacked, how its pairs were drawn, and how the models older
    than the current default differ from it (all read from results.db)."""
    base, _ = model_row(default)
    by_model: dict[int, list[str]] = {}
    paired = []
    for key in ("POS", "POS_PWCB", "NEG", "NEGC"):
        run = runs[key]
        if run in sum(by_model.values(), []):
            continue
        by_model.setdefault(model_of_run(run), []).append(run)
        (config,) = db_rows("SELECT config FROM runs WHERE id = ?", int(run))[0]
        with_ = json.loads(config).get("paired_with") or []
        if with_:
            paired.append(f"run {run} with `--paired-with {' '.join(map(str, with_))}`")
    parts = [
        f"run{'s' if len(r) > 1 else ''} {', '.join(r)} attacked model {m}"
        for m, r in by_model.items()
    ]
    text = "Runs and models: " + "; ".join(parts) + "."
    if paired:
        text += " Paired draws: " + "; ".join(paired) + "."
    for model in by_model:
        options, metrics = model_row(model)
        diff = [
            f"{k} {options.get(k, 'unset')}"
            for k in sorted(base)
            if options.get(k) != base[k] and k != "label_bias"
        ]
        if model != default and "hidden" in " ".join(diff):
            text += (
                f" Model {model} predates the current defaults ({', '.join(diff)}; test P@1 "
                f"{metrics['P@1']:.4f})."
            )
    return text


def main() -> None:
    runs = dict(a.split("=") for a in sys.argv[1:])
    bce = int(runs.get("BCE_MODEL", model_of_run(runs["POS"])))
    weighted = [
        int(m) for m in runs.get("PWCB_MODELS", str(model_of_run(runs["POS_PWCB"]))).split(",")
    ]
    body = f"""{BEGIN}

Reduced CPU runs on this project's 2-core machine (Reuters-21578, Lewis split, all five
label fields, 429 labels with a training document; seed 0). Every table below is the
output of one command on `results.db`; `docs/reuters_results.sh` regenerates them all, and
`docs/reuters/report/index.html` is the HTML report of the same runs.

**Trained models** (`xmtc-harness models --dataset reuters21578 --format markdown`):

{table("models.md", drop_title=False)}

{loss_comparison(bce, weighted)}

{optimum_note()}

{bootstrap_note()} {replicates(runs.get("REPLICATES", ""))}

**Positive-targeted attacks** (the paper's Table 3; AttentionXML with bce and with PW-cb,
k = 5, GloVe substituter, USE similarity ≥ 0.8 (cosine), θ = 0.1;
`xmtc-harness leaderboard --run {runs["POS"]} --run {runs["POS_PWCB"]} --summary`):

{table("table3_positive.md")}

{run_models(runs, bce)}

By label frequency (`xmtc-harness leaderboard --run {runs["POS"]} --run {runs["POS_PWCB"]}
--plot ...`; the paper's Figure 2): success rate per frequency bin, rarest labels
first (the per-bin table with every metric is `docs/reuters/positive_by_bin.md`).

![success rate against label frequency](docs/reuters/figure2_positive_by_frequency.png)

{attack_comparison(runs)}

**Negative-targeted attacks** without and with `--cluster` (the paper's Table 5;
`xmtc-harness leaderboard --run {runs["NEG"]} --run {runs["NEGC"]} --summary`):

{table("table5_negative.md")}


**An adversarial example** (the paper's Tables 1 and 6;
`xmtc-harness examples --run {runs["POS"]} --format markdown`; struck words were replaced by
the bold ones):

{first_example("examples_positive.md")}

{END}"""
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: body, text, flags=re.S)
    else:
        marker = "## Map of the code"
        text = text.replace(marker, "## Results on Reuters-21578\n\n" + body + "\n\n" + marker, 1)
    readme.write_text(text)


if __name__ == "__main__":
    main()
