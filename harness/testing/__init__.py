"""Conformance checks a plugin author runs before a campaign, as scikit-learn's
``check_estimator``: each builds the plugin, exercises its contract
(:mod:`harness.contracts`) and raises :class:`ConformanceError` naming the first broken rule.

    from harness.registry import load_registry
    from harness.testing import check_component

    check_component(load_registry(["my_plugin"]), "model", "my-model", {"epochs": 2})

or call a check directly on a factory: ``check_model(lambda: MyModel(epochs=2))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.registry import Registry
from harness.testing.attack import check_constraint, check_importance, check_substituter
from harness.testing.dataset import check_dataset
from harness.testing.loss import check_loss
from harness.testing.model import check_model
from harness.testing.rules import ConformanceError
from harness.vocab import Kind

__all__ = [
    "ConformanceError",
    "check_component",
    "check_constraint",
    "check_dataset",
    "check_importance",
    "check_loss",
    "check_model",
    "check_substituter",
]


def check_component(
    registry: Registry,
    kind: str,
    name: str,
    options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> list[str]:
    """Run the check of ``kind`` on the registered component ``name`` built with
    ``options`` (extra keyword arguments go to the check: a corpus, a model). A dataset
    component that takes ``data_dir`` is also pointed at an empty folder, which must fail
    with a clear error. Returns the rules passed."""
    opts = dict(options or {})
    subject = f"{kind} {name!r}"

    def build(**extra: Any) -> object:
        return registry.build(kind, name, {**opts, **extra})  # type: ignore[call-overload]

    kind = Kind(kind)
    if kind == Kind.DATASET:
        takes_dir = any(o.name == "data_dir" for o in registry.get(kind, name).options)
        if takes_dir and "make_missing" not in kwargs:
            import tempfile

            empty = tempfile.mkdtemp(prefix="xmtc-conformance-")
            kwargs["make_missing"] = lambda: build(data_dir=empty)
        return check_dataset(build, name=subject, **kwargs)
    checks = {
        Kind.MODEL: check_model,
        Kind.LOSS: check_loss,
        Kind.IMPORTANCE: check_importance,
        Kind.SUBSTITUTER: check_substituter,
        Kind.SIMILARITY: check_constraint,
    }
    return checks[kind](build, name=subject, **kwargs)
