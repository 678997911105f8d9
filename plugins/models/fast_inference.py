"""Faster, inexact inference for AttentionXML (off unless asked for).

``int8``: every LSTM of a copy of the network dynamically quantised to int8
(:func:`torch.ao.quantization.quantize_dynamic`: weights stored as int8, activations
quantised batch by batch); the LSTMs are where most of a query's time goes once states are
reused. ``compile``: the flat head's label-wise attention compiled by ``torch.compile``
(inductor, which needs a C++ compiler on CPU). Both change scores by more than float
rounding, so attack outcomes may differ from exact inference; ``bench/attack.py``'s
``inference`` section measures the speed and the share of trials that differ. Nothing in
the harness turns them on. (torch marks ``torch.ao.quantization`` deprecated in favour of
the separate torchao package, which is not a dependency; it still works in torch 2.13.)
"""

from __future__ import annotations

import copy
import shutil
import warnings

import torch
from torch import nn

MODES = ("exact", "int8", "compile")


def int8_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (eval mode) with every ``nn.LSTM`` quantised to int8."""
    out = copy.deepcopy(module).eval()
    with warnings.catch_warnings():  # torch deprecates torch.ao.quantization (for torchao)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.ao.quantization.quantize_dynamic(out, {nn.LSTM}, dtype=torch.qint8)


def compiler_available() -> bool:
    """Whether ``torch.compile`` can build CPU kernels here (a C++ compiler on PATH)."""
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


def compiled_copy(net: nn.Module, method: str) -> nn.Module:
    """A copy of ``net`` (eval mode) whose ``method`` is compiled for any input shape."""
    out = copy.deepcopy(net).eval()
    setattr(out, method, torch.compile(getattr(out, method), dynamic=True))
    return out
