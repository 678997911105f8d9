"""The generated documentation matches the code, and every hook and contract method is
documented to the level the plugin guide promises."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

from harness.contracts import CONTRACT_MODULES

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", REPO / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_reference_is_current(generate: ModuleType) -> None:
    for path, text in generate.expected().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is out of date: run python docs/generate.py"
        )


def test_every_hook_is_documented_like_pytest_hooks(generate: ModuleType) -> None:
    hooks = generate.hook_functions()
    assert len(hooks) == 9
    plugins_md = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    for name, fn in hooks:
        doc = fn.__doc__ or ""
        needed = [":returns:" if name.startswith("xmtc_register") else ":param", "Called"]
        missing = [w for w in [*needed, "Example::"] if w not in doc]
        assert not missing, f"{name}: docstring lacks {missing}"
        assert f"`{name}(" in plugins_md


def test_every_contract_method_is_documented(generate: ModuleType) -> None:
    undocumented = []
    for module_name in CONTRACT_MODULES.values():
        module = importlib.import_module(module_name)
        assert (module.__doc__ or "").strip(), module_name
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module_name:
                continue
            if not (cls.__doc__ or "").strip():
                undocumented.append(cls.__name__)
            for name, member in generate.contract_members(cls):
                target = member.fget if isinstance(member, property) else member
                if not (target.__doc__ or "").strip():  # its own docstring, not inherited
                    undocumented.append(f"{cls.__name__}.{name}")
    assert not undocumented, undocumented


def test_cli_reference_covers_every_command(generate: ModuleType) -> None:
    from harness.cli import all_commands

    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in all_commands():
        assert f"## `xmtc-harness {command.name}`" in text


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "docs" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_regime_statements_follow_the_tests_and_intervals() -> None:
    """docs/regimes_readme.py claims a difference only where McNemar's p or the bootstrap
    interval excludes none; otherwise it says "within noise"."""
    words = _script("regimes_readme")
    row = {"n_pairs": 50, "only_a": 9, "only_b": 1, "success_rate_a": 0.8, "success_rate_b": 0.64}
    assert "more robust" in words.success_sentence({**row, "mcnemar_exact_p": 0.02}, "all")
    assert "within noise" in words.success_sentence({**row, "mcnemar_exact_p": 0.05}, "all")
    worse = {**row, "success_rate_b": 0.9, "mcnemar_exact_p": 0.01}
    assert "less robust" in words.success_sentence(worse, "all")
    clean = [
        {"metric": "P@1", "a": 0.9, "b": 0.91, "difference": 0.01, "low": -0.001, "high": 0.02},
        {"metric": "PSP@5", "a": 0.7, "b": 0.68, "difference": -0.02, "low": -0.03, "high": -0.01},
        {"metric": "nDCG@3", "a": 0.7, "b": 0.7, "difference": 0.0, "low": 0.0, "high": 0.0},
    ]
    text = words.clean_sentence(clean)
    assert "P@1 0.9100 (+0.0100 [-0.0010, +0.0200], within noise)" in text
    assert "PSP@5 0.6800 (-0.0200 [-0.0300, -0.0100], lower)" in text and "nDCG" not in text


def test_regime_comparison_runs_its_commands_jobs_at_a_time_in_order() -> None:
    """``--jobs 2`` overlaps two commands yet hands back their outputs in task order."""
    import threading
    import time

    compare = _script("regimes_comparison")
    running, most = [0], [0]
    lock = threading.Lock()

    def task(i: int, pause: float):
        def run() -> int:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(pause)
            with lock:
                running[0] -= 1
            return i

        return run

    tasks = [task(i, 0.2 if i == 0 else 0.05) for i in range(4)]
    assert compare.run_all(2, tasks) == [0, 1, 2, 3] and most[0] == 2
    most[0] = 0
    assert compare.run_all(1, tasks) == [0, 1, 2, 3] and most[0] == 1


def _pair_row(bin_: object, low: object, a: float, b: float, p: float, n: int = 50) -> dict:
    return {
        "bin": bin_, "freq_low": low, "freq_high": low, "n_pairs": n, "mcnemar_exact_p": p,
        "success_rate_a": a, "ci_low_a": a - 0.1, "ci_high_a": a + 0.1, "only_a": 9,
        "success_rate_b": b, "ci_low_b": b - 0.1, "ci_high_b": b + 0.1, "only_b": 1,
    }  # fmt: skip


def test_regime_section_names_only_what_its_files_support(tmp_path) -> None:
    """The README section is built from the comparison's files: its verdict names a regime
    as more robust only where McNemar's p says so, and its table carries every regime's
    clean metrics, cost and success with intervals."""
    import json

    words = _script("regimes_readme")
    record = {
        "seed": 0, "model": "linear", "quick": False,
        "regimes": {"bce": [], "pwcb": ["--weighting", "pw-cb"]},
        "models": {"bce": 1, "pwcb": 2}, "runs": {"positive-mask": {"bce": 3, "pwcb": 4}},
    }  # fmt: skip
    metrics = {"P@1": 0.9, "P@5": 0.5, "PSP@1": 0.4, "PSP@5": 0.6, "train s": 20.0}
    cost = {"regime": "substitution", "forward_vs_plain": 2.0, "backward_vs_plain": 2.0}
    rows = [
        {"id": 1, "dataset": "reuters21578", **metrics, "training cost": None},
        {"id": 2, "dataset": "reuters21578", **metrics, "training cost": cost},
    ]
    clean = [{"metric": "P@1", "a": 0.9, "b": 0.9, "difference": 0.0, "low": -0.01, "high": 0.01}]
    files = {
        "regimes.json": record,
        "models.json": {"rows": rows},
        "compare_models_bce_vs_pwcb.json": {"rows": clean},
        # Overall within noise; the rarest bin (freq 1) beyond it, and in pwcb's favour.
        "positive-mask_bce_vs_pwcb.json": {
            "rows": [
                _pair_row(0, 1, 0.9, 0.5, 0.001),
                _pair_row(1, 40, 0.5, 0.5, 1.0),
                _pair_row("all", None, 0.7, 0.6, 0.2, n=100),
            ]
        },
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    text = words.section(tmp_path)
    assert text.startswith("#### linear on reuters21578, seed 0")
    verdict = next(line for line in text.splitlines() if line.startswith("- Positive"))
    said = "more robust than bce: `pwcb` in bin 0 (the rarest), frequency 1–1, -40.0 points"
    assert said in verdict
    assert "overall" not in verdict and "Less robust: none." in verdict
    table = next(line for line in text.splitlines() if line.startswith("| `pwcb`"))
    assert "| 0.9000 |" in table and "| 60.0 [50.0, 70.0] | 50.0 [40.0, 60.0] |" in table
    bce = next(line for line in text.splitlines() if line.startswith("| `bce`"))
    assert "| 70.0 [60.0, 80.0] | 90.0 [80.0, 100.0] |" in bce and "| 1x |" in bce
    assert "Training cost (substitution): forward passes 2.00x" in text
