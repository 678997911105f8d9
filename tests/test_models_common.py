"""Shared pieces of the model tests (small real corpora, the prior baseline) and the tests
of what every model plugin promises: options, dynamic padding, saliency, checkpoints."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import Corpus
from harness.metrics import evaluate
from harness.registry import Registry, load_registry
from plugins.models.torch_common import (
    bucketed_batches,
    pad_ids,
    resolve_device,
    stable_tail_logit,
    train_loop,
)

REUTERS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "reuters21578"


@lru_cache(maxsize=1)
def registry() -> Registry:
    return load_registry()


@lru_cache(maxsize=1)
def reuters_slice(n_train: int = 1500, n_test: int = 500) -> Corpus:
    """The first documents of the Lewis split, full label space (labels keep their ids)."""
    import os

    root = Path(os.environ.get("XMTC_DATA_DIR", REUTERS.parent)) / "reuters21578"
    full = registry().build("dataset", "reuters21578", {"data_dir": str(root)}).load()
    return replace(full, train=full.train[:n_train], test=full.test[:n_test])


@lru_cache(maxsize=1)
def synthetic() -> Corpus:
    opts = {"n_labels": 100, "n_docs": 600, "seed": 1, "doc_length": 60}
    return registry().build("dataset", "synthetic", opts).load()


def prior_p1(corpus: Corpus) -> float:
    """P@1 of always ranking labels by training frequency."""
    counts = np.asarray(corpus.label_matrix("train").sum(axis=0)).ravel()
    scores = np.tile(counts.astype(np.float64), (len(corpus.test), 1))
    return evaluate(scores, corpus.label_matrix("test"), None, ks=(1,))["P@1"]


def bound_loss(corpus: Corpus, **loss_options: str):
    """The bce loss plugin with these options, bound to the corpus's training labels."""
    return (
        registry()
        .build("loss", "bce", loss_options)
        .bind(corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b)
    )


def train(name: str, corpus: Corpus, options: dict, weighting: str = "none", loss=None):
    """A model plugin fitted on the corpus's training split (with ``loss``, a bound loss,
    or else bce with ``weighting``)."""
    model = registry().build("model", name, options)
    model.fit(
        [d.words for d in corpus.train],
        corpus.label_matrix("train"),
        loss if loss is not None else bound_loss(corpus, weighting=weighting),
        label_names=corpus.label_names,
        seed=0,
        progress=False,
    )
    return model


def weighting_seen_in_training(name: str, corpus: Corpus, options: dict) -> list[bool]:
    """Train with PW-cb deferred to the second half of training and return, call by call,
    whether the loss applied the weights (read by a forward pre-hook on the real loss)."""
    loss = bound_loss(corpus, weighting="pw-cb", defer="0.5")
    seen: list[bool] = []
    loss.register_forward_pre_hook(lambda module, args: seen.append(module.weighted))
    train(name, corpus, options, loss=loss)
    return seen


def assert_deferred(seen: list[bool]) -> None:
    """Plain first, weighted after, and both phases of real length."""
    assert seen == sorted(seen), "the weighting switched back off"
    assert seen.count(False) >= 2 and seen.count(True) >= 2, seen


def p_at_1(model, corpus: Corpus) -> float:
    scores = model.predict_proba([d.words for d in corpus.test])
    return evaluate(scores, corpus.label_matrix("test"), None, ks=(1,))["P@1"]


def check_common_contract(model, corpus: Corpus) -> None:
    """Shape, range, batching-independence, cache keys and saliency of a trained model."""
    docs = [d.words for d in corpus.test[:7]]
    probs = model.predict_proba(docs)
    assert probs.shape == (7, corpus.n_labels) and probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    one_by_one = np.vstack([model.predict_proba([d]) for d in docs])
    np.testing.assert_allclose(one_by_one, probs, atol=2e-5)  # padding must not leak
    words = list(docs[0])
    assert model.cache_key(words) == model.cache_key(list(words))
    # The cache contract: equal keys must mean equal predictions (so different predictions
    # mean different keys), for masked and truncated variants alike.
    variants = [[model.mask_token, *words[1:]], [*words, *(["oil"] * model.max_words)]]
    variants += [[*words[:i], model.mask_token, *words[i + 1 :]] for i in range(1, 6)]
    base = model.predict_proba([words])[0]
    for v in variants:
        same = np.allclose(model.predict_proba([v])[0], base, atol=1e-6)
        if model.cache_key(v) == model.cache_key(words):
            assert same
    if model.supports_gradients:
        top = int(np.argmax(probs[0]))
        sal = model.word_saliency(words, [top], 1.0)
        assert sal.shape == (len(words),) and np.all(sal >= 0) and sal.max() > 0


def test_resolve_device_auto_and_errors() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(Exception, match="no CUDA"):
            resolve_device("cuda")


def test_pad_ids_pads_to_batch_longest() -> None:
    ids, lengths = pad_ids([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]


def test_bucketed_batches_cover_every_row_once() -> None:
    lengths = np.random.default_rng(0).integers(1, 500, size=1003)
    batches = bucketed_batches(lengths, 32, np.random.default_rng(1))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1003))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < np.ptp(lengths) / 4  # batches hold documents of similar length


def test_stable_tail_logit_matches_naive_and_stays_finite() -> None:
    a = torch.tensor([-3.0, 0.0, 2.0, 40.0, -60.0])
    b = torch.tensor([1.0, -2.0, 0.5, 40.0, 3.0])
    log_p = torch.nn.functional.logsigmoid(a) + torch.nn.functional.logsigmoid(b)
    out = stable_tail_logit(log_p)
    assert torch.isfinite(out).all()
    p = torch.sigmoid(a[:3].double()) * torch.sigmoid(b[:3].double())
    torch.testing.assert_close(out[:3].double(), torch.log(p / (1 - p)), atol=1e-4, rtol=1e-4)


def small_loop(net: torch.nn.Module, batches: list[np.ndarray], step, **options) -> None:
    """Three epochs of :func:`train_loop` over the same fixed batches, no progress bar."""
    train_loop(
        net.parameters(),
        lambda rng: batches,
        step,
        epochs=3,
        lr=0.1,
        weight_decay=0.0,
        seed=0,
        progress=False,
        desc="t",
        modules=[net],
        **options,
    )


def test_train_loop_weight_averaging_keeps_the_mean_of_snapshots() -> None:
    """With SWA on, the final weights are the mean of the weights after every
    ``average_every``-th step from epoch ``average_from`` on, plus the last ones."""

    def run(average_from: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        x, y = torch.randn(8, 3), torch.randn(8, 1)
        seen: list[torch.Tensor] = []  # the weights each step starts from

        def step(rows: np.ndarray) -> torch.Tensor:
            seen.append(net.weight.detach().clone())
            return torch.nn.functional.mse_loss(net(x[rows]), y[rows])

        small_loop(
            net,
            [np.arange(0, 4), np.arange(4, 8), np.arange(0, 8), np.arange(2, 6)],
            step,
            average_from=average_from,
            average_every=2,
        )
        return net.weight.detach().clone(), seen

    last, seen = run(0)
    after = [*seen[1:], last]  # weights after step i
    averaged, seen_again = run(2)
    assert all(torch.equal(a, b) for a, b in zip(seen, seen_again, strict=True))
    picked = [after[i] for i in range(4, 12) if i % 2 == 0] + [last]  # epochs 2-3
    torch.testing.assert_close(averaged, torch.stack(picked).mean(0))
    assert not torch.allclose(averaged, last)


def test_train_loop_reports_progress_to_the_loss() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    x = torch.randn(6, 2)
    reported: list[float] = []

    class Recorder:
        def set_progress(self, done: float) -> None:
            reported.append(done)

    small_loop(
        net,
        [np.arange(0, 3), np.arange(3, 6)],
        lambda rows: net(x[rows]).pow(2).mean(),
        loss=Recorder(),
    )
    assert reported == pytest.approx([i / 6 for i in range(6)])


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("linear", {"solver": "lbfgs", "max_iter": 40}),
        ("linear", {"solver": "adam", "epochs": 4, "batch_size": 100}),
        ("attentionxml", {"epochs": 2, "hidden": 8, "fc_size": 8, "max_words": 20}),
    ],
)
def test_models_apply_deferred_weighting_late(name: str, options: dict) -> None:
    assert_deferred(weighting_seen_in_training(name, synthetic(), options))
