"""How a conformance check fails: one named rule, and what was seen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ConformanceError(AssertionError):
    """A plugin broke a rule of its contract; ``rule`` names it (``model.batch_invariance``).

    An ``AssertionError``, so a failed check reads as a failed test under pytest.
    """

    def __init__(self, rule: str, subject: str, detail: str):
        self.rule = rule
        self.subject = subject
        self.detail = detail
        super().__init__(f"[{rule}] {subject}: {detail}")


class Checker:
    """The rules of one check run on one plugin (``subject`` names it in messages)."""

    def __init__(self, subject: str):
        self.subject = subject
        self.passed: list[str] = []

    def expect(self, rule: str, ok: bool, detail: str) -> None:
        """Record ``rule`` as passed, or raise naming it."""
        if not ok:
            raise ConformanceError(rule, self.subject, detail)
        self.passed.append(rule)

    def raised(
        self, rule: str, fn: Callable[[], T], expected: type[BaseException]
    ) -> tuple[bool, T | None]:
        """``(True, None)`` when ``fn()`` raised ``expected``, ``(False, its result)`` when it
        returned; any other exception breaks ``rule`` (a plugin must fail clearly)."""
        try:
            result = fn()
        except expected:
            return True, None
        except Exception as exc:
            raise ConformanceError(
                rule,
                self.subject,
                f"raised {exc.__class__.__name__} where {expected.__name__} was expected: {exc}",
            ) from exc
        return False, result

    def call(self, rule: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``; an exception from it breaks ``rule``."""
        try:
            return fn(*args, **kwargs)
        except ConformanceError:
            raise
        except Exception as exc:
            raise ConformanceError(
                rule, self.subject, f"raised {exc.__class__.__name__}: {exc}"
            ) from exc
