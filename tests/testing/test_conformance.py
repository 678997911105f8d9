"""The conformance suite (``harness.testing``) over every built-in component, and on three
broken test plugins, each of which it must reject naming the rule they break."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.registry import load_registry
from harness.testing import ConformanceError, check_component
from harness.testing.fixtures import tiny_corpus
from harness.vocab import Kind
from tests.helpers.dataset_files import write_aplc_csv, write_xc_bow, write_xc_raw
from tests.helpers.tiny_models import tiny_backbone, tiny_mlm

BROKEN = "tests.plugins_for_tests.broken"

Options = Callable[[Path, Path], dict[str, Any]]
"""(a temporary folder, the Reuters-21578 folder) -> the component's options."""

OPTIONS: dict[tuple[str, str], Options] = {
    ("dataset", "synthetic"): lambda tmp, _: {"n_docs": 300, "n_labels": 100},
    ("dataset", "reuters21578"): lambda tmp, reuters: {"data_dir": str(reuters)},
    ("dataset", "xc-raw"): lambda tmp, _: {"data_dir": str(write_xc_raw(tmp / "wiki"))},
    ("dataset", "aplc-csv"): lambda tmp, _: {"data_dir": str(write_aplc_csv(tmp / "eurlex"))},
    ("dataset", "xc-bow"): lambda tmp, _: {"data_dir": str(write_xc_bow(tmp / "bow"))},
    ("model", "attentionxml"): lambda tmp, _: {
        "epochs": 2, "hidden": 8, "fc_size": 8, "max_words": 20,
    },
    ("model", "aplc"): lambda tmp, _: {
        "backbone": tiny_backbone(tmp / "tinybert", [tiny_corpus()]), "epochs": 2,
        "batch_size": 32, "max_words": 24, "max_tokens": 32, "cutoffs": "0.3", "dropout": 0.0,
    },
    ("substituter", "bert-mlm"): lambda tmp, _: {"model": str(tiny_mlm(tmp / "mlm"))},
}  # fmt: skip
"""Options a built-in needs to run on a tiny input (files to read, a small network); any
other built-in is checked with its defaults."""


def builtins() -> list[tuple[str, str]]:
    reg = load_registry()
    return [
        (str(kind), name)
        for kind in Kind
        for name in reg.names(kind)
        if reg.get(kind, name).source.split("[", 1)[-1].startswith("builtin")
    ]


@pytest.mark.parametrize(("kind", "name"), builtins(), ids=lambda v: v)
def test_every_builtin_conforms(kind: str, name: str, tmp_path: Path, reuters_dir: Path) -> None:
    options = OPTIONS.get((kind, name), lambda *_: {})(tmp_path, reuters_dir)
    passed = check_component(load_registry(), kind, name, options)
    assert passed and all(rule.startswith(kind if kind != "similarity" else "constraint")
                          or rule.startswith("dataset") for rule in passed)  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "name", "rule"),
    [
        ("model", "batch-softmax", "model.batch_invariance"),
        ("substituter", "echo", "substituter.filtered"),
        ("similarity", "picky", "constraint.original_passes"),
    ],
)
def test_broken_plugins_fail_naming_the_rule(kind: str, name: str, rule: str) -> None:
    with pytest.raises(ConformanceError) as info:
        check_component(load_registry([BROKEN]), kind, name)
    assert info.value.rule == rule
    assert f"[{rule}]" in str(info.value) and repr(name) in str(info.value)
