"""What each kind of plugin must provide: one module per kind, typed.

A plugin registers :class:`~harness.components.Component` objects (``harness.hookspecs``);
each component's ``factory(**options)`` returns an object honouring the contract of its
kind:

========== ==================================================== ==============================
kind       the factory returns                                   module
========== ==================================================== ==============================
dataset    a reader with ``load() -> Corpus``                    :mod:`.dataset`
model      an untrained :class:`~.model.XMTCModel`               :mod:`.model`
loss       a :class:`~.loss.Loss`                                :mod:`.loss`
importance an :class:`~.importance.ImportanceScorer`             :mod:`.importance`
substituter a :class:`~.substituter.Substituter`                 :mod:`.substituter`
similarity a :class:`~.constraint.Constraint`                    :mod:`.constraint`
========== ==================================================== ==============================

:mod:`harness.testing` checks a plugin against its contract; ``docs/plugins.md`` is
generated from these modules' docstrings.
"""

from __future__ import annotations

from harness.vocab import Kind

CONTRACT_MODULES: dict[Kind, str] = {
    Kind.DATASET: "harness.contracts.dataset",
    Kind.MODEL: "harness.contracts.model",
    Kind.LOSS: "harness.contracts.loss",
    Kind.IMPORTANCE: "harness.contracts.importance",
    Kind.SUBSTITUTER: "harness.contracts.substituter",
    Kind.SIMILARITY: "harness.contracts.constraint",
}
"""The contract module of each plugin kind."""

CONTRACT_CLASSES: dict[Kind, str] = {
    Kind.DATASET: "DatasetReader",
    Kind.MODEL: "XMTCModel",
    Kind.LOSS: "Loss",
    Kind.IMPORTANCE: "ImportanceScorer",
    Kind.SUBSTITUTER: "Substituter",
    Kind.SIMILARITY: "Constraint",
}
"""The class (in its contract module) a factory's return value must be an instance of."""
