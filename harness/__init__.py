"""xmtc-harness: adversarial robustness evaluation for extreme multilabel text classifiers.

The core (this package) knows the hook specifications, the data types, the attack loop and
the results database; every concrete dataset, model, loss, importance scorer, substituter and
similarity constraint arrives as a plugin through :mod:`harness.registry`.
"""

import pluggy

__version__ = "0.1.0"

PROJECT = "xmtc_harness"
"""The pluggy project name and the entry-point group third-party plugins register under."""

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorator for plugin functions that implement a hook of :mod:`harness.hookspecs`."""
