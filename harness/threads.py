"""How many compute threads this process uses: one setting for torch, BLAS and plugins.

Several workers on one machine must each keep to their share of its cores: on 2 cores, two
processes with two torch threads each make an AttentionXML training step about ten times
slower than one thread each (README, "Running on a Ray cluster", and ``bench/README.md``).
:func:`set_compute_threads` sets torch's intra-op threads, every BLAS/OpenMP pool that
``threadpoolctl`` finds in the process, and the ``*_NUM_THREADS`` variables that child
processes inherit; plugins that size a pool of their own (the packaged USE encoder) read
:func:`compute_threads` when they build it.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_budget: int | None = None


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def compute_threads() -> int:
    """The threads this process's compute may use: the value set, else its CPUs."""
    return _budget if _budget is not None else cpu_count()


def set_compute_threads(threads: int | None) -> None:
    """Keep this process's torch, BLAS and OpenMP to ``threads`` threads (None: unchanged)."""
    global _budget
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    _budget = threads
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)  # lasts for the process: the limiter is never exited
