"""What a plugin registers: a named component of one kind, its description and its options.

Plugins return :class:`Component` objects from the registration hooks in
:mod:`harness.hookspecs`; the registry validates option values against the declared
:class:`Option` list before calling the factory, so every plugin gets the same clear errors
for unknown options and out-of-range values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UsageError
from harness.limits import INT64_MAX, INT64_MIN
from harness.vocab import Kind, values


@dataclass(frozen=True)
class Option:
    """One option a component takes: its type, default, help, and allowed range or choices."""

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    def coerce(self, value: Any, where: str) -> Any:
        """Convert ``value`` (often a string from the command line) and check its range."""
        if value is None:
            return None
        try:
            if self.type is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                out: Any = low in {"1", "true", "yes", "on"}
            else:
                out = self.type(value)
        except (TypeError, ValueError):
            raise UsageError(
                f"{where}.{self.name}", f"expected {self.type.__name__}, got {value!r}"
            ) from None
        if isinstance(out, float) and not math.isfinite(out):  # NaN passes every range check
            raise UsageError(f"{where}.{self.name}", f"must be a finite number, got {value!r}")
        if isinstance(out, int) and not isinstance(out, bool) and not INT64_MIN <= out <= INT64_MAX:
            raise UsageError(
                f"{where}.{self.name}", f"must fit a 64-bit integer (|x| < 2**63), got {out}"
            )
        if self.choices is not None and out not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise UsageError(f"{where}.{self.name}", f"{out!r} is not one of: {allowed}")
        lo_out = self.min is not None and (
            out < self.min or (not self.min_inclusive and out == self.min)
        )
        hi_out = self.max is not None and (
            out > self.max or (not self.max_inclusive and out == self.max)
        )
        if lo_out:
            bound = "≥" if self.min_inclusive else ">"
            raise UsageError(f"{where}.{self.name}", f"must be {bound} {self.min}, got {out}")
        if hi_out:
            bound = "≤" if self.max_inclusive else "<"
            raise UsageError(f"{where}.{self.name}", f"must be {bound} {self.max}, got {out}")
        return out


@dataclass(frozen=True)
class PluginChoice:
    """A component picked by name, with the options given for it (not yet resolved).

    What a configuration holds for each plugin slot: picklable plain data, resolved against
    the registry (defaults filled, values checked) only when something is built from it.
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Component:
    """A named, described, configurable thing a plugin adds to the harness.

    ``factory(**options)`` builds the live object (a dataset reader, a model class, a loss,
    a scorer...). ``replaces=True`` lets a third-party component take over a built-in name
    instead of failing with a clash.
    """

    kind: str
    name: str
    description: str
    factory: Callable[..., Any]
    options: tuple[Option, ...] = ()
    replaces: bool = False
    source: str = field(default="?", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in values(Kind):
            raise ValueError(
                f"unknown component kind {self.kind!r}; expected one of {values(Kind)}"
            )

    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each value coerced and range-checked."""
        given = dict(given or {})
        known = {o.name: o for o in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            allowed = ", ".join(sorted(known)) or "(none)"
            raise UsageError(
                f"{self.kind} {self.name}",
                f"unknown option(s) {', '.join(unknown)}; it takes: {allowed}",
            )
        where = f"{self.kind}:{self.name}"
        out = {}
        for name, opt in known.items():
            out[name] = opt.coerce(given[name], where) if name in given else opt.default
        return out

    def build(self, given: Mapping[str, Any] | None = None) -> Any:
        """Call the factory with resolved options."""
        return self.factory(**self.resolve_options(given))
