"""Building an :class:`~harness.attack.attack.Attack` from plugin names: the one place an
attack is assembled, where the plugins' fit to the model is checked, once, and where each
plugin is put behind its contract's guard (:mod:`harness.attack.guarded`).

An :class:`AttackSpec` is plain, picklable data (kinds, numbers, plugin names and the
options given for them), so a worker process can rebuild the same attack from it. The
:class:`AttackBuilder` resolves each plugin's options and builds the plugins as soon as it
is made (bad names and options fail before any model is loaded), then
:meth:`AttackBuilder.build` binds them to a model: the compatibility check (``gradient``
importance needs a model with gradients) happens there, once, naming the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.attack.attack import Attack
from harness.attack.engine import QueryEngine
from harness.attack.guarded import GuardedConstraint, GuardedImportance, GuardedSubstituter
from harness.attack.search import GreedySearch, SearchSettings
from harness.components import PluginChoice
from harness.contracts.model import XMTCModel
from harness.errors import ConfigError
from harness.limits import check_finite, check_int64
from harness.plugin_calls import describe
from harness.registry import Registry, build_component
from harness.vocab import AttackKind, SimilarityScale, values

CHANGE_RATE = "change-rate"
"""The similarity-kind component that enforces θ; every attack has it."""


@dataclass(frozen=True)
class AttackSpec:
    """Everything that defines an attack apart from the model it runs against."""

    kind: str = AttackKind.POSITIVE.value
    k: int = 5
    max_change: float = 0.10
    """θ: at most floor(θ·n) of the n words may change."""
    min_sim: float = 0.8
    """ε: the smallest similarity to the original a candidate may have."""
    sim_scale: str = SimilarityScale.COSINE.value
    importance: PluginChoice = field(default_factory=lambda: PluginChoice("mask"))
    substituter: PluginChoice = field(default_factory=lambda: PluginChoice("glove"))
    similarity: PluginChoice = field(default_factory=lambda: PluginChoice("use"))
    max_queries: int | None = None
    """Logical queries one trial may make before it ends as budget-exhausted."""
    max_batch: int = 64
    """Largest batch of texts sent to the model at once (a memory cap)."""

    def validate(self) -> None:
        """Range checks, each naming its field (``attack.k``), before anything is built."""
        if self.kind not in values(AttackKind):
            raise ConfigError("attack.kind", f"unknown attack {self.kind!r}")
        check_int64("attack.k", self.k)
        check_int64("attack.max_batch", self.max_batch)
        if self.max_queries is not None:
            check_int64("attack.max_queries", self.max_queries)
        check_finite("attack.max_change", self.max_change)
        check_finite("attack.min_sim", self.min_sim)
        if self.k < 1:
            raise ConfigError("attack.k", f"must be >= 1, got {self.k}")
        if not 0 < self.max_change <= 1:
            raise ConfigError("attack.max_change", f"θ must be in (0, 1], got {self.max_change}")
        if not 0 <= self.min_sim <= 1:
            raise ConfigError(
                "attack.min_sim", f"the threshold must be in [0, 1], got {self.min_sim}"
            )
        if self.sim_scale not in values(SimilarityScale):
            raise ConfigError("attack.sim_scale", f"unknown scale {self.sim_scale!r}")
        if self.max_batch < 1:
            raise ConfigError("attack.max_batch", f"must be >= 1, got {self.max_batch}")
        if self.max_queries is not None and self.max_queries < 1:
            raise ConfigError("attack.max_queries", f"must be >= 1, got {self.max_queries}")


class AttackBuilder:
    """The plugins of one :class:`AttackSpec`, built; :meth:`build` binds them to a model.

    ``resolved`` holds each plugin's options as it resolved them (defaults filled): part of
    what a campaign records and hashes. θ goes to the change-rate constraint, ε and the
    scale to the similarity constraint when it declares ``threshold`` / ``scale`` options
    (an option given explicitly wins).
    """

    def __init__(self, registry: Registry, spec: AttackSpec):
        spec.validate()
        self.spec = spec
        imp_c = registry.get("importance", spec.importance.name)
        sub_c = registry.get("substituter", spec.substituter.name)
        sim_c = registry.get("similarity", spec.similarity.name)
        cr_c = registry.get("similarity", CHANGE_RATE)
        sim_opts = dict(spec.similarity.options)
        declared = {o.name for o in sim_c.options}
        if "threshold" in declared:
            sim_opts.setdefault("threshold", spec.min_sim)
        if "scale" in declared:
            sim_opts.setdefault("scale", spec.sim_scale)
        self.resolved: dict[str, dict[str, Any]] = {
            "importance": imp_c.resolve_options(spec.importance.options),
            "substituter": sub_c.resolve_options(spec.substituter.options),
            "similarity": sim_c.resolve_options(sim_opts),
            "change_rate": cr_c.resolve_options({"theta": spec.max_change}),
        }
        self.importance = build_component(imp_c, self.resolved["importance"])
        self.substituter = build_component(sub_c, self.resolved["substituter"])
        self.similarity = build_component(sim_c, self.resolved["similarity"])
        self.change_rate = build_component(cr_c, self.resolved["change_rate"])
        self.subjects = {
            "importance": describe(imp_c),
            "substituter": describe(sub_c),
            "similarity": describe(sim_c),
            "change_rate": describe(cr_c),
        }

    def check_model(self, model: XMTCModel) -> None:
        """Refuse a model the plugins cannot work with, naming the option to change."""
        if getattr(self.importance, "needs_gradients", False) and not model.supports_gradients:
            raise ConfigError(
                "attack.importance.name",
                f"{self.spec.importance.name!r} needs a white-box model; "
                f"{type(model).__name__} does not expose embedding gradients "
                "(choose the mask or delete importance)",
            )

    def build(
        self,
        model: XMTCModel,
        *,
        engine: QueryEngine | None = None,
        lazy_checks: bool = True,
        subject: str | None = None,
    ) -> Attack:
        """The attack against ``model``. ``engine`` replaces the default batched, cached
        engine (a benchmark's reference loop); ``lazy_checks=False`` checks constraints on
        every candidate that could be chosen (same choices, more encoder calls); ``subject``
        names the model plugin in contract errors (default: by its class)."""
        self.check_model(model)
        spec = self.spec
        if engine is None:
            engine = QueryEngine(model, max_batch=spec.max_batch, subject=subject)
        settings = SearchSettings(max_queries=spec.max_queries, lazy_checks=lazy_checks)
        subjects = self.subjects
        search = GreedySearch(
            GuardedImportance(self.importance, subjects["importance"]),
            GuardedSubstituter(self.substituter, subjects["substituter"]),
            settings,
        )
        similarity = GuardedConstraint(self.similarity, subjects["similarity"])
        constraints = [GuardedConstraint(self.change_rate, subjects["change_rate"]), similarity]
        return Attack(spec.kind, spec.k, engine, search, constraints, similarity)


def build_attack(registry: Registry, spec: AttackSpec, model: XMTCModel) -> Attack:
    """Build ``spec``'s plugins and bind them to ``model`` (both steps of the builder)."""
    return AttackBuilder(registry, spec).build(model)
