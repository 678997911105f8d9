"""Calling plugin code: whatever a plugin raises becomes one line naming the plugin, and
what it returns is held to its contract where the harness receives it.

A plugin is code the harness does not control. Every call into one (a factory, ``load``,
``bind``, ``fit``, an event hook) goes through :func:`call_plugin`: an exception it raises
that the harness does not already explain (:class:`~harness.errors.HarnessError`, which
names its file or option) becomes a :class:`PluginCallError` saying which plugin failed in
which call, printed as one line by the command line (or stored as an ``error`` trial during
an attack). :func:`load_corpus` is the one way a command loads a dataset: the reader's
exceptions are named and the corpus it returns must meet the dataset contract
(:func:`harness.contracts.checks.corpus_problem`), whoever wrote the reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from harness.contracts.checks import MIN_TRAIN_DOCUMENTS, ContractViolation, corpus_problem
from harness.errors import HarnessError, PluginError

if TYPE_CHECKING:
    import pluggy

    from harness.components import Component
    from harness.data import Corpus

T = TypeVar("T")


class Registry(Protocol):
    """What these calls use of :class:`harness.registry.Registry` (which calls this module
    to build components, so this module does not import it)."""

    pm: pluggy.PluginManager
    sources: dict[str, str]

    def get(self, kind: str, name: str) -> Component: ...

    def build(self, kind: str, name: str, options: Mapping[str, Any] | None = None) -> Any: ...


MESSAGE_CHARS = 300
"""An exception's message is cut to this many characters in a one-line error."""


def one_line(text: object, limit: int = MESSAGE_CHARS) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class PluginCallError(PluginError):
    """A plugin's code raised: ``subject`` names the plugin, ``method`` the call."""

    def __init__(self, subject: str, method: str, exc: BaseException):
        self.subject = subject
        self.method = method
        self.cause = exc
        message = one_line(exc) or "(no message)"
        super().__init__(f"{subject} raised {exc.__class__.__name__} in {method}: {message}")


def describe(comp: Component) -> str:
    """How messages name a component: its kind, name and where it came from."""
    return f"{comp.kind} {comp.name!r} ({comp.source})"


def call_plugin(subject: str, method: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, a plugin's code; an exception the harness does not already
    explain is re-raised as a :class:`PluginCallError` naming ``subject`` and ``method``.

    A :class:`HarnessError` passes unchanged (a reader's :class:`~harness.errors.InputError`
    already names its file and line; a plugin's own option check names the option), and so
    do ``KeyboardInterrupt`` and ``SystemExit``. ``MemoryError`` is named like any other.
    """
    try:
        return fn(*args, **kwargs)
    except HarnessError:
        raise
    except Exception as exc:
        raise PluginCallError(subject, method, exc) from exc


def load_corpus(
    registry: Registry,
    name: str,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
    for_training: bool = True,
) -> Corpus:
    """Build the dataset reader ``name`` and load its corpus, held to the dataset contract
    (non-empty splits, valid label indices, unique ids...; ``for_training``: enough
    training documents to train on): a reader that breaks it is refused with one line
    naming the reader and the rule."""
    comp = registry.get("dataset", name)
    reader = registry.build("dataset", name, options)
    corpus = call_plugin(describe(comp), "load()", reader.load, progress=progress)
    problem = corpus_problem(corpus, MIN_TRAIN_DOCUMENTS if for_training else 1)
    if problem is not None:
        rule, detail = problem
        raise ContractViolation(rule, f"dataset {name!r}", detail)
    return corpus


class EventHookError(PluginCallError):
    """An event hook (a watcher of the campaign) raised; the campaign itself is sound."""


def fire_event(registry: Registry, hook: str, **kwargs: Any) -> None:
    """Call every implementation of the event hook ``hook`` (latest registered first, as
    pluggy does); the first that raises stops the others and is named in an
    :class:`EventHookError`."""
    caller = getattr(registry.pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):
        if getattr(impl, "hookwrapper", False) or getattr(impl, "wrapper", False):
            continue  # wrappers wrap a call; an event has nothing for them to wrap
        name = registry.pm.get_name(impl.plugin) or "?"
        subject = f"plugin {name!r} ({registry.sources.get(name, '?')})"
        args = {a: kwargs[a] for a in impl.argnames if a in kwargs}
        try:
            impl.function(**args)
        except Exception as exc:
            raise EventHookError(subject, f"the {hook} hook", exc) from exc
