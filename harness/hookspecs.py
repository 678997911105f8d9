"""Hook specifications: the whole contract between the core and its plugins.

Registration hooks return a list of :class:`harness.components.Component`, one per named
component the plugin adds. Event hooks let a plugin watch a campaign (log it, mirror it to a
tracker); their return values are ignored.
"""

from __future__ import annotations

from typing import Any

import pluggy

from harness import PROJECT

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def xmtc_register_datasets() -> list[Any]:
    """Datasets: components whose factory returns a reader with ``load() -> Corpus``."""


@hookspec
def xmtc_register_models() -> list[Any]:
    """Models: components whose factory returns an untrained :class:`harness.models.XMTCModel`."""


@hookspec
def xmtc_register_losses() -> list[Any]:
    """Losses: components whose factory returns a :class:`harness.losses.Loss`."""


@hookspec
def xmtc_register_importance_scorers() -> list[Any]:
    """Importance scorers: factories return a :class:`harness.attack.protocols.ImportanceScorer`."""


@hookspec
def xmtc_register_substituters() -> list[Any]:
    """Substituters: factories return a :class:`harness.attack.protocols.Substituter`."""


@hookspec
def xmtc_register_similarity_constraints() -> list[Any]:
    """Similarity constraints: factories return a :class:`harness.attack.protocols.Constraint`."""


@hookspec
def xmtc_run_started(run_id: int, config: dict[str, Any]) -> None:
    """An evaluation run has started (or resumed) with this full configuration."""


@hookspec
def xmtc_trial_recorded(run_id: int, trial: dict[str, Any]) -> None:
    """A trial has been committed to the results database; ``trial`` is its stored row."""


@hookspec
def xmtc_run_finished(run_id: int, status: str, summary: dict[str, Any]) -> None:
    """An evaluation run has ended with ``status`` (finished, failed, interrupted)."""
