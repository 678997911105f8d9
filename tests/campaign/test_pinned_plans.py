"""The sparse rewrite of sampling and clustering (issue 14) left every bin, drawn pair, target
set and label cluster of these corpora as it was: the digests below were recorded with the
code before the rewrite (``python -m tests.campaign.pinned_plans`` prints them again).
A deliberate change to the method records new digests here and says why in its commit."""

from __future__ import annotations

import pytest

from tests.campaign.pinned_plans import CAMPAIGNS, CORPORA, digests, outputs

RECORDED = {
    "reuters21578": {
        "clusters": "ac148204cc7be87b",
        "bins": "a43c0216f68af43e",
        "positive": "39b08a48d7a82f6a",
        "positive-2-targets": "3ca3a21cbf6d035c",
        "positive-paired": "7c00c9fb4f51fe68",
        "negative": "88c544965dcc7c71",
        "negative-cluster": "b7316c5ccc7ef54f",
        "negative-cluster-3-targets": "64c1f7b10b0a0758",
        "non-targeted": "d07c57d5fe2ae1b2",
    },
    "synthetic": {
        "clusters": "391d53dd750d30b4",
        "bins": "383625813a3aaef2",
        "positive": "fc7b7c831f2538a2",
        "positive-2-targets": "8485b42ec8955165",
        "positive-paired": "5875c28a8556b969",
        "negative": "45ebd99737137a19",
        "negative-cluster": "c31d9f44163d741c",
        "negative-cluster-3-targets": "75068edf614d3922",
        "non-targeted": "9e2aa5894b744f9b",
    },
    "eurlex-4k@0.05": {
        "clusters": "d703c47b813223e2",
        "bins": "7df19e52a603eff9",
        "positive": "3bbaadd369231c45",
        "positive-2-targets": "f1e48dc813bd2820",
        "positive-paired": "30412b7f8f76e3f2",
        "negative": "ab90cbca9231288e",
        "negative-cluster": "a917141e86f7ded1",
        "negative-cluster-3-targets": "515fbcb16c5c19e8",
        "non-targeted": "6418cf5952db5735",
    },
    "amazoncat-13k@0.002": {
        "clusters": "3c4d6057826a6416",
        "bins": "eb6f20c90db78960",
        "positive": "6804e5bc20542013",
        "positive-2-targets": "cfee28084c32cb25",
        "positive-paired": "85992ba3f009a5cf",
        "negative": "7f655a9e72a05a30",
        "negative-cluster": "1b5ce1e74e4d4c93",
        "negative-cluster-3-targets": "8bd54dedfd13a240",
        "non-targeted": "6f22126207524bb5",
    },
}


@pytest.mark.parametrize("name", list(CORPORA))
def test_plans_bins_and_clusters_are_unchanged(name: str) -> None:
    got = digests(name)
    assert got == RECORDED[name]


def test_the_pinned_plans_are_not_empty() -> None:
    out = outputs("synthetic")
    assert len(out["clusters"]) > 10 and len(out["bins"]) > 5
    for label in CAMPAIGNS:
        assert len(out[label]["trials"]) > 50, label
