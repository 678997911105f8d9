"""``xmtc-harness data stats``: the figures, the histogram table, skipped counts and the plot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.data import Corpus, Document
from harness.errors import PluginError, UsageError
from harness.registry import DEFAULT_REGISTRY, read_registry_file
from harness.report.datastats import corpus_stats, frequency_bins
from tests.helpers.cli import invoke

DATASET_MODULES = [
    "plugins.datasets.xc_raw",
    "plugins.datasets.aplc_csv",
    "plugins.datasets.xc_bow",
    "plugins.datasets.reuters21578",
    "plugins.datasets.synthetic",
]


@pytest.fixture
def datasets_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry that holds the dataset plugins only (other kinds are not needed)."""
    reg = tmp_path / "registry.yaml"
    reg.write_text("datasets:\n" + "".join(f"  - {m}\n" for m in DATASET_MODULES))
    monkeypatch.setenv("XMTC_HARNESS_REGISTRY", str(reg))


def value(output: str, label: str) -> str:
    """The value printed after ``label`` in a two-column table."""
    m = re.search(rf"^{re.escape(label)}\s+(\S+)\s*$", output, re.M)
    assert m, f"{label!r} not in output:\n{output}"
    return m.group(1)


def test_builtin_registry_lists_the_dataset_plugins() -> None:
    assert set(DATASET_MODULES) <= set(read_registry_file(DEFAULT_REGISTRY))


def test_reuters_stats(datasets_only: None, reuters_dir: Path, tmp_path: Path) -> None:
    plot = tmp_path / "hist.png"
    args = ["data", "stats", "reuters21578", "--data-dir", str(reuters_dir), "--no-progress"]
    result = invoke(*args, "--plot", str(plot), expect=None)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert value(out, "documents (train)") == "13124"
    assert value(out, "documents (test)") == "5777"
    assert value(out, "documents (total)") == "18901"
    assert value(out, "labels") == "429"
    assert value(out, "labels with >=1 training doc") == "405"
    assert value(out, "labels per document (max)") == "29"
    # the collection-wide figures: labelled documents with text and labels, all splits
    assert value(out, "labelled_with_text") == "19621"
    collection = out.split("whole collection")[1]
    assert value(collection, "labels") == "444"
    assert value(out, "not-used") == "720"
    assert "skipped: none" in out
    # histogram rows add up to the label count
    rows = re.findall(r"^(\d+(?:-\d+)?)\s+(\d+)\s+[\d.]+%$", out, re.M)
    assert rows[0][0] == "0" and sum(int(n) for _, n in rows) == 429
    assert int(rows[0][1]) == 429 - 405
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_corpus_stats_exact() -> None:
    docs = [Document(f"d{i}", "x", labels) for i, labels in enumerate([(0,), (0, 1), (0, 2, 3)])]
    corpus = Corpus("toy", ["a", "b", "c", "d", "e"], docs, [Document("t", "y", (4,))])
    corpus.skipped = {"bad-label": 2}
    s = corpus_stats(corpus)
    assert (s["train_docs"], s["test_docs"], s["docs"]) == (3, 1, 4)
    assert (s["labels"], s["labels_with_train_doc"]) == (5, 4)
    assert s["labels_per_doc_mean"] == 7 / 4 and s["labels_per_doc_median"] == 1.5
    assert s["labels_per_doc_max"] == 3
    assert s["docs_per_label_mean"] == 6 / 4 and s["docs_per_label_median"] == 1.0
    assert s["histogram"] == [(0, 0, 1), (1, 1, 3), (2, 3, 1)]
    assert s["skipped"] == {"bad-label": 2}


def test_frequency_bins() -> None:
    assert frequency_bins(0) == [(0, 0), (1, 1)]
    assert frequency_bins(8) == [(0, 0), (1, 1), (2, 3), (4, 7), (8, 15)]


def test_skipped_counts_and_options(datasets_only: None, tmp_path: Path) -> None:
    root = tmp_path / "bow"
    root.mkdir()
    (root / "train.txt").write_text("3 10 4\n0,2 3:0.5\n9 1:1\n1 2:1\n")
    (root / "test.txt").write_text("1 10 4\n2 4:0.1\n")
    base = ["data", "stats", "xc-bow", "--data-dir", str(root), "--no-progress"]
    result = invoke(*base, expect=None)
    assert isinstance(result.exception, Exception)
    assert f"{root / 'train.txt'}:3" in str(result.exception)
    result = invoke(*base, "--skip-bad-lines", "--opt", "propensity_a=0.6", expect=None)
    assert result.exit_code == 0, result.output
    assert value(result.stdout, "bad-label") == "1"
    assert value(result.stdout, "documents (train)") == "2"
    assert "0.6, 1.5" in result.stdout


def test_synthetic_through_cli(datasets_only: None) -> None:
    opts = ["--opt", "n_labels=100", "--opt", "n_docs=500", "--opt", "seed=2"]
    result = invoke("data", "stats", "synthetic", "--no-progress", *opts, expect=None)
    assert result.exit_code == 0, result.output
    assert value(result.stdout, "documents (train)") == "400"
    assert value(result.stdout, "labels") == "100"


def test_usage_errors(datasets_only: None) -> None:
    result = invoke("data", "stats", "synthetic", "--opt", "n_labels", expect=None)
    assert isinstance(result.exception, UsageError) and "key=value" in str(result.exception)
    result = invoke("data", "stats", "synthetic", "--opt", "bogus=1", expect=None)
    assert isinstance(result.exception, UsageError) and "bogus" in str(result.exception)
    result = invoke("data", "stats", "no-such-dataset", expect=None)
    assert isinstance(result.exception, PluginError)
