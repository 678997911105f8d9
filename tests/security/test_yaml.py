"""YAML is read with the safe loader: a registry file carrying a ``python/object`` tag is
refused with a one-line error, and the object it names is never built.

``registry.yaml`` (or ``$XMTC_HARNESS_REGISTRY``) is the only YAML the harness reads
(``grep -rn yaml harness plugins``); the check runs through the CLI in a fresh interpreter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import one_line_error, run_cli


@pytest.mark.parametrize(
    "payload",
    [
        "datasets: !!python/object/apply:os.system ['touch {marker}']\n",
        "datasets:\n  - !!python/object/apply:subprocess.call [['touch', '{marker}']]\n",
        "!!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
    ],
)
def test_registry_yaml_with_python_tags_is_refused(payload: str, tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    reg = tmp_path / "registry.yaml"
    reg.write_text(payload.format(marker=marker))
    res = run_cli(["plugins"], cwd=tmp_path, env={"XMTC_HARNESS_REGISTRY": str(reg)})
    assert res.returncode == 2, res.stderr
    line = one_line_error(res)
    assert "registry.yaml" in line and "not valid YAML" in line
    assert not marker.exists(), "the YAML tag was executed"


def test_harness_reads_yaml_only_with_safe_load() -> None:
    """No module of the harness or its built-in plugins calls an unsafe YAML loader."""
    root = Path(__file__).resolve().parents[2]
    unsafe = ("yaml.load(", "yaml.unsafe_load", "yaml.full_load", "yaml.Loader", "UnsafeLoader")
    hits = [
        f"{p.relative_to(root)}: {u}"
        for d in ("harness", "plugins")
        for p in (root / d).rglob("*.py")
        for u in unsafe
        if u in p.read_text(encoding="utf-8")
    ]
    assert hits == []
