#!/usr/bin/env bash
# Regenerates docs/reuters/: the Reuters-21578 tables, plots, examples and HTML report that the
# README shows, from the runs in results.db. Every file is the output of one harness command.
#
#   POS=2 NEG=1 NEGC=3 POS_PWCB=4 [BCE_MODEL=5 [PWCB_MODEL=8]] bash docs/reuters_results.sh
#
# POS / POS_PWCB: positive-targeted runs on AttentionXML trained with bce and with bce+PW-cb;
# NEG / NEGC: negative-targeted runs without and with --cluster; BCE_MODEL / PWCB_MODEL: the
# trained models whose test metrics are compared with a paired bootstrap.
set -euo pipefail
: "${POS:?run id of the positive-targeted bce run}" "${NEG:?}" "${NEGC:?}" "${POS_PWCB:?}"
out=docs/reuters
mkdir -p "$out"
x() { echo "+ xmtc-harness $*" >&2; xmtc-harness "$@"; }

x models --dataset reuters21578 --format markdown > "$out/models.md"
# Table 3 / Table 5 analogues: one row per run, overall success, similarity, change rate.
x leaderboard --run "$POS" --run "$POS_PWCB" --summary --format markdown --out "$out/table3_positive.md"
x leaderboard --run "$NEG" --run "$NEGC" --summary --format markdown --out "$out/table5_negative.md"
# Per-frequency tables and the Figure 2 analogue (success rate against label frequency).
x leaderboard --run "$POS" --run "$POS_PWCB" --format markdown --out "$out/positive_by_bin.md" \
  --plot "$out/figure2_positive_by_frequency.png"
x leaderboard --run "$NEG" --run "$NEGC" --format markdown --out "$out/negative_by_bin.md" \
  --plot "$out/negative_by_frequency.png"
x compare "$POS" "$POS_PWCB" --format markdown --out "$out/compare_bce_vs_pwcb.md"
x compare "$POS" "$POS_PWCB" --format json --out "$out/compare_bce_vs_pwcb.json"
# Table 1 / Table 6 analogues: adversarial examples with the target's rank before and after.
x examples --run "$POS" --limit 3 --context 10 --format markdown --out "$out/examples_positive.md"
x examples --run "$NEGC" --limit 3 --context 10 --format markdown --out "$out/examples_negative_cluster.md"
x report --run "$POS" --run "$POS_PWCB" --run "$NEG" --run "$NEGC" --out "$out/report"
# What PW / PW-cb would score at their optimum, from the default bce model's probabilities.
if [ -n "${BCE_MODEL:-}" ]; then
  echo "+ python docs/reweighted_optimum.py --model-id $BCE_MODEL" >&2
  python docs/reweighted_optimum.py --model-id "$BCE_MODEL" > "$out/reweighted_optimum.md"
fi
if [ -n "${BCE_MODEL:-}" ] && [ -n "${PWCB_MODEL:-}" ]; then
  for fmt in markdown json; do
    x compare-models "$BCE_MODEL" "$PWCB_MODEL" --format "$fmt" --no-progress \
      > "$out/compare_models.${fmt/markdown/md}"
  done
fi
