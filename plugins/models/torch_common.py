"""What the torch model plugins share: device choice, seeding, dynamic-padding batches,
the training loop with its progress bar, and state-dict <-> numpy conversion.

Kept in one place so every model trains, pads and reports the same way; the loop is
hand-written rather than taken from a trainer library because each model needs its own
step (APLC computes only some clusters per batch) while the bookkeeping stays identical.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from harness.components import Option
from harness.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def device_option(default: str = "auto") -> Option:
    return Option(
        "device",
        str,
        default,
        "Where to run: auto (a CUDA GPU when present, else CPU), cpu or cuda.",
        choices=DEVICES,
    )


def training_options(
    *, epochs: int, batch_size: int, lr: float, max_words: int, max_words_cap: int = 100_000
) -> tuple[Option, ...]:
    """The options every trained model takes, with model-specific defaults."""
    return (
        Option("epochs", int, epochs, "Passes over the training set.", min=1, max=1000),
        Option("batch_size", int, batch_size, "Documents per training batch.", min=1, max=65536),
        Option("eval_batch_size", int, 256, "Documents per prediction batch.", min=1, max=65536),
        Option("lr", float, lr, "Learning rate (AdamW).", min=0.0, min_inclusive=False, max=10.0),
        Option("weight_decay", float, 0.0, "AdamW weight decay.", min=0.0, max=1.0),
        Option(
            "max_words",
            int,
            max_words,
            "Words of a document the model reads; later words are dropped (the attack "
            "truncates to this too).",
            min=1,
            max=max_words_cap,
        ),
        device_option(),
    )


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when a GPU is visible; asking for ``cuda`` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("model.device", "cuda was requested but no CUDA GPU is visible")
    if name not in DEVICES:
        raise UsageError("model.device", f"{name!r} is not one of {', '.join(DEVICES)}")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every GPU) so a training run repeats."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def ids_key(ids: Sequence[int]) -> bytes:
    """Cache key for a token-id sequence: equal ids give equal keys, whatever the words."""
    arr = np.asarray(ids, dtype=np.int64)
    return hashlib.blake2b(arr.tobytes(), digest_size=16).digest()


def pad_ids(
    seqs: Sequence[Sequence[int]], pad: int = 0, min_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists to the longest one of *this* batch (or to ``min_len`` if longer):
    (ids (B, T), lengths (B,))."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    width = max(int(lengths.max()) if len(seqs) else 0, min_len or 0)
    out = torch.full((len(seqs), width), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out, lengths


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of similar length: shuffle, sort within windows of ``bucket``
    batches by length, cut into batches, shuffle the batches. Less padding, still random."""
    order = rng.permutation(len(lengths))
    window = batch_size * bucket
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Prediction batches in length order (least padding); callers scatter results back."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def dense_rows(Y: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """The label rows of a batch as a dense float tensor on ``device``."""
    return torch.from_numpy(Y[rows].toarray().astype(np.float32)).to(device)


def train_loop(
    params: Sequence[torch.nn.Parameter] | Sequence[dict],
    batches_of_epoch: Callable[[np.random.Generator], list[np.ndarray]],
    step: Callable[[np.ndarray], torch.Tensor],
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
    progress: bool,
    desc: str,
    modules: Sequence[torch.nn.Module],
    clip: float = 5.0,
    warmup_frac: float = 0.0,
    sparse_params: Sequence[torch.nn.Parameter] = (),
    average_from: int = 0,
    average_every: int = 50,
    loss: Any = None,
    regime: Any = None,
    parts: Any = None,
) -> list[float]:
    """AdamW over ``epochs`` with a linear-decay schedule (optional warm-up), gradient
    clipping and one tqdm bar; ``step(rows)`` returns the batch loss. Returns epoch means.

    ``sparse_params`` (parameters with sparse gradients, e.g. ``EmbeddingBag(sparse=True)``)
    get lazy :class:`torch.optim.SparseAdam`, which updates only the rows a batch touched.

    ``average_from`` > 0 turns on stochastic weight averaging, as AttentionXML trains: from
    that epoch (1-based) on, the weights of ``modules[0]`` are averaged every
    ``average_every`` steps (:class:`torch.optim.swa_utils.AveragedModel`), and the average
    replaces them when training ends.

    ``loss``: the bound loss ``step`` calls; when it has ``set_progress`` (deferred
    re-weighting, :class:`harness.contracts.loss.BoundLoss`) it hears the fraction of steps done
    before each step.

    ``regime`` (:class:`harness.regimes.steps.Regime`) and ``parts`` (the model's
    :class:`harness.regimes.steps.BatchParts`): adversarial training. The regime then runs
    each batch's forward and backward passes itself (``step`` is not called), its cost
    record times the optimiser steps as plain training's part and gets each epoch's
    seconds, and it hears the end of every epoch (a substitution regime refreshes there).
    """
    set_progress = getattr(loss, "set_progress", None)
    rng = np.random.default_rng(seed)
    opts: list[torch.optim.Optimizer] = [
        torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    ]
    if sparse_params:
        opts.append(torch.optim.SparseAdam(list(sparse_params), lr=lr))
    per_epoch = len(batches_of_epoch(np.random.default_rng(seed)))
    total = max(1, per_epoch * epochs)
    warm = int(total * warmup_frac)

    def schedule(i: int) -> float:
        if i < warm:
            return (i + 1) / warm
        return max(0.05, 1.0 - (i - warm) / max(1, total - warm))

    scheds = [torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in opts]
    dense = [p for g in opts[0].param_groups for p in g["params"]]
    averaged = (
        torch.optim.swa_utils.AveragedModel(modules[0], use_buffers=False) if average_from else None
    )
    n_averaged = n_steps = 0
    history: list[float] = []
    bar = tqdm(total=total, desc=desc, disable=not progress, unit="batch", leave=False)
    try:
        for epoch in range(epochs):
            for m in modules:
                m.train()
            losses = []
            epoch_start = time.perf_counter()
            for rows in batches_of_epoch(rng):
                if set_progress is not None:
                    set_progress(n_steps / total)
                if regime is None:
                    batch_loss = step(rows)
                    for o in opts:
                        o.zero_grad(set_to_none=True)
                    batch_loss.backward()
                    losses.append(float(batch_loss.detach()))
                else:
                    for o in opts:
                        o.zero_grad(set_to_none=True)
                    losses.append(regime.step(parts, rows))
                with regime.cost.timing("plain") if regime is not None else nullcontext():
                    if clip:
                        torch.nn.utils.clip_grad_norm_(dense, clip)
                    for o, sc in zip(opts, scheds, strict=True):
                        o.step()
                        sc.step()
                if averaged is not None and epoch + 1 >= average_from:
                    if n_steps % average_every == 0:
                        averaged.update_parameters(modules[0])
                        n_averaged += 1
                n_steps += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-50:]):.4f}")
            history.append(float(np.mean(losses)) if losses else float("nan"))
            if regime is not None:
                regime.cost.epoch_seconds.append(time.perf_counter() - epoch_start)
                regime.end_epoch(epoch + 1, epochs)
        if averaged is not None and n_averaged:
            averaged.update_parameters(modules[0])  # the final weights count too
            with torch.no_grad():
                for mine, mean in zip(
                    modules[0].parameters(), averaged.module.parameters(), strict=True
                ):
                    mine.copy_(mean)
    finally:
        bar.close()
        for m in modules:
            m.eval()
    return history


def module_tensors(module: torch.nn.Module, prefix: str = "") -> dict[str, np.ndarray]:
    """A module's state dict as contiguous CPU numpy arrays (what safetensors stores)."""
    return {
        prefix + k: v.detach().to("cpu").contiguous().numpy().copy()
        for k, v in module.state_dict().items()
    }


def load_module_tensors(
    module: torch.nn.Module, tensors: dict[str, np.ndarray], prefix: str = ""
) -> None:
    """Load arrays saved by :func:`module_tensors`; every key must match (strict)."""
    sub = {
        k[len(prefix) :]: torch.from_numpy(np.asarray(v))
        for k, v in tensors.items()
        if k.startswith(prefix)
    }
    module.load_state_dict(sub, strict=True)


def stable_tail_logit(log_p: torch.Tensor) -> torch.Tensor:
    """logit(p) = log p - log(1 - p) from log p, stable for p near 0 and near 1.

    ``-expm1(log p)`` is 1 - p without cancellation; clamping log p just below 0 keeps the
    logit finite when both factors of a product probability saturate.
    """
    log_p = log_p.clamp(max=-1e-12)
    return log_p - torch.log(-torch.expm1(log_p))
