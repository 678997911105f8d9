"""The plugin registry: built-ins from registry.yaml, entry points, --plugin, and errors."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.attack.build import AttackSpec
from harness.campaign.executors.base import AttackJob, ModelRef
from harness.components import Component, Option
from harness.errors import PluginError, UsageError
from harness.registry import load_registry, read_registry_file
from harness.vocab import Kind
from tests.helpers.cli import cli_cmd

REPO = Path(__file__).resolve().parent.parent

THIRD_PARTY = '''
"""A third-party plugin: one dataset and one similarity constraint."""
import numpy as np
from harness import hookimpl
from harness.components import Component, Option
from harness.data import Corpus, Document


class TinyReader:
    def __init__(self, n_docs, data_dir=None, skip_bad_lines=False):
        self.n_docs = n_docs

    def load(self, progress=False):
        names = ["tiny:a", "tiny:b", "tiny:c"]
        docs = [Document(f"d{i}", f"word{i % 3} text number {i}", (i % 3,))
                for i in range(self.n_docs)]
        half = self.n_docs // 2
        return Corpus("tiny", names, docs[:half], docs[half:])


class LengthRatio:
    """Similarity = shorter/longer character length (a real if crude measure)."""
    name = "length-ratio"

    def __init__(self, threshold):
        self.threshold = threshold

    def start(self, original):
        ref = len(" ".join(original))
        outer = self

        class Check:
            def similarity(self, texts):
                lens = np.array([len(" ".join(t)) for t in texts], dtype=float)
                return np.minimum(lens, ref) / np.maximum(np.maximum(lens, ref), 1)

            def check(self, texts, n_changed):
                return self.similarity(texts) >= outer.threshold

            def max_changes(self):
                return None

        return Check()


@hookimpl
def xmtc_register_datasets():
    return [Component("dataset", "tiny", "three labels, made up", TinyReader,
                      (Option("n_docs", int, 12, "documents", min=2),
                       Option("data_dir", str, None), Option("skip_bad_lines", bool, False)))]


@hookimpl
def xmtc_register_similarity_constraints():
    return [Component("similarity", "length-ratio", "character length ratio", LengthRatio,
                      (Option("threshold", float, 0.5, min=0, max=1),))]
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install a throwaway distribution declaring an xmtc_harness entry point."""
    src = tmp_path_factory.mktemp("dist-src")
    (src / "xmtc_tiny_plugin.py").write_text(THIRD_PARTY)
    (src / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "xmtc-tiny-plugin"
            version = "0.1"
            [project.entry-points.xmtc_harness]
            tiny = "xmtc_tiny_plugin"
            [tool.setuptools]
            py-modules = ["xmtc_tiny_plugin"]
            """
        )
    )
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
    )
    return target


def _cli(
    args: list[str], pythonpath: Path | None = None, **env: str
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **env)
    if pythonpath is not None:
        full_env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(REPO)])
    return subprocess.run(
        cli_cmd(args),
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
    )


def test_builtin_registry_lists_six_kinds() -> None:
    res = _cli(["plugins"])
    assert res.returncode == 0, res.stderr
    for kind in Kind:
        assert f"{kind} (" in res.stdout
    assert "bce" in res.stdout and "builtin (registry.yaml)" in res.stdout


def test_entry_point_plugin_is_listed_and_usable(installed_plugin: Path) -> None:
    res = _cli(["plugins"], pythonpath=installed_plugin)
    assert res.returncode == 0, res.stderr
    assert "tiny" in res.stdout and "length-ratio" in res.stdout
    assert "entry point tiny = xmtc_tiny_plugin (distribution xmtc-tiny-plugin)" in res.stdout
    # usable by name: build both components through a fresh registry in that environment
    code = textwrap.dedent(
        """
        import json
        from harness.registry import load_registry
        reg = load_registry()
        corpus = reg.build("dataset", "tiny", {"n_docs": "10"}).load()
        check = reg.build("similarity", "length-ratio", {"threshold": "0.9"}).start(["a", "bc"])
        ok = check.check([["a", "bc"], ["a", "bcdefghijk"]], [0, 1])
        print(json.dumps([corpus.name, len(corpus.train), [bool(x) for x in ok]]))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed_plugin), str(REPO)]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["tiny", 5, [True, False]]


def test_plugin_option_and_env_var(tmp_path: Path) -> None:
    (tmp_path / "envplug.py").write_text(THIRD_PARTY)
    res = _cli(["--plugin", "envplug", "plugins", "--kind", "dataset"], pythonpath=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "tiny" in res.stdout and "--plugin" in res.stdout
    res = _cli(
        ["plugins", "--kind", "similarity"], pythonpath=tmp_path, XMTC_HARNESS_PLUGINS="envplug"
    )
    assert "length-ratio" in res.stdout and "$XMTC_HARNESS_PLUGINS" in res.stdout


def test_plugin_that_fails_to_import_is_named(tmp_path: Path) -> None:
    (tmp_path / "brokenplug.py").write_text("raise RuntimeError('boom at import')\n")
    res = _cli(["--plugin", "brokenplug", "plugins"], pythonpath=tmp_path)
    assert res.returncode == 2
    assert (
        "brokenplug" in res.stderr and "--plugin" in res.stderr and "boom at import" in res.stderr
    )
    assert "Traceback" not in res.stderr


def test_name_clash_names_both_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "clashplug.py").write_text(
        "from harness import hookimpl\n"
        "from harness.components import Component\n"
        "@hookimpl\n"
        "def xmtc_register_losses():\n"
        "    return [Component('loss', 'bce', 'another bce', dict)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as err:
        load_registry(["clashplug"])
    msg = str(err.value)
    assert "name clash" in msg and "clashplug" in msg and "plugins.losses.bce" in msg


def test_replaces_overrides_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "overrideplug.py").write_text(
        "from harness import hookimpl\n"
        "from harness.components import Component\n"
        "@hookimpl\n"
        "def xmtc_register_losses():\n"
        "    return [Component('loss', 'bce', 'my bce', dict, replaces=True)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = load_registry(["overrideplug"])
    assert reg.get("loss", "bce").description == "my bce"
    assert "overrideplug" in reg.get("loss", "bce").source


def test_unknown_component_lists_known_names() -> None:
    reg = load_registry()
    with pytest.raises(PluginError, match="unknown loss 'nope'; known: .*bce"):
        reg.get("loss", "nope")
    res = _cli(["eval", "--substituter", "nope", "--dataset", "synthetic"])
    assert res.returncode == 2 and "unknown substituter 'nope'" in res.stderr


def test_registry_yaml_is_read_safely(tmp_path: Path) -> None:
    bad = tmp_path / "registry.yaml"
    bad.write_text("datasets: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(PluginError, match="registry.yaml:1: not valid YAML"):
        read_registry_file(bad)
    bad.write_text("datasets: plugins.datasets.synthetic\n")
    with pytest.raises(PluginError, match="must be a list"):
        read_registry_file(bad)


def test_option_validation_names_the_option() -> None:
    comp = Component(
        "loss", "x", "d", dict, (Option("beta", float, 0.9, min=0, max=1, min_inclusive=False),)
    )
    assert comp.resolve_options({"beta": "0.5"}) == {"beta": 0.5}
    with pytest.raises(UsageError, match=r"loss:x.beta: must be > 0"):
        comp.resolve_options({"beta": "0"})
    with pytest.raises(UsageError, match="expected float"):
        comp.resolve_options({"beta": "abc"})
    with pytest.raises(UsageError, match="unknown option"):
        comp.resolve_options({"gamma": 1})


def test_a_worker_finds_the_plugins_the_driver_found_on_its_own_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ray worker of a cluster started elsewhere has neither the driver's PYTHONPATH nor
    its $XMTC_HARNESS_PLUGINS: the job hands it both, and it loads the same components."""
    pkg = tmp_path / "pathonly" / "pathplug"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "extra.py").write_text(THIRD_PARTY)
    (tmp_path / "pathonly" / "envplug2.py").write_text(
        THIRD_PARTY.replace('"tiny"', '"tiny2"').replace("length-ratio", "length-ratio-2")
    )
    monkeypatch.syspath_prepend(str(tmp_path / "pathonly"))
    monkeypatch.setenv("XMTC_HARNESS_PLUGINS", "envplug2")
    reg = load_registry(["pathplug.extra"], extra_source="--plugin")
    assert reg.import_roots == (str((tmp_path / "pathonly").resolve()),)
    assert reg.env_plugins == ("envplug2",)
    job = AttackJob(
        spec=AttackSpec(),
        model=ModelRef("", "", (), ""),
        plugins=reg.extra_plugins,
        plugins_source=reg.extra_source,
        env_plugins=reg.env_plugins,
        import_roots=reg.import_roots,
    )
    code = textwrap.dedent(
        """
        import pickle, sys
        reg = pickle.load(sys.stdin.buffer).registry()
        print(" ".join([*reg.names("dataset"), *reg.names("similarity")]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "XMTC_HARNESS_PLUGINS"}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(job), capture_output=True, env=env
    )
    assert out.returncode == 0, out.stderr.decode()
    names = out.stdout.decode().split()
    assert {"tiny", "tiny2", "length-ratio", "length-ratio-2"} <= set(names)

    # without the roots, the same worker cannot find them: the test above is not vacuous
    bare = pickle.dumps(dataclasses.replace(job, import_roots=()))
    out = subprocess.run([sys.executable, "-c", code], input=bare, capture_output=True, env=env)
    assert out.returncode != 0 and b"No module named" in out.stderr
