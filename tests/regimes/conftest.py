"""A tiny real AttentionXML trained on a slice of Reuters-21578, shared by the regime tests."""

from __future__ import annotations

import pytest

from tests.helpers.models import reuters_slice, train

TINY = {
    "epochs": 6,
    "batch_size": 16,
    "lr": 1e-2,
    "hidden": 16,
    "fc_size": 32,
    "max_words": 40,
    "emb_dropout": 0.1,
    "dropout": 0.2,
    "swa_epochs": 0,
}


@pytest.fixture(scope="session")
def tiny_reuters():
    """(corpus, trained flat AttentionXML) on the first 1,500 Reuters training documents."""
    corpus = reuters_slice()
    return corpus, train("attentionxml", corpus, TINY)
