"""APLC on a tiny randomly initialised BERT (written by the test, loaded by path the same way
a real backbone is): it learns, its head follows the APLC rules, and it round-trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.checkpoint import load_checkpoint, save_checkpoint
from plugins.models.aplc import APLCHead, parse_cutoffs
from tests.helpers.models import (
    assert_deferred,
    check_common_contract,
    p_at_1,
    prior_p1,
    registry,
    reuters_slice,
    synthetic,
    train,
    weighting_seen_in_training,
)
from tests.helpers.tiny_models import tiny_backbone


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> str:
    folder = tiny_backbone(tmp_path_factory.mktemp("tinybert"), [reuters_slice(), synthetic()])
    from transformers import BertTokenizer

    assert BertTokenizer.from_pretrained(folder).tokenize("The market") == ["the", "market"]
    return folder


def opts(backbone: str) -> dict:
    return {
        "backbone": backbone,
        "epochs": 8,
        "batch_size": 32,
        "lr": 1e-2,
        "backbone_lr": 3e-3,
        "max_words": 80,
        "max_tokens": 96,
        "cutoffs": "0.1,0.3",
        "dropout": 0.0,
    }


@pytest.fixture(scope="module")
def reuters_aplc(backbone):
    corpus = reuters_slice()
    return corpus, train("aplc", corpus, opts(backbone))


def test_aplc_beats_prior_on_reuters(reuters_aplc) -> None:
    corpus, model = reuters_aplc
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.05
    check_common_contract(model, corpus)
    assert model.mask_token == "[MASK]"


def test_aplc_beats_prior_on_synthetic(backbone) -> None:
    corpus = synthetic()
    model = train("aplc", corpus, opts(backbone))
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.05


def test_labels_sorted_by_frequency_and_tail_probability_is_a_product(reuters_aplc) -> None:
    corpus, model = reuters_aplc
    counts = corpus.label_counts[model.order]
    assert np.all(np.diff(counts) <= 0)  # sorted positions: most frequent first
    head = model.net.head
    assert head.bounds == [0, 43, 129, 429]
    d = model.net.proj.out_features
    assert [t[0].out_features for t in head.tails] == [d // 2, d // 4]
    words = corpus.test[1].words
    enc = model.encode([words])
    with torch.no_grad():
        x = model.net.summary(enc["input_ids"], enc["attention_mask"])
        h = head.head(x)
        z = head.tails[1](x)
    label = int(model.order[200])  # position 200 is in the second tail cluster
    expected = torch.sigmoid(h[0, 43 + 1]) * torch.sigmoid(z[0, 200 - 129])
    assert model.predict_proba([words])[0, label] == pytest.approx(float(expected), rel=1e-4)


def test_tail_clusters_run_only_for_documents_with_a_positive_in_them() -> None:
    head = APLCHead(8, 10, [4, 7], 2.0)
    seen: list[int] = []
    for tail in head.tails:
        tail.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    y = torch.zeros(5, 10)
    y[0, 1] = y[2, 5] = y[3, 5] = 1  # cluster 1 (positions 4..6) present in rows 2 and 3
    bound = registry().build("loss", "bce", {}).bind(np.ones(10), 50)
    loss = head.loss(torch.randn(5, 8), y, torch.arange(10), bound)
    assert seen == [2] and torch.isfinite(loss)
    loss.backward()
    assert head.tails[1][1].weight.grad is None  # never computed, never trained here


def test_parse_cutoffs() -> None:
    assert parse_cutoffs("0.25,0.5", 400) == [100, 200]
    assert parse_cutoffs("2000,6000,14000", 30938) == [2000, 6000, 14000]
    assert parse_cutoffs("0.5,900", 400) == [200]


def test_aplc_checkpoint_round_trip(reuters_aplc, tmp_path) -> None:
    corpus, model = reuters_aplc
    options = registry().get("model", "aplc").resolve_options(model.options)
    save_checkpoint(
        model,
        tmp_path / "ck",
        model_name="aplc",
        options=options,
        dataset=corpus.name,
        fingerprint=corpus.fingerprint(),
    )
    loaded = load_checkpoint(tmp_path / "ck", registry(), label_names=corpus.label_names)
    docs = [d.words for d in corpus.test[:20]]
    np.testing.assert_allclose(loaded.predict_proba(docs), model.predict_proba(docs), atol=1e-6)


def test_aplc_applies_deferred_weighting_late(backbone) -> None:
    options = {**opts(backbone), "epochs": 2}
    assert_deferred(weighting_seen_in_training("aplc", synthetic(), options))
