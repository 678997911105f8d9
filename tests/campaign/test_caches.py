"""The campaign's caches as hostile input (issue 13, items 3, 10 and 12).

* The top-k prediction cache overwritten with -1 (its hash recomputed to match), with junk
  bytes, or with a pickle is recomputed, and the campaign resumes the same run with the same
  plan; with its rows reversed (valid label indices, hash forged), the resumed run would be
  re-planned, so the resume is refused in one line and nothing is stored; ``--fresh`` then
  starts over, the old run kept as superseded. A run recorded before plans were hashed is
  compared trial by trial.
* The cluster cache with negative, out-of-range or repeated label ids, deep JSON, or a
  forged hash is recomputed to the same clusters.
* File names: a corpus named ``../../escape`` (a third-party reader's) keeps its cluster
  cache inside the cache folder.
* A full disk while writing a cache: one line naming the file, nothing left behind.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from harness.campaign.cache_files import (
    CacheWriteError,
    read_array,
    write_array,
    write_arrays,
    write_json,
)
from harness.campaign.clustering import label_clusters
from harness.data import Corpus, Document
from tests.helpers.child import run_in_child
from tests.helpers.cli import main_captured
from tests.helpers.damage import runs, trial_indices
from tests.helpers.workspace import Workspace, make_workspace, stored_trials


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("caches") / "ws", trials=3)


def _topk_cache(ws: Workspace) -> tuple[Path, dict[str, np.ndarray], dict[str, object]]:
    """The prediction cache's path, arrays (indices and scores) and recorded source."""
    (path,) = ws.cache.glob("topk-*.safetensors")
    with safe_open(str(path), framework="numpy") as fh:
        source = json.loads(fh.metadata()["source"])
        arrays = {name: fh.get_tensor(name) for name in fh.keys()}
    return path, arrays, source


def _reversed(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every document's row in reverse order: valid values, another plan."""
    return {name: np.ascontiguousarray(a[::-1]) for name, a in arrays.items()}


def _resume(ws: Workspace, *extra: str) -> tuple[int, str, str]:
    return main_captured(ws.eval_args("--limit", "1", "--no-train", *extra))


@pytest.mark.parametrize("how", ["minus-one", "junk", "pickle", "out-of-range"])
def test_damaged_topk_cache_is_recomputed(workspace: Workspace, tmp_path: Path, how: str) -> None:
    ws = workspace.copy(tmp_path / "ws")
    path, arrays, source = _topk_cache(ws)
    idx = arrays["indices"]
    if how == "minus-one":  # the issue's: a crash (double free) before
        write_arrays(path, {**arrays, "indices": np.full_like(idx, -1)}, source)
    elif how == "out-of-range":
        write_arrays(path, {**arrays, "indices": idx + 10**6}, source)
    elif how == "junk":
        path.write_bytes(b"\x00\xff" * 999)
    else:
        with open(path, "wb") as fh:
            np.save(fh, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    ((run_id, _, n_planned, _),) = runs(ws.db)
    code, _out, err = _resume(ws)
    assert code == 0, err
    assert f"run {run_id} " in err and f"{n_planned} trials" in err  # same run, same plan
    assert trial_indices(ws.db)[run_id] == [0, 1, 2, 3]
    assert np.array_equal(_topk_cache(ws)[1]["indices"], idx)  # recomputed and rewritten


def test_reordered_topk_cache_is_refused_not_replanned(
    workspace: Workspace, tmp_path: Path
) -> None:
    ws = workspace.copy(tmp_path / "ws")
    path, arrays, source = _topk_cache(ws)
    write_arrays(path, _reversed(arrays), source)  # valid values, forged hash
    before = stored_trials(ws.db)
    code, _out, err = _resume(ws)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "--fresh" in lines[0] and "different plan" in lines[0]
    assert stored_trials(ws.db) == before and runs(ws.db)[0][3] != "running"
    # --fresh starts over on purpose; the old run is kept, superseded.
    code, _out, err = _resume(ws, "--fresh")
    assert code == 0, err
    (old, new) = runs(ws.db)
    assert old[3] == "superseded" and new[3] == "interrupted"


def test_run_recorded_before_plan_hashes_is_compared_trial_by_trial(
    workspace: Workspace, tmp_path: Path
) -> None:
    ws = workspace.copy(tmp_path / "ws")
    con = sqlite3.connect(ws.db)
    con.execute("UPDATE runs SET config = json_remove(config, '$.plan_hash')")
    con.commit()
    con.close()
    code, _out, err = _resume(ws)  # the same plan: resumes
    assert code == 0, err
    path, arrays, source = _topk_cache(ws)
    write_arrays(path, _reversed(arrays), source)
    code, _out, err = _resume(ws)
    assert code == 2 and "different plan (trial 0 attacked" in err, err


def _corpus(name: str = "toy") -> Corpus:
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(60)]
    docs = [
        Document(
            f"d{i}",
            " ".join(rng.choice(vocab, size=20)),
            tuple(sorted({int(x) for x in rng.choice(24, size=3)})),
        )
        for i in range(80)
    ]
    return Corpus(name, [f"label{i}" for i in range(24)], docs[:60], docs[60:])


@pytest.mark.parametrize(
    "content",
    [
        [[-1, -2, -3]],  # negative ids: silently shrank the plan before
        [[0, 1, 2], [10**9]],  # out of range: a traceback before
        [[0, 0, 1]],  # a label twice
        [[i] for i in range(23)],  # a label missing
        "[" * 100_000 + "]" * 100_000,  # deep JSON: a traceback before
    ],
)
def test_damaged_cluster_cache_is_recomputed(tmp_path: Path, content: object) -> None:
    corpus = _corpus()
    right = label_clusters(corpus, max_leaf=4, seed=0, cache_dir=tmp_path)
    (path,) = tmp_path.glob("clusters-*.json")
    if isinstance(content, str):
        path.write_text(content)
    else:  # a forged hash: only the values' check can catch it
        source = json.loads(path.read_text())["source"]
        write_json(path, content, source)
    assert label_clusters(corpus, max_leaf=4, seed=0, cache_dir=tmp_path) == right
    assert json.loads(path.read_text())["content"] == right  # rewritten


def test_cache_names_stay_in_the_cache_folder(tmp_path: Path) -> None:
    cache = tmp_path / "deep" / "cache"
    label_clusters(_corpus("../../escape"), max_leaf=4, seed=0, cache_dir=cache)
    made = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert made and all(p.parent == cache for p in made), made
    assert not (tmp_path / "escape").exists()


def test_full_disk_while_writing_a_cache_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    arr = np.arange(200_000, dtype=np.int64).reshape(-1, 5)
    source = {"what": "test"}

    def write() -> str:
        try:
            write_array(tmp_path / "topk-x.safetensors", arr, source)
        except CacheWriteError as exc:
            return str(exc)
        return "written"

    message = run_in_child(write, max_file_bytes=64 * 1024)
    assert message != "written" and "\n" not in message
    assert "topk-x.safetensors" in message and "cannot write this cache file" in message
    assert list(tmp_path.iterdir()) == []  # no temporary file, empty or not
    write_array(tmp_path / "topk-x.safetensors", arr, source)  # with space again: written
    got = read_array(tmp_path / "topk-x.safetensors", source, arr.nbytes)
    assert got is not None and np.array_equal(got, arr)
