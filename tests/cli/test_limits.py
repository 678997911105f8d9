"""Values inside their declared types but outside what the data allows (issue 13, items 9 and
11): ``--k`` above the label count, seeds outside ``0..2**63-1``, NaN and infinity in float
options, unbounded resamples and metric cut-offs, a synthetic corpus bigger than memory; and
``--fresh``, whose superseded run is left out of the leaderboard but stays selectable.

Each refusal is one line naming the option, exit code 2, and nothing trained: the model folder
is not created. Generated option values (hypothesis) cover every numeric option a built-in
plugin declares, at and beyond its range.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.components import Component, Option
from harness.errors import UsageError
from harness.registry import load_registry
from tests.helpers.cli import SYNTH, main_captured, run_main
from tests.helpers.workspace import Workspace, make_workspace, stored_trials


def _one_line(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def _eval(tmp: Path, *extra: str) -> list[str]:
    return [
        "--db", str(tmp / "r.db"), "eval", *SYNTH, "--model", "linear", "--no-progress",
        "--model-dir", str(tmp / "m"), "--cache-dir", str(tmp / "c"), *extra,
    ]  # fmt: skip


REFUSED = [
    (["--k", "101"], ["--k", "100 labels"]),
    (["--k", "1000000000"], ["--k", "100 labels"]),
    (["--targets", "1000"], ["--targets"]),
    (["--seed", "-1"], ["--seed", "2**63 - 1"]),
    (["--seed", str(2**63)], ["--seed"]),
    (["--seed", str(10**30)], ["--seed"]),
    (["--model-opt", "C=nan"], ["model:linear.C", "finite"]),
    (["--model-opt", "C=inf"], ["model:linear.C", "finite"]),
    (["--loss-opt", "propensity_a=nan"], ["propensity_a", "finite"]),
    (["--loss-opt", "propensity_b=-inf"], ["propensity_b", "finite"]),
    (["--max-change", "nan"], ["--max-change"]),
    (["--min-sim", "nan"], ["--min-sim"]),
    (["--dataset-opt", f"n_docs={2**64}"], ["dataset:synthetic.n_docs", "64-bit"]),
]


@pytest.mark.parametrize(("extra", "needles"), REFUSED, ids=lambda v: " ".join(v))
def test_values_beyond_what_the_data_allows_are_refused_before_training(
    extra: list[str], needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, err = run_main(_eval(tmp_path, *extra), capsys)
    _one_line(code, err, *needles)
    assert out == ""
    assert not (tmp_path / "m").exists(), "nothing is trained for a rejected value"


def test_train_refuses_a_negative_seed_before_recording_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = [
        "--db", str(tmp_path / "r.db"), "train", *SYNTH, "--model", "linear", "--seed", "-1",
        "--model-dir", str(tmp_path / "m"), "--no-progress",
    ]  # fmt: skip
    code, _out, err = run_main(argv, capsys)
    _one_line(code, err, "--seed")
    assert not (tmp_path / "m").exists()


def test_attentionxml_memory_guard_cannot_be_switched_off_by_nan(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, _out, err = run_main(
        _eval(tmp_path, "--model", "attentionxml", "--model-opt", "max_activation_mb=nan"), capsys
    )
    _one_line(code, err, "max_activation_mb", "finite")
    assert not (tmp_path / "m").exists()


def test_synthetic_corpus_bigger_than_memory_is_refused_before_drawing(
    capsys: pytest.CaptureFixture,
) -> None:
    argv = ["data", "stats", "synthetic", "--opt", "n_docs=100000", "--opt", "doc_length=100000"]
    code, _out, err = run_main(argv, capsys)
    _one_line(code, err, "dataset:synthetic.n_docs", "GiB")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("limits") / "ws", trials=2)


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--resamples", str(10**9)], ["--resamples"]),
        (["--seed", "-1"], ["--seed"]),
        (["--metric", "P@1000000000"], ["--metric", "100 labels"]),
        (["--metric", "P@0"], ["unknown 'P@0'"]),
    ],
    ids=lambda v: " ".join(v),
)
def test_compare_models_bounds(
    workspace: Workspace, extra: list[str], needles: list[str], capsys: pytest.CaptureFixture
) -> None:
    code, out, err = run_main(
        ["--db", str(workspace.db), "compare-models", "1", "1", *extra], capsys
    )
    _one_line(code, err, *needles)
    assert out == ""


def test_fresh_start_is_not_counted_twice(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace.copy(tmp_path / "ws")
    code, _out, err = main_captured(ws.eval_args("--limit", "2", "--no-train", "--fresh"))
    assert code == 0, err
    db = ["--db", str(ws.db)]
    code, out, err = main_captured(
        [*db, "query", "runs", "--status", "superseded", "--format", "json"]
    )
    assert code == 0, err
    (old,) = json.loads(out)["rows"]
    assert old["status"] == "superseded" and old["n_trials"] == 2

    def attempted(*extra: str) -> int:
        code, out, err = main_captured(
            [*db, "leaderboard", "--summary", "--format", "json", *extra]
        )
        assert code == 0, err
        return sum(int(row["n_trials"]) for row in json.loads(out)["rows"])

    assert attempted() == 2  # the new run's two trials, not the old run's too
    assert attempted("--status", "superseded") == 2  # the old run, asked for by status
    assert attempted("--run", str(old["id"])) == 2  # or by id


# --- generated option values, at and beyond every declared range ---------------------------

NUMERIC = [
    (comp, opt)
    for comp in load_registry().all()
    for opt in comp.options
    if opt.type in (int, float) and opt.choices is None
]


def _values(opt: Option) -> st.SearchStrategy[str]:
    edges = [b for b in (opt.min, opt.max) if b is not None]
    near = (
        [st.sampled_from(edges).flatmap(lambda b: st.sampled_from([b, b - 1, b + 1, b * 2, -b]))]
        if edges
        else []
    )
    numbers = st.one_of(
        *near,
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    return st.one_of(
        numbers.map(repr),
        st.sampled_from(["nan", "-inf", "inf", "1e999", "", " ", "0x10", "1_0", "½"]),
    )


@pytest.mark.parametrize(
    ("comp", "opt"), NUMERIC, ids=[f"{c.kind}:{c.name}.{o.name}" for c, o in NUMERIC]
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_plugin_option_values(comp: Component, opt: Option, data: st.DataObject) -> None:
    """Every value is either accepted inside the declared range (finite, 64-bit) or refused
    as one line naming ``kind:name.option``."""
    raw = data.draw(_values(opt))
    try:
        value = comp.resolve_options({opt.name: raw})[opt.name]
    except UsageError as exc:
        message = str(exc)
        assert f"{comp.kind}:{comp.name}.{opt.name}" in message, message
        assert "\n" not in message
        return
    assert isinstance(value, opt.type)
    if isinstance(value, float):
        assert math.isfinite(value)
    else:
        assert -(2**63) <= value < 2**63
    if opt.min is not None:
        assert value > opt.min or (opt.min_inclusive and value == opt.min)
    if opt.max is not None:
        assert value < opt.max or (opt.max_inclusive and value == opt.max)


def _numeric_options() -> list[tuple[str, click.Option]]:
    """Every option of every command that takes a number, read off the command line itself
    (so an option added later is generated too)."""
    from harness.cli import cli

    found = []
    for path, command in _commands(cli, ()):
        for param in command.params:
            number = isinstance(param.type, click.types._NumberParamTypeBase)
            if isinstance(param, click.Option) and number and not param.is_flag:
                found.append((" ".join(path), param))
    return found


def _commands(group: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command below ``group``, through click's own listing (the top group loads
    its commands on demand, so ``group.commands`` alone may be empty)."""
    if isinstance(group, click.Group):
        with click.Context(group) as ctx:
            subs = [(n, group.get_command(ctx, n)) for n in group.list_commands(ctx)]
        return [c for n, sub in subs if sub is not None for c in _commands(sub, (*path, n))]
    return [(path, group)]


CLI_NUMBERS = _numeric_options()
SAFE_TO_RUN = {"eval", "compare-models", "query", "leaderboard", "examples", "report"}
"""Commands a generated value the command line accepts may run (cheap on the tiny
workspace, no network); ``train`` and ``data fetch`` get only values that must be refused."""


def _cli_values(param: click.Option) -> st.SearchStrategy[str]:
    lo, hi = getattr(param.type, "min", None), getattr(param.type, "max", None)
    edges = [b for b in (lo, hi) if b is not None]
    ints = [st.integers(-(2**70), 2**70), st.integers(-3, 400)]
    if edges:
        ints.append(st.sampled_from(edges).flatmap(lambda b: st.sampled_from([b - 1, b, b + 1])))
    return st.one_of(
        st.one_of(*ints).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["nan", "-inf", "1e999", "", " ", "0x10", "1_0", "½", "0.5", "-0"]),
    )


def _must_refuse(param: click.Option, raw: str) -> bool:
    """Whether the command line's own type refuses ``raw`` (or it is not a finite number)."""
    try:
        value = param.type.convert(raw, param, None)
    except click.BadParameter:
        return True
    return isinstance(value, float) and not math.isfinite(value)


def _argv(command: str, ws: Workspace, db: Path, out: Path) -> list[str]:
    base = {
        "eval": lambda: ws.eval_args("--limit", "1", "--no-train", db=db),
        "train": lambda: ws.train_args(db=db),
        "compare-models": lambda: ["--db", str(db), "compare-models", "1", "1"],
        "query": lambda: ["--db", str(db), "query", "trials", "--format", "csv"],
        "leaderboard": lambda: ["--db", str(db), "leaderboard", "--format", "csv"],
        "examples": lambda: ["--db", str(db), "examples", "--run", "1", "--format", "markdown"],
        "report": lambda: ["--db", str(db), "report", "--out", str(out)],
        "data fetch": lambda: ["data", "fetch", "reuters21578", "--data-dir", str(out)],
    }
    return base[command]()


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    choice=st.sampled_from(CLI_NUMBERS).flatmap(lambda c: st.tuples(st.just(c), _cli_values(c[1])))
)
def test_generated_command_line_numbers(
    tmp_path_factory: pytest.TempPathFactory,
    workspace: Workspace,
    choice: tuple[tuple[str, click.Option], str],
) -> None:
    """Every numeric option of every command, at and beyond its range: a value the command
    line's type refuses (or a NaN, an infinity) is one line naming the option, exit 2,
    nothing trained and no committed trial touched; any other value runs or is refused in
    one line (a limit that follows from the data, such as k above the label count), never a
    traceback."""
    (command, param), raw = choice
    refuse = _must_refuse(param, raw)
    assume(refuse or command in SAFE_TO_RUN)
    folder = tmp_path_factory.getbasetemp() / "cli-numbers"
    if not folder.exists():
        workspace.copy(folder / "ws")
    ws = Workspace(folder / "ws")
    committed, models = stored_trials(ws.db), _tree(ws.models)
    start = time.process_time()
    code, out, err = main_captured([*_argv(command, ws, ws.db, folder / "out"), param.opts[0], raw])
    assert time.process_time() - start < 60
    assert "Traceback" not in err and code in (0, 2), (code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if refuse:
        assert code == 2, (command, param.opts[0], raw, out)
        assert len(lines) == 1 and param.opts[0] in lines[0], err
        assert out == ""
    elif code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    after = stored_trials(ws.db)
    assert committed is not None and after is not None and set(committed) <= set(after)
    assert _tree(ws.models) == models, "nothing is trained by a generated value"
