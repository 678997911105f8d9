"""Plugins that raise, return the wrong thing, or watch a campaign and fail (issue 13, items
8, 10, 13 and 14): one line naming the plugin and the call, or a stored ``error`` trial
naming the plugin and the rule; never a traceback, never a run left "running".

The plugins are in ``tests/plugins_for_tests/`` (``hostile``, ``events``,
``bad_registration``), loaded with ``--plugin`` like any third party's, and a campaign of
them (a keyword corpus and model) runs in about a second, in this process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import main_captured
from tests.helpers.damage import connect, runs, trial_indices
from tests.plugins_for_tests.events import MESSAGE as WATCHER
from tests.plugins_for_tests.hostile import MESSAGE

HOSTILE = "tests.plugins_for_tests.hostile"
EVENTS = "tests.plugins_for_tests.events"


def campaign(tmp: Path, *extra: str, plugins: tuple[str, ...] = (HOSTILE,)) -> list[str]:
    pre = [a for p in plugins for a in ("--plugin", p)]
    return [
        *pre, "--db", str(tmp / "r.db"), "eval", "--dataset", "hostile-reader",
        "--model", "hostile-model", "--model-dir", str(tmp / "models"),
        "--cache-dir", str(tmp / "cache"), "--importance", "hostile-imp",
        "--substituter", "hostile-sub", "--similarity", "hostile-con", "--k", "3",
        "--labels-per-bin", "1", "--samples-per-bin", "2", "--no-progress", *extra,
    ]  # fmt: skip


def error_line(code: int, err: str, *needles: str) -> str:
    """The one error line of a refused command (after any progress lines), checked."""
    assert code == 2 and "Traceback" not in err, (code, err)
    errors = [ln for ln in err.strip().splitlines() if ln.startswith("error")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    for needle in needles:
        assert needle in errors[0], err
    return errors[0]


def no_run_left_running(db: Path) -> None:
    if db.exists():
        assert all(status != "running" for *_, status in runs(db)), runs(db)


# --- item 8: a plugin raising anywhere outside a trial ---------------------------------------


@pytest.mark.parametrize(
    "option, subject, method",
    [
        (["--dataset-opt", "fail=init"], "dataset 'hostile-reader'", "its factory"),
        (["--dataset-opt", "fail=load"], "dataset 'hostile-reader'", "load()"),
        (
            ["--loss", "hostile-loss", "--loss-opt", "fail=init"],
            "loss 'hostile-loss'",
            "its factory",
        ),
        (["--loss", "hostile-loss", "--loss-opt", "fail=bind"], "loss 'hostile-loss'", "bind()"),
        (["--model-opt", "fail=init"], "model 'hostile-model'", "its factory"),
        (["--model-opt", "fail=fit"], "model 'hostile-model'", "fit()"),
        (["--model-opt", "fail=predict"], "model 'hostile-model'", "predict_topk()"),
        (["--substituter-opt", "fail=init"], "substituter 'hostile-sub'", "its factory"),
        (["--importance-opt", "fail=init"], "importance 'hostile-imp'", "its factory"),
        (["--similarity-opt", "fail=init"], "similarity 'hostile-con'", "its factory"),
    ],
)
def test_plugin_raising_outside_a_trial_is_one_line_naming_it(
    tmp_path: Path, option: list[str], subject: str, method: str
) -> None:
    code, _out, err = main_captured(campaign(tmp_path, *option))
    error_line(code, err, subject, f"raised RuntimeError in {method}", MESSAGE)
    no_run_left_running(tmp_path / "r.db")
    assert not list((tmp_path / "models").glob("*")) or "predict" in method or "fit" in method
    if tmp_path.joinpath("r.db").exists():
        assert not trial_indices(tmp_path / "r.db")


def test_model_answering_out_of_range_is_refused_naming_the_rule(tmp_path: Path) -> None:
    code, _out, err = main_captured(campaign(tmp_path, "--model-opt", "fail=topk"))
    error_line(code, err, "model 'hostile-model'", "[model.predict_topk]", "outside 0..9")


# --- item 13 (readers the harness did not write): the dataset contract at load --------------


@pytest.mark.parametrize(
    "fail, rule, detail",
    [
        ("empty-test", "dataset.splits", "the test split is empty"),
        ("two-train", "dataset.splits", "the train split has 2 documents"),
        ("bad-labels", "dataset.label_indices", "doc-3"),
        ("not-corpus", "dataset.load", "must return a Corpus, got dict"),
    ],
)
def test_third_party_reader_is_held_to_the_dataset_contract(
    tmp_path: Path, fail: str, rule: str, detail: str
) -> None:
    opt = ["--dataset-opt", f"fail={fail}"]
    code, _out, err = main_captured(campaign(tmp_path, *opt))
    error_line(code, err, "dataset 'hostile-reader'", f"[{rule}]", detail)
    assert not (tmp_path / "models").exists()  # refused before training
    train = ["--plugin", HOSTILE, "--db", str(tmp_path / "t.db"), "train", "--dataset",
             "hostile-reader", "--model", "hostile-model", "--model-dir", str(tmp_path / "m"),
             "--no-progress", *opt]  # fmt: skip
    code, _out, err = main_captured(train)
    error_line(code, err, f"[{rule}]")
    stats = ["--plugin", HOSTILE, "data", "stats", "hostile-reader", "--opt", f"fail={fail}"]
    code, out, err = main_captured([*stats, "--no-progress"])
    if fail == "two-train":  # statistics of a small corpus are fine; training on it is not
        assert code == 0 and "documents (train)" in out, err
    else:
        error_line(code, err, f"[{rule}]")


# --- item 8: event hooks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hook, status",
    [
        ("xmtc_run_started", "interrupted"),
        ("xmtc_trial_recorded", "interrupted"),
        ("xmtc_run_finished", "finished"),
    ],
)
def test_a_failing_watcher_is_one_line_and_the_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str, status: str
) -> None:
    args = campaign(tmp_path, plugins=(HOSTILE, EVENTS))
    monkeypatch.setenv("XMTC_TEST_FAILING_HOOK", hook)
    code, _out, err = main_captured(args)
    line = error_line(code, err, f"plugin '{EVENTS}'", f"in the {hook} hook", WATCHER)
    ((run_id, _, n_planned, got),) = runs(tmp_path / "r.db")
    assert got == status, line
    stored = trial_indices(tmp_path / "r.db").get(run_id, [])
    assert len(stored) == {"xmtc_run_started": 0, "xmtc_trial_recorded": 1}.get(hook, n_planned)
    monkeypatch.delenv("XMTC_TEST_FAILING_HOOK")
    code, _out, err = main_captured(args)  # the watcher works again: the same run completes
    assert code == 0, err
    ((same, _, n_planned, got),) = runs(tmp_path / "r.db")
    assert same == run_id and got == "finished"
    assert trial_indices(tmp_path / "r.db")[run_id] == list(range(n_planned))


@pytest.mark.parametrize("how", ["component", "int", "raise"])
def test_registration_hook_returning_the_wrong_thing(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("XMTC_TEST_REGISTRATION", how)
    code, _out, err = main_captured(
        ["--plugin", "tests.plugins_for_tests.bad_registration", "plugins"]
    )
    line = error_line(code, err, "tests.plugins_for_tests.bad_registration")
    assert "xmtc_register_substituters" in line


# --- item 14: wrong answers during a trial are named errors, never believed ----------------------


def _trials(db: Path) -> list[tuple[str, str | None]]:
    con = connect(db)
    try:
        return [(str(o), m) for o, m in con.execute("SELECT outcome, error_message FROM trials")]
    finally:
        con.close()


SUB, IMP, CON = "substituter 'hostile-sub'", "importance 'hostile-imp'", "similarity 'hostile-con'"


@pytest.mark.parametrize(
    "option, subject, rule",
    [
        (["--substituter-opt", "returns=string"], SUB, "substituter.candidates"),
        (["--substituter-opt", "returns=none"], SUB, "substituter.candidates"),
        (["--substituter-opt", "returns=stopword"], SUB, "substituter.filtered"),
        (["--substituter-opt", "returns=current"], SUB, "substituter.filtered"),
        (["--substituter-opt", "returns=no-source"], SUB, "substituter.start"),
        (["--importance-opt", "returns=none"], IMP, "importance.shape"),
        (["--importance-opt", "returns=short"], IMP, "importance.shape"),
        (["--importance-opt", "returns=nan"], IMP, "importance.shape"),
        (["--similarity-opt", "returns=yes"], CON, "constraint.check"),
        (["--similarity-opt", "returns=ints"], CON, "constraint.check"),
        (["--similarity-opt", "returns=negative-budget"], CON, "constraint.max_changes"),
        (["--similarity-opt", "returns=similarity-2"], CON, "constraint.similarity"),
        (["--model-opt", "fail=lie"], "model 'hostile-model'", "model.predict_topk"),
    ],
)
def test_wrong_answers_end_trials_as_named_errors(
    tmp_path: Path, option: list[str], subject: str, rule: str
) -> None:
    code, _out, err = main_captured(campaign(tmp_path, *option))
    assert code == 0, err
    trials = _trials(tmp_path / "r.db")
    attacked = [(o, m) for o, m in trials if o != "skipped-not-attackable"]
    assert attacked and all(o == "error" for o, _ in attacked), trials
    for _, message in attacked:
        assert message is not None and message.startswith(subject), message
        assert f"[{rule}]" in message, message
    ((*_, status),) = runs(tmp_path / "r.db")
    assert status == "finished"


def test_the_same_plugins_answering_right_give_real_outcomes(tmp_path: Path) -> None:
    code, _out, err = main_captured(campaign(tmp_path))
    assert code == 0, err
    outcomes = {o for o, _ in _trials(tmp_path / "r.db")}
    assert outcomes and "error" not in outcomes


# --- item 10: writes stay in their folders, whatever a corpus is called -----------------------


def test_a_corpus_name_cannot_move_a_write(tmp_path: Path) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    before = {p for p in tmp_path.rglob("*")}
    name = "../../../escape/x"
    args = campaign(work, "--dataset-opt", f"name={name}", "--attack", "negative", "--cluster")
    code, _out, err = main_captured(args)
    assert code == 0, err
    made = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    allowed = (work / "models", work / "cache")
    outside = [p for p in made if not p.name.startswith("r.db") and not p.is_relative_to(allowed[0])
               and not p.is_relative_to(allowed[1])]  # fmt: skip
    assert outside == [], outside
    assert any(p.name.startswith("clusters-") for p in made)  # the cluster cache was written
