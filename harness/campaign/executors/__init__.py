"""Executors run a campaign's planned trials and hand each attempt back as it ends.

The runner (:mod:`harness.campaign.runner`) plans, then gives the trials still to run to an
executor and records every attempt it yields, in whatever order they arrive: the driver
alone writes to the database. An executor is chosen by name at run time
(:data:`EXECUTORS`, the ``runtime.executor`` setting); it is not part of what a run
measures, so it is not in the configuration hash.

What an executor receives (:mod:`harness.campaign.executors.base`): the trials, an
:class:`~harness.campaign.executors.base.AttackJob` (a picklable attack spec, a reference to
the recorded model and the plugin modules to load, enough for a worker process to build the
same :class:`~harness.attack.attack.Attack`), and a function that builds it in this process
from what the runner already loaded. A worker holds one built attack and runs
:func:`~harness.campaign.executors.base.run_trial` for each trial it is given.
:mod:`~harness.campaign.executors.shipping` is how a worker on another machine gets the
checkpoint.
"""

from __future__ import annotations

from harness.campaign.executors.base import ExecutorFactory
from harness.campaign.executors.local import LocalExecutor
from harness.campaign.executors.ray_pool import RayExecutor

EXECUTORS: dict[str, ExecutorFactory] = {"local": LocalExecutor, "ray": RayExecutor}
"""Executor name -> factory; ``local`` runs the trials one by one in this process, ``ray``
on a pool of Ray actors on this machine or a cluster (Ray is imported only then)."""
