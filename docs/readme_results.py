"""Writes the README's "Results on Reuters-21578" section from the files that
docs/reuters_results.sh generated (each one the output of one harness command)."""

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


def loss_comparison(bce: int, pwcb: int) -> str:
    """The bce-vs-PW-cb sentence, from the two models' recorded test metrics."""
    _, m_bce = model_row(bce)
    _, m_pw = model_row(pwcb)
    verdict = "higher" if m_pw["PSP@5"] > m_bce["PSP@5"] else "lower"
    return (
        f"The default `attentionxml` (model {bce}) reaches P@1 {m_bce['P@1']:.4f} and P@3 "
        f"{m_bce['P@3']:.4f}. Trained with PW-cb under the same seed and options (model "
        f"{pwcb}), its PSP@5 is {verdict}: {m_pw['PSP@5']:.4f} against {m_bce['PSP@5']:.4f} "
        f"(P@1 {m_pw['P@1']:.4f} against {m_bce['P@1']:.4f})."
    )


def older_models(runs: dict[str, str], default: int) -> str:
    """Which negative-targeted runs attacked a model other than the current default, and
    how that model's options differ from the default's."""
    base, _ = model_row(default)
    by_model: dict[int, list[str]] = {}
    for key in ("NEG", "NEGC"):
        by_model.setdefault(model_of_run(runs[key]), []).append(runs[key])
    notes = []
    for model, run_ids in by_model.items():
        if model == default:
            continue
        options, metrics = model_row(model)
        diff = ", ".join(
            f"{k} {options.get(k, 'unset')} (default now {base[k]})"
            for k in sorted(base)
            if options.get(k) != base[k] and k != "label_bias"
        )
        notes.append(
            f"runs {' and '.join(run_ids)} attacked model {model}, a bce-trained AttentionXML "
            f"from before the current defaults ({diff}; test P@1 {metrics['P@1']:.4f})"
        )
    return ("Negative-targeted: " + "; ".join(notes) + ".") if notes else ""


def main() -> None:
    runs = dict(a.split("=") for a in sys.argv[1:])
    bce, pwcb = model_of_run(runs["POS"]), model_of_run(runs["POS_PWCB"])
    body = f"""{BEGIN}

Reduced CPU runs on this project's 2-core machine (Reuters-21578, Lewis split, all five
label fields, 429 labels with a training document; seed 0). Every table below is the
output of one command on `results.db`; `docs/reuters_results.sh` regenerates them all, and
`docs/reuters/report/index.html` is the HTML report of the same runs.

**Trained models** (`xmtc-harness models --dataset reuters21578 --format markdown`):

{table("models.md", drop_title=False)}

{loss_comparison(bce, pwcb)}

**Positive-targeted attacks** (the paper's Table 3; AttentionXML with bce and with PW-cb,
k = 5, GloVe substituter, USE similarity ≥ 0.8 (cosine), θ = 0.1;
`xmtc-harness leaderboard --run {runs["POS"]} --run {runs["POS_PWCB"]} --summary`):

{table("table3_positive.md")}

Both runs attack the same pairs: each was drawn with `--paired-with model:ID` of the other
model, so a pair is attacked only when both models predict its target correctly (the
paper's protocol for its Figure 2).

By label frequency (`xmtc-harness leaderboard --run {runs["POS"]} --run {runs["POS_PWCB"]}
--plot ...`; the paper's Figure 2): tail labels fall almost every time, the most frequent
bin resists.

![success rate against label frequency](docs/reuters/figure2_positive_by_frequency.png)

{table("positive_by_bin.md")}

**Negative-targeted attacks** without and with `--cluster` (the paper's Table 5;
`xmtc-harness leaderboard --run {runs["NEG"]} --run {runs["NEGC"]} --summary`):

{table("table5_negative.md")}

{older_models(runs, bce)}

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
