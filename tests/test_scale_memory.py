"""No stage of the pipeline builds a dense documents x labels array: generating a corpus,
reading it in the PECOS layout, training ``linear`` and ``xr-linear``, evaluating them and
predicting the test split's top labels, and then the campaign's side (the cached
predictions written and read back, the positive pool and frequency bins, positive, paired
and negative draws, the label clusters, clustered draws with three targets and a whole
clustered plan) all run in a process whose data-segment limit (``RLIMIT_DATA``, which counts
every heap and anonymous mapping) is far below the size of one such array, and the same
process then fails to allocate one (so the limit does bite).

Label frequencies are steep (Zipf exponent 2) so that most of the 14,000 labels have no
training document: they still occupy the label space (every score, metric and ranking is
14,000 wide) while the per-label training stays short.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

N_LABELS = 14_000
N_DOCS = 80_000  # 40,000 per split: one dense split x labels float32 array is 2.1 GB
BUDGET = 1_200 * 2**20  # data-segment room above what the imports and GloVe's words took


def _vm_data() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


def probe(workdir: Path) -> dict:
    import numpy as np

    import harness.cli  # noqa: F401  (the full command set, as a user process has)
    import plugins.models.xr_linear  # noqa: F401
    from harness.registry import load_registry
    from harness.training import evaluate_model
    from plugins.datasets.synthetic import vocabulary
    from tests.helpers.pecos_layout import write_pecos

    reg = load_registry()
    vocabulary()  # GloVe's word list, read once (pyarrow reserves address space for it)
    limit = _vm_data() + BUDGET
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    out: dict = {"limit_gb": limit / 2**30}
    opts = {
        "shape": "custom",
        "n_labels": N_LABELS,
        "n_docs": N_DOCS,
        "test_fraction": 0.5,
        "doc_length": 8,
        "labels_per_doc": 1.0,
        "zipf_exponent": 2.0,
    }
    corpus = reg.build("dataset", "synthetic", opts).load()
    write_pecos(
        workdir / "big",
        [(d.text, d.labels) for d in corpus.train],
        [(d.text, d.labels) for d in corpus.test],
        corpus.label_names,
    )
    corpus = reg.build("dataset", "pecos", {"data_dir": str(workdir / "big")}).load()
    out["docs"] = (len(corpus.train), len(corpus.test))
    out["dense_split_gb"] = len(corpus.test) * corpus.n_labels * 4 / 2**30
    from harness.data import WordLists

    models = {}
    for name, model_opts, loss in [
        ("linear", {"n_jobs": 1}, "bce"),
        ("xr-linear", {"n_jobs": 1}, "squared-hinge"),
    ]:
        bound = reg.build("loss", loss, {}).bind(corpus.label_counts, len(corpus.train))
        model = reg.build("model", name, model_opts)
        model.fit(
            WordLists(corpus.train),
            corpus.label_matrix("train"),
            bound,
            label_names=corpus.label_names,
            progress=False,
        )
        metrics = evaluate_model(model, corpus)
        test = WordLists(corpus.test)
        top = np.concatenate(
            [
                model.predict_topk(test[i : i + 256], 100, [0]).indices
                for i in range(0, len(test), 256)
            ]
        )
        out[name] = {"P@1": metrics["P@1"], "top": list(top.shape)}
        models[name] = model
    out["campaign"] = campaign_side(corpus, models, workdir)
    try:
        np.ones((len(corpus.test), corpus.n_labels), dtype=np.float32)
        out["dense_allocation"] = "succeeded"
    except MemoryError:
        out["dense_allocation"] = "refused"
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def campaign_side(corpus, models: dict, workdir: Path) -> dict:
    """Everything a campaign does before its first trial, on both trained models."""
    from harness.attack.build import AttackSpec
    from harness.campaign.clustering import cluster_of, label_clusters
    from harness.campaign.config import CampaignConfig, SamplingConfig
    from harness.campaign.plan import plan_campaign
    from harness.campaign.predictions import cache_path, predict_split
    from harness.campaign.sampling import make_bins, plan_negative, plan_positive, positive_pool

    k, Y, freq = 5, corpus.label_matrix("test"), corpus.label_counts
    path = cache_path(workdir / "cache", "linear", 100)
    pred = predict_split(models["linear"], corpus.test, k, path, False)
    again = predict_split(models["linear"], corpus.test, k, path, False)  # read back, checked
    other = predict_split(models["xr-linear"], corpus.test, k, None, False)
    tops = [again.top(k), other.top(k)]
    pool = positive_pool(Y, tops[:1])
    bins = make_bins(freq, pool, 20)
    positive = plan_positive(pool, bins, freq, 30, 0)
    paired_pool = positive_pool(Y, tops)
    paired = plan_positive(paired_pool, make_bins(freq, paired_pool, 20), freq, 30, 0)
    negative = plan_negative(Y, tops, bins, freq, 30, 0)
    ids = cluster_of(label_clusters(corpus, 8, 0, workdir / "cache"), corpus.n_labels)
    clustered = plan_negative(Y, tops[:1], bins, freq, 30, 0, ids, n_targets=3)
    cfg = CampaignConfig(
        attack=AttackSpec(kind="negative", k=k),
        sampling=SamplingConfig(labels_per_bin=20, samples_per_bin=30, cluster=True),
    )
    plan = plan_campaign(cfg, corpus, tops[:1], 500, ids)
    return {
        "depth": pred.depth,
        "cache_equal": bool((pred.indices == again.indices).all()),
        "bins": len(bins),
        "draws": [len(positive), len(paired), len(negative), len(clustered), len(plan.trials)],
    }


def test_no_dense_documents_by_labels_array(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    proc = subprocess.run(  # as a module: run as a file, tests/plugins would shadow plugins
        [sys.executable, "-m", "tests.test_scale_memory", str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["docs"] == [N_DOCS // 2, N_DOCS // 2]
    assert result["dense_split_gb"] > 1.5 * BUDGET / 2**30  # one such array would not fit
    assert result["dense_allocation"] == "refused"
    for name in ("linear", "xr-linear"):
        assert result[name]["top"] == [N_DOCS // 2, 100]
        assert result[name]["P@1"] > 0.5  # the head labels are learnt
    camp = result["campaign"]
    assert camp["depth"] == 100 and camp["cache_equal"]
    assert camp["bins"] >= 3
    assert all(n > 0 for n in camp["draws"]), camp


if __name__ == "__main__":
    print(json.dumps(probe(Path(sys.argv[1]))))
