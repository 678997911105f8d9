"""The Ray executor: a pool of Ray actors, each holding one built attack, fed a bounded
stream of trials; the driver (this process) alone writes the results.

* **Where.** Without an address it starts a Ray instance on this machine, sized to its
  CPUs (and GPUs), and stops it at the end; with one (``auto``, ``host:port``,
  ``ray://host:port``) it joins that cluster and only disconnects.
* **Workers.** Each actor reserves ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs,
  keeps torch and BLAS to its share of threads (:mod:`harness.threads`), loads the plugins
  the driver loaded and builds the campaign's :class:`~harness.attack.attack.Attack` once,
  through :class:`~harness.attack.build.AttackBuilder` (:class:`AttackWorker`).
* **Checkpoint.** A worker loads the folder the database recorded, or a copy of the
  checkpoint the driver put in Ray's object store (:mod:`.shipping`): ``auto`` ships a copy
  only when joining a cluster (whose workers may have no shared disk) and a worker uses it
  only when the recorded folder does not load there.
* **Stream.** Each worker has at most :data:`QUEUE_DEPTH` trials submitted (one running, one
  waiting, so it never idles for a round trip to the driver); results are yielded as they
  end, in any order, and the runner commits each one.
* **Faults.** A worker that dies (killed, out of memory, its machine lost) is replaced; of
  its trials, the one it was running is charged a death and runs again on another worker,
  up to ``trial_retries`` times, then comes back as an ``error`` naming the death; the ones
  waiting behind it run again uncharged. A plugin that raises inside a worker is the same
  ``error`` as in a local run (:func:`~harness.campaign.executors.base.run_trial` catches it
  there). Closing (end, ``fail_fast``, Ctrl-C) kills every worker; a driver killed outright
  takes its workers with it (Ray ends the actors a dead driver owned).

Ray is an optional extra: this module imports it only when a pool is made, so the rest of
the harness runs without it and :func:`require_ray` says how to install it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import resource
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import __version__
from harness.attack.attack import Attack, TrialAttempt
from harness.attack.engine import Counters
from harness.campaign.config import RuntimeConfig
from harness.campaign.executors.base import AttackJob, run_trial
from harness.campaign.executors.shipping import (
    CheckpointFiles,
    locate_and_load,
    read_checkpoint_files,
)
from harness.campaign.plan import PlannedTrial
from harness.errors import CheckpointError, ConfigError, HarnessError
from harness.threads import cpu_count, set_compute_threads
from harness.vocab import CheckpointVia

INSTALL = "pip install 'xmtc-harness[ray]'"
NAMESPACE = "xmtc-harness"
"""The Ray namespace of the workers (``ray.util.list_named_actors`` shows them)."""
ACTOR_PREFIX = "xmtc-worker"
QUEUE_DEPTH = 2
"""Trials submitted to one worker at a time: the one it runs and the next one."""
START_TIMEOUT_S = 600.0
"""How long the pool waits for its first workers (model loading included) before failing."""
POLL_S = 1.0
"""The longest the driver blocks in one wait (so Ctrl-C and start-up timeouts are prompt)."""


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "runtime.executor", f"the ray executor needs Ray, which is not installed: {INSTALL}"
        ) from None
    return ray


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker reports once its attack is built (or why it could not build it)."""

    pid: int
    node: str
    threads: int
    """torch's intra-op threads in the worker, as set (what it computes with)."""
    harness_version: str
    build_seconds: float
    checkpoint_from: str
    failure: str | None = None
    checkpoint_failure: bool = False


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


class AttackWorker:
    """The body of one Ray actor: builds the campaign's attack once, then runs trials one
    at a time. Never raises out of its constructor: a failure is reported by :meth:`ready`,
    so the driver can name it in one line."""

    def __init__(self, job: AttackJob, via: str, shipped: list[Any] | None):
        t0 = time.perf_counter()
        self.job = job
        self.attack: Attack | None = None
        failure, checkpoint_failure, source = None, False, ""
        try:
            set_compute_threads(job.threads)
            registry = job.registry()
            fetch = None
            if shipped:
                import ray

                def fetch() -> CheckpointFiles:
                    return ray.get(shipped[0])

            model, source = locate_and_load(
                job.model.checkpoint_path, via, fetch, lambda p: job.model.load(registry, p)
            )
            self.attack = job.attack_on(registry, model)
        except CheckpointError as exc:
            failure, checkpoint_failure = str(exc), True
        except Exception as exc:
            failure = f"{exc.__class__.__name__}: {exc}"
        self.info = WorkerInfo(
            pid=os.getpid(),
            node=socket.gethostname(),
            threads=torch_threads(),
            harness_version=__version__,
            build_seconds=time.perf_counter() - t0,
            checkpoint_from=source,
            failure=failure,
            checkpoint_failure=checkpoint_failure,
        )

    def ready(self) -> WorkerInfo:
        return self.info

    def run(self, trial: PlannedTrial) -> TrialAttempt:
        assert self.attack is not None, "run() on a worker that failed to build"
        return run_trial(self.attack, trial, self.job.seed)

    def peak_rss_mb(self) -> float:
        """This worker process's peak resident memory so far (MB)."""
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class _Worker:
    index: int
    name: str
    handle: Any
    ready_ref: Any
    started: float
    info: WorkerInfo | None = None
    outstanding: list[_Call] = field(default_factory=list)


@dataclass
class _Call:
    seq: int
    trial: PlannedTrial
    deaths: int
    worker: _Worker
    ref: Any


def death_reason(exc: BaseException) -> str:
    """The one sentence of a Ray actor error that says why the actor died."""
    text = " ".join(str(exc).split())
    marker = "The actor is dead because "
    if marker in text:
        text = text.split(marker, 1)[1]
        text = text.split(" Some common causes", 1)[0]
    return text[:300].rstrip(". ")


class RayExecutor:
    """Runs trials on a pool of :class:`AttackWorker` actors (module docstring)."""

    @staticmethod
    def check(runtime: RuntimeConfig) -> None:
        """Ray must be importable (the ranges are checked with the configuration)."""
        require_ray()

    def __init__(
        self,
        job: AttackJob,
        build_here: Callable[[], Attack],
        runtime: RuntimeConfig,
        echo: Callable[[str], None] = print,
    ):
        self.ray = require_ray()
        self.rt = runtime
        self.echo = echo
        self.cpus = runtime.cpus_per_worker if runtime.cpus_per_worker is not None else 1.0
        self.gpus = runtime.gpus_per_worker if runtime.gpus_per_worker is not None else 0.0
        threads = runtime.threads or max(1, math.floor(self.cpus))
        self.job = dataclasses.replace(job, threads=threads)
        self.token = uuid.uuid4().hex[:8]
        self.workers: dict[int, _Worker] = {}
        self.next_index = 0
        self.next_seq = 0
        self.deaths = 0
        """Workers that died during :meth:`run` (each was replaced)."""
        self.closed = False
        self.connected_here = False
        self.shipped: list[Any] | None = None
        self._actor_class: Any = None
        self.start_seconds = 0.0
        """Seconds from connecting to the first workers' attacks built (the pool's cost)."""
        self._t0 = time.perf_counter()
        try:
            self._connect()
            n = self._pool_size()
            self._ship()
            for _ in range(n):
                self._start_worker()
            self._await_start()
        except BaseException:
            self.close()
            raise

    # -- start-up ---------------------------------------------------------------------------
    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():  # a caller (a benchmark) connected this process already
            return
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False, "namespace": NAMESPACE}
        address = self.rt.ray_address
        try:
            if address is None:
                ray.init(address="local", num_cpus=cpu_count(), include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = "start Ray on this machine" if address is None else f"join {address!r}"
            raise ConfigError(
                "runtime.ray_address", f"cannot {where}: {' '.join(str(exc).split())[:300]}"
            ) from None
        self.connected_here = True

    def _pool_size(self) -> int:
        res = self.ray.cluster_resources()
        cpus, gpus = float(res.get("CPU", 0.0)), float(res.get("GPU", 0.0))
        local = self.rt.ray_address is None
        if local and self.gpus > gpus:
            raise ConfigError(
                "runtime.gpus_per_worker",
                f"each worker asks for {self.gpus:g} GPU(s) but Ray sees {gpus:g} on this machine",
            )
        fit = math.floor(cpus / self.cpus + 1e-9)
        if self.gpus > 0:
            fit = min(fit, math.floor(gpus / self.gpus + 1e-9))
        n = self.rt.workers if self.rt.workers is not None else max(1, fit)
        if n > fit:
            need = f"{n} workers of {self.cpus:g} CPU(s)" + (
                f" and {self.gpus:g} GPU(s)" if self.gpus else ""
            )
            have = f"{cpus:g} CPUs and {gpus:g} GPUs"
            if local:
                raise ConfigError("runtime.workers", f"{need} do not fit this machine's {have}")
            self.echo(f"ray: {need} do not fit the cluster's {have} now; waiting for resources")
        return n

    def _ship(self) -> None:
        """Put the checkpoint in the object store when workers may need it (module doc)."""
        via = self.rt.checkpoint_via
        joining = self.rt.ray_address is not None
        if via == CheckpointVia.OBJECT_STORE or (via == CheckpointVia.AUTO and joining):
            files = read_checkpoint_files(
                self.job.model.checkpoint_path, self.job.model.checkpoint_hash
            )
            # wrapped in a list so the actor receives the reference, not the bytes: a worker
            # that reads the shared folder never fetches the copy
            self.shipped = [self.ray.put(files)]

    def _start_worker(self) -> _Worker:
        index = self.next_index
        self.next_index += 1
        name = f"{ACTOR_PREFIX}-{self.token}-{index}"
        if self._actor_class is None:
            self._actor_class = self.ray.remote(AttackWorker)
        actor = self._actor_class.options(
            name=name,
            namespace=NAMESPACE,
            num_cpus=self.cpus,
            num_gpus=self.gpus,
            max_restarts=0,
            max_task_retries=0,
            max_concurrency=1,
        )
        handle = actor.remote(self.job, self.rt.checkpoint_via, self.shipped)
        worker = _Worker(index, name, handle, handle.ready.remote(), time.monotonic())
        self.workers[index] = worker
        return worker

    def _await_start(self) -> None:
        """Wait for the first workers to build their attacks; fail in one line if one cannot."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            starting = [w for w in self.workers.values() if w.info is None]
            if not starting:
                break
            ready, _ = self.ray.wait([w.ready_ref for w in starting], num_returns=1, timeout=POLL_S)
            for ref in ready:
                self._started(next(w for w in starting if w.ready_ref == ref))
            if time.monotonic() > deadline:
                if any(w.info is not None for w in self.workers.values()):
                    self.echo(f"ray: {len(starting)} worker(s) still waiting for resources")
                    break
                raise HarnessError(
                    f"no Ray worker started within {START_TIMEOUT_S:.0f} s; the cluster has "
                    f"{self.ray.cluster_resources()} (is the worker size too large?)"
                )
        self.start_seconds = time.perf_counter() - self._t0
        live = [w.info for w in self.workers.values() if w.info is not None]
        where = (
            f"a Ray instance on this machine ({cpu_count()} CPUs)"
            if self.rt.ray_address is None
            else f"the Ray cluster at {self.rt.ray_address}"
        )
        sources = sorted({i.checkpoint_from for i in live})
        self.echo(
            f"ray: {len(live)} worker(s) on {where}, each {self.cpus:g} CPU(s), "
            f"{self.gpus:g} GPU(s), {'/'.join(map(str, sorted({i.threads for i in live})))} "
            "thread(s); checkpoint from the "
            f"{' and the '.join(s.replace('-', ' ') for s in sources)}; "
            f"started in {self.start_seconds:.1f} s"
        )

    def _started(self, worker: _Worker) -> None:
        """A worker answered :meth:`AttackWorker.ready`: keep it, or fail naming why."""
        from ray.exceptions import RayError

        try:
            info: WorkerInfo = self.ray.get(worker.ready_ref)
        except RayError as exc:
            raise HarnessError(
                f"Ray worker {worker.name} died while starting: {death_reason(exc)}"
            ) from None
        if info.failure is not None:
            if info.checkpoint_failure:
                raise ConfigError(
                    "runtime.checkpoint_via",
                    f"Ray worker on {info.node} cannot load the checkpoint: {info.failure} "
                    "(object-store ships a copy to workers without the shared folder)",
                )
            hint = (
                " (a plugin module must be importable on every Ray machine: install it there, "
                "or keep its folder at the same path)"
                if "failed to import" in info.failure
                else ""
            )
            raise HarnessError(
                f"Ray worker on {info.node} could not build the attack: {info.failure}{hint}"
            )
        if info.harness_version != __version__:
            raise HarnessError(
                f"Ray worker on {info.node} runs xmtc-harness {info.harness_version}, this "
                f"driver {__version__}: install the same version on every machine"
            )
        worker.info = info

    # -- the stream -------------------------------------------------------------------------
    def run(self, trials: Iterable[PlannedTrial]) -> Iterator[TrialAttempt]:
        ray = self.ray
        from ray.exceptions import RayError, RayTaskError

        source = iter(trials)
        retry: deque[tuple[PlannedTrial, int]] = deque()
        pending: dict[Any, _Call] = {}
        drained = False
        while True:
            for worker in list(self.workers.values()):
                while worker.info is not None and len(worker.outstanding) < QUEUE_DEPTH:
                    if retry:
                        trial, deaths = retry.popleft()
                    else:
                        nxt = None if drained else next(source, None)
                        if nxt is None:
                            drained = True
                            break
                        trial, deaths = nxt, 0
                    call = _Call(
                        self.next_seq, trial, deaths, worker, worker.handle.run.remote(trial)
                    )
                    self.next_seq += 1
                    worker.outstanding.append(call)
                    pending[call.ref] = call
            if not pending and drained and not retry:
                return
            starting = {w.ready_ref: w for w in self.workers.values() if w.info is None}
            if not pending and not starting:
                self._start_worker()  # every worker died: start one and wait for it
                continue
            ready, _ = ray.wait([*pending, *starting], num_returns=1, timeout=POLL_S)
            for ref in ready:
                if ref in starting:
                    self._started(starting[ref])
                    continue
                call = pending.pop(ref)
                try:
                    attempt: TrialAttempt = ray.get(ref)
                except RayTaskError as exc:  # raised outside the attempt's own catch
                    cause = exc.cause if exc.cause is not None else exc
                    call.worker.outstanding.remove(call)
                    yield self._error(call.trial, f"{cause.__class__.__name__}: {cause}")
                except RayError as exc:
                    yield from self._worker_died(call, exc, pending, retry)
                else:
                    call.worker.outstanding.remove(call)
                    yield attempt

    def _worker_died(
        self,
        call: _Call,
        exc: BaseException,
        pending: dict[Any, _Call],
        retry: deque[tuple[PlannedTrial, int]],
    ) -> Iterator[TrialAttempt]:
        """Replace a dead worker; its running trial is charged a death, the rest requeued."""
        from ray.exceptions import RayError

        worker = call.worker
        if worker.index not in self.workers:
            return  # already handled through another of its calls
        del self.workers[worker.index]
        self.deaths += 1
        reason = death_reason(exc)
        failed: list[_Call] = [call]
        for other in worker.outstanding:
            if other is call:
                continue
            pending.pop(other.ref, None)
            try:  # it may have finished before the death: keep that result
                done, _ = self.ray.wait([other.ref], timeout=0)
                if done:
                    yield self.ray.get(other.ref)
                    continue
            except RayError:
                pass
            failed.append(other)
        worker.outstanding.clear()
        try:
            self.ray.kill(worker.handle, no_restart=True)
        except Exception:
            pass  # already gone
        failed.sort(key=lambda c: c.seq)
        running, waiting = failed[0], failed[1:]
        for c in reversed(waiting):
            retry.appendleft((c.trial, c.deaths))
        attempts = running.deaths + 1
        where = f"pid {worker.info.pid} on {worker.info.node}" if worker.info else "starting"
        if attempts > self.rt.trial_retries:
            self.echo(
                f"ray: worker {worker.name} ({where}) died: {reason}; trial "
                f"{running.trial.trial_index} is stored as an error after {attempts} attempt(s)"
            )
            yield self._error(
                running.trial,
                f"WorkerDied: the Ray worker running this trial died {attempts} time(s); "
                f"the last: {reason}",
            )
        else:
            self.echo(
                f"ray: worker {worker.name} ({where}) died: {reason}; trial "
                f"{running.trial.trial_index} runs again (attempt {attempts + 1} of "
                f"{self.rt.trial_retries + 1})"
            )
            retry.appendleft((running.trial, attempts))
        self._start_worker()

    @staticmethod
    def _error(trial: PlannedTrial, message: str) -> TrialAttempt:
        return TrialAttempt(None, message, Counters(), 0.0, trial)

    # -- reports and shutdown ---------------------------------------------------------------
    def peak_rss_mb(self) -> dict[str, float]:
        """Each live worker's peak resident memory (MB), by worker name."""
        live = [w for w in self.workers.values() if w.info is not None]
        values = self.ray.get([w.handle.peak_rss_mb.remote() for w in live])
        return {w.name: float(v) for w, v in zip(live, values, strict=True)}

    def close(self) -> None:
        """Stop every worker, and the Ray instance if this executor started it."""
        if self.closed:
            return
        self.closed = True
        for worker in self.workers.values():
            try:
                self.ray.kill(worker.handle, no_restart=True)
            except Exception:
                pass  # already dead, or Ray itself went first (Ctrl-C reaches it too)
        self.workers.clear()
        if self.connected_here:
            try:
                self.ray.shutdown()
            except Exception:
                pass
