"""Hostile command lines: every bad value gives one line naming the option, exit code 2, and
no traceback — checked through ``harness.cli.main`` (the console-script entry) in-process,
and for a sample of cases through a real interpreter in a subprocess.

(Malformed dataset files are covered by tests/test_datasets_*.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import SYNTH, eval_args, one_line_error, run_cli, run_main


def _assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err


BASE = ["eval", *SYNTH, "--model", "linear", "--no-progress"]

# (extra arguments, words the one-line error must contain)
OUT_OF_RANGE = [
    (["--k", "0"], ["--k", "must be >= 1"]),
    (["--k", "-3"], ["--k"]),
    (["--max-change", "0"], ["--max-change", "(0, 1]"]),
    (["--max-change", "1.5"], ["--max-change", "1.5"]),
    (["--max-change", "-0.2"], ["--max-change"]),
    (["--min-sim", "1.2"], ["--min-sim", "[0, 1]"]),
    (["--min-sim", "-0.1"], ["--min-sim", "-0.1"]),
    (["--labels-per-bin", "0"], ["--labels-per-bin"]),
    (["--samples-per-bin", "0"], ["--samples-per-bin"]),
    (["--targets", "0"], ["--targets"]),
    (["--max-leaf", "1"], ["--max-leaf"]),
    (["--max-batch", "0"], ["--max-batch"]),
    (["--max-queries", "0"], ["--max-queries"]),
    (["--limit", "-1"], ["--limit"]),
    (["--model-opt", "hidden"], ["--model-opt", "key=value", "'hidden'"]),
    (["--model-opt", "=3"], ["--model-opt", "key=value"]),
    (["--dataset-opt", "n_docs"], ["--dataset-opt", "key=value"]),
    (["--loss-opt", "beta"], ["--loss-opt"]),
    (["--substituter-opt", "k"], ["--substituter-opt"]),
    (["--similarity-opt", "x"], ["--similarity-opt"]),
    (["--importance-opt", ""], ["--importance-opt"]),
    # unknown plugin names, for each kind the eval command selects
    (["--importance", "nope"], ["unknown importance 'nope'", "known:", "mask"]),
    (["--substituter", "nope"], ["unknown substituter 'nope'", "known:", "glove"]),
    (["--similarity", "nope"], ["unknown similarity 'nope'", "known:", "use"]),
    (["--dataset", "nope"], ["unknown dataset 'nope'", "known:", "synthetic"]),
    # option values the plugin declares a range or type for
    (["--substituter-opt", "k=0"], ["substituter:glove.k", "must be ≥ 1"]),
    (["--substituter-opt", "k=many"], ["substituter:glove.k", "expected int"]),
    (["--substituter-opt", "bogus=1"], ["substituter glove", "unknown option(s) bogus"]),
    (["--similarity-opt", "scale=octal"], ["similarity:use.scale", "not one of"]),
]


@pytest.mark.parametrize(("extra", "needles"), OUT_OF_RANGE, ids=lambda v: " ".join(v))
def test_bad_eval_values_are_one_line_exit_2(
    extra: list[str], needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = [
        "--db", str(tmp_path / "r.db"), *BASE, "--model-dir", str(tmp_path / "m"),
        "--cache-dir", str(tmp_path / "c"), *extra,
    ]  # fmt: skip
    code, out, err = run_main(argv, capsys)
    _assert_one_line(code, err, *needles)
    assert out == ""
    assert not (tmp_path / "m").exists(), "nothing is trained for a rejected command line"


def test_unknown_model_loss_and_bad_model_options(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Names and values checked after the dataset is loaded, before anything is trained."""
    common = [
        "--db", str(tmp_path / "r.db"), "eval", *SYNTH, "--no-progress",
        "--model-dir", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"),
    ]  # fmt: skip
    cases = [
        (["--model", "nope"], ["unknown model 'nope'", "linear"]),
        (["--model", "linear", "--loss", "nope"], ["unknown loss 'nope'", "bce"]),
        (["--model", "linear", "--model-opt", "ngram_max=9"], ["ngram_max", "≤ 3"]),
        (["--model", "linear", "--model-opt", "ngram_max=two"], ["ngram_max", "expected int"]),
        (["--model", "linear", "--model-opt", "bogus=1"], ["unknown option(s) bogus"]),
        (["--model", "linear", "--loss-opt", "bogus=1"], ["bogus"]),
    ]
    for extra, needles in cases:
        code, out, err = run_main([*common, *extra], capsys)
        _assert_one_line(code, err, *needles)
    assert not list((tmp_path / "m").rglob("*.safetensors")) if (tmp_path / "m").exists() else True


def test_flat_model_too_large_for_memory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """AttentionXML's flat label attention grows with the label count: 40,000 labels at the
    default batch exceed its activation-memory limit, and training refuses up front with the
    option to change (instead of being killed by the OOM killer hours later)."""
    argv = [
        "--db", str(tmp_path / "r.db"), "eval", "--dataset", "synthetic",
        "--dataset-opt", "n_docs=200", "--dataset-opt", "n_labels=40000",
        "--dataset-opt", "labels_per_doc=1", "--model", "attentionxml", "--no-progress",
        "--model-opt", "tree=off",  # auto would train the label tree at this size
        "--model-dir", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"),
    ]  # fmt: skip
    code, _out, err = run_main(argv, capsys)
    _assert_one_line(code, err, "max_activation_mb", "40000 labels", "MB")
    assert not list(tmp_path.rglob("*.safetensors"))


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--max-change", "1.5"], "option --max-change"),
        (["--min-sim", "-0.1"], "option --min-sim"),
        (["--similarity", "nope"], "unknown similarity 'nope'"),
    ],
)
def test_subprocess_exit_code_and_no_traceback(
    extra: list[str], needle: str, tmp_path: Path
) -> None:
    """The installed entry point, in a fresh interpreter: exit status 2, one stderr line."""
    res = run_cli(eval_args(tmp_path, *extra), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    line = one_line_error(res)
    assert needle in line
    assert res.stdout == ""


def test_click_level_type_errors_are_exit_2_without_traceback(tmp_path: Path) -> None:
    """Non-numbers for numeric options and unknown choices are click usage errors (exit 2)."""
    res = run_cli(eval_args(tmp_path, "--k", "five", "--attack", "sideways"), cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "'five' is not a valid integer" in res.stderr or "sideways" in res.stderr
