"""The torch helpers model plugins share (devices, padding, bucketing, the training loop),
and deferred re-weighting as every model applies it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plugins.models.torch_common import (
    bucketed_batches,
    pad_ids,
    resolve_device,
    stable_tail_logit,
    train_loop,
)
from tests.helpers.models import assert_deferred, synthetic, weighting_seen_in_training  # noqa: E402


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
        ("linear", {"max_iter": 40}),
        ("linear", {"solver": "adam", "epochs": 4, "batch_size": 100}),
        ("attentionxml", {"epochs": 2, "hidden": 8, "fc_size": 8, "max_words": 20}),
    ],
)
def test_models_apply_deferred_weighting_late(name: str, options: dict) -> None:
    assert_deferred(weighting_seen_in_training(name, synthetic(), options))
