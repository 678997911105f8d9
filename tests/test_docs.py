"""The generated documentation matches the code, and every hook and contract method is
documented to the level the plugin guide promises."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
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
    from harness.cli import COMMANDS

    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert f"## `xmtc-harness {command.name}`" in text
