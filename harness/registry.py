"""The plugin registry: loads plugin modules and looks components up by kind and name.

Plugins come from three places, loaded the same way:

1. ``registry.yaml`` at the project root: the built-in plugin modules;
2. the entry-point group ``xmtc_harness`` of every installed distribution;
3. modules the caller names (the command line's plugin option) and the
   ``XMTC_HARNESS_PLUGINS`` environment variable
   (comma separated).

The core never imports a concrete plugin: it only reads module paths from those sources.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, overload

import pluggy
import yaml

from harness import PROJECT, hookspecs
from harness.components import Component
from harness.contracts import CONTRACT_CLASSES, CONTRACT_MODULES
from harness.errors import PluginError
from harness.vocab import Kind, values

if TYPE_CHECKING:
    from harness.contracts.constraint import Constraint
    from harness.contracts.dataset import DatasetReader
    from harness.contracts.importance import ImportanceScorer
    from harness.contracts.loss import Loss
    from harness.contracts.model import XMTCModel
    from harness.contracts.substituter import Substituter

ENV_PLUGINS = "XMTC_HARNESS_PLUGINS"
ENV_REGISTRY = "XMTC_HARNESS_REGISTRY"
DEFAULT_REGISTRY = Path(__file__).resolve().parent.parent / "registry.yaml"

HOOK_OF_KIND = {
    "dataset": "xmtc_register_datasets",
    "model": "xmtc_register_models",
    "loss": "xmtc_register_losses",
    "importance": "xmtc_register_importance_scorers",
    "substituter": "xmtc_register_substituters",
    "similarity": "xmtc_register_similarity_constraints",
}


def read_registry_file(path: Path) -> list[str]:
    """Module paths listed in a registry YAML file (read with the safe loader)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise PluginError(f"{path}: registry file not found (set {ENV_REGISTRY})") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f"{path}:{line + 1}" if line is not None else str(path)
        raise PluginError(f"{where}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, Mapping):
        raise PluginError(f"{path}: expected a mapping of kind -> list of modules")
    modules: list[str] = []
    for kind, mods in data.items():
        if not isinstance(mods, list) or not all(isinstance(m, str) for m in mods):
            raise PluginError(f"{path}: entry {kind!r} must be a list of module paths")
        modules.extend(mods)
    return modules


@dataclass
class Registry:
    """Loaded plugins and the components they registered, by kind and name."""

    pm: pluggy.PluginManager
    components: dict[str, dict[str, Component]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    extra_plugins: tuple[str, ...] = ()
    """The modules loaded besides the built-in and installed ones (a worker loads them too)."""
    registry_file: Path | None = None
    """The registry file of built-in plugins, when not the default."""
    extra_source: str = "extra plugins"
    """Where ``extra_plugins`` came from, as messages name it (a worker names it alike)."""
    env_plugins: tuple[str, ...] = ()
    """The modules ``$XMTC_HARNESS_PLUGINS`` named here (a worker on a cluster started
    elsewhere has not got this process's environment, so it is handed them)."""
    import_roots: tuple[str, ...] = ()
    """The folders of this process's import path that the extra and environment modules
    were found in: a worker puts them on its own path, so a plugin found through
    ``PYTHONPATH`` here is found there (Ray assumes the same layout for the driver's folder)."""

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; a clear error listing the known names if absent."""
        if kind not in values(Kind):
            raise PluginError(f"unknown plugin kind {kind!r}; kinds are {', '.join(Kind)}")
        table = self.components.get(kind, {})
        if name not in table:
            known = ", ".join(sorted(table)) or "(none registered)"
            raise PluginError(f"unknown {kind} {name!r}; known: {known}")
        return table[name]

    @overload
    def build(
        self, kind: Literal["dataset"], name: str, options: Mapping[str, Any] | None = None
    ) -> DatasetReader: ...
    @overload
    def build(
        self, kind: Literal["model"], name: str, options: Mapping[str, Any] | None = None
    ) -> XMTCModel: ...
    @overload
    def build(
        self, kind: Literal["loss"], name: str, options: Mapping[str, Any] | None = None
    ) -> Loss: ...
    @overload
    def build(
        self, kind: Literal["importance"], name: str, options: Mapping[str, Any] | None = None
    ) -> ImportanceScorer: ...
    @overload
    def build(
        self, kind: Literal["substituter"], name: str, options: Mapping[str, Any] | None = None
    ) -> Substituter: ...
    @overload
    def build(
        self, kind: Literal["similarity"], name: str, options: Mapping[str, Any] | None = None
    ) -> Constraint: ...
    def build(self, kind: str, name: str, options: Mapping[str, Any] | None = None) -> object:
        """Build component ``name`` of ``kind`` with validated ``options``; the object must
        honour its kind's contract (:mod:`harness.contracts`), else a :class:`PluginError`
        names the component and what is missing."""
        comp = self.get(kind, name)
        return build_component(comp, comp.resolve_options(options))

    def names(self, kind: str) -> list[str]:
        return sorted(self.components.get(kind, {}))

    def all(self) -> Iterable[Component]:
        for kind in Kind:
            yield from (self.components.get(kind, {})[n] for n in self.names(kind))

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, for firing event hooks."""
        return self.pm.hook


def build_component(comp: Component, resolved: Mapping[str, Any]) -> Any:
    """``comp``'s factory called with options already resolved: an exception in it is one
    line naming the component, and what it returns must honour its kind's contract."""
    from harness.plugin_calls import call_plugin, describe

    return check_contract(
        comp, call_plugin(describe(comp), "its factory", comp.factory, **resolved)
    )


def check_contract(comp: Component, obj: object) -> object:
    """``obj`` if it is an instance of the contract class of ``comp``'s kind."""
    kind = Kind(comp.kind)
    contract = getattr(importlib.import_module(CONTRACT_MODULES[kind]), CONTRACT_CLASSES[kind])
    if not isinstance(obj, contract):
        raise PluginError(
            f"{comp.kind} {comp.name!r} from {comp.source}: its factory returned "
            f"{type(obj).__name__}, which does not provide {contract.__module__}."
            f"{contract.__name__}"
        )
    return obj


def _import(module_path: str, source: str) -> ModuleType:
    try:
        return importlib.import_module(module_path)
    except Exception as exc:  # any failure inside a plugin's import is the plugin's fault
        raise PluginError(
            f"plugin {module_path!r} from {source} failed to import: "
            f"{exc.__class__.__name__}: {exc}"
        ) from exc


def import_root(module: ModuleType) -> str | None:
    """The import-path folder ``module`` was found in (None for a module without a file)."""
    top = importlib.import_module(module.__name__.partition(".")[0])
    where = getattr(top, "__file__", None)
    if not where:
        return None
    folder = Path(where).resolve().parent
    return str(folder.parent if hasattr(top, "__path__") else folder)


def env_plugin_modules() -> tuple[str, ...]:
    """The modules ``$XMTC_HARNESS_PLUGINS`` names, in order."""
    return tuple(m.strip() for m in os.environ.get(ENV_PLUGINS, "").split(",") if m.strip())


def _plugin_modules(
    extra: Iterable[str], registry_file: Path | None, extra_source: str, env: Iterable[str]
) -> list[tuple[Any, str]]:
    """(module or object, source description) for every plugin to load, in load order."""
    loaded: list[tuple[Any, str]] = []
    reg_path = Path(registry_file or os.environ.get(ENV_REGISTRY) or DEFAULT_REGISTRY)
    for mod in read_registry_file(reg_path):
        loaded.append((_import(mod, f"builtin ({reg_path.name})"), f"builtin ({reg_path.name})"))
    for ep in entry_points(group=PROJECT):
        dist = getattr(ep.dist, "name", "?") if getattr(ep, "dist", None) else "?"
        source = f"entry point {ep.name} = {ep.value} (distribution {dist})"
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.value!r} from {source} failed to load: {exc.__class__.__name__}: {exc}"
            ) from exc
        loaded.append((obj, source))
    for mod in env:
        loaded.append((_import(mod, f"${ENV_PLUGINS}"), f"${ENV_PLUGINS}"))
    for mod in extra:
        loaded.append((_import(mod, extra_source), extra_source))
    return loaded


def load_registry(
    extra_plugins: Iterable[str] = (),
    registry_file: Path | None = None,
    extra_source: str = "extra plugins",
    env_plugins: Iterable[str] | None = None,
) -> Registry:
    """Load every plugin and collect the components they register.

    A name registered twice within a kind is an error naming both sources, unless the later
    component sets ``replaces=True`` (how a third party overrides a built-in).
    ``extra_source`` says where ``extra_plugins`` came from, in messages and listings;
    ``env_plugins`` stands for ``$XMTC_HARNESS_PLUGINS`` when given (a worker's copy of the
    driver's).
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    extra = tuple(extra_plugins)
    env = env_plugin_modules() if env_plugins is None else tuple(env_plugins)
    reg = Registry(
        pm=pm,
        extra_plugins=extra,
        registry_file=registry_file,
        extra_source=extra_source,
        env_plugins=env,
    )
    plugins = _plugin_modules(extra, registry_file, extra_source, env)
    roots = (import_root(importlib.import_module(m)) for m in (*env, *extra))
    reg.import_roots = tuple(dict.fromkeys(r for r in roots if r))
    for obj, source in plugins:
        name = getattr(obj, "__name__", repr(obj))
        if pm.is_registered(obj) or pm.get_plugin(name) is not None:
            continue  # the same module named twice (say, in registry.yaml and by the caller)
        try:
            pm.register(obj, name=name)
        except Exception as exc:
            raise PluginError(f"plugin {name!r} from {source} is not valid: {exc}") from exc
        reg.sources[name] = source
    for kind, hook_name in HOOK_OF_KIND.items():
        table: dict[str, Component] = {}
        # get_hookimpls() lists implementations in registration (load) order.
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            plugin_name = pm.get_name(impl.plugin) or "?"
            source = reg.sources.get(plugin_name, "?")
            try:
                comps = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin_name!r} from {source} failed in {hook_name}: "
                    f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:300]}"
                ) from exc
            if comps is None:
                comps = []
            if not isinstance(comps, list | tuple):
                raise PluginError(
                    f"plugin {plugin_name!r} from {source}: {hook_name} must return a list of "
                    f"Component objects, got {type(comps).__name__}"
                )
            for comp in comps:
                if not isinstance(comp, Component) or comp.kind != kind:
                    raise PluginError(
                        f"plugin {plugin_name!r} from {source}: {hook_name} must return "
                        f"Component objects of kind {kind!r}, got {repr(comp)[:100]}"
                    )
                comp.source = f"{plugin_name} [{source}]"
                if comp.name in table and not comp.replaces:
                    raise PluginError(
                        f"{kind} name clash: {comp.name!r} is registered by "
                        f"{table[comp.name].source} and by {comp.source}; "
                        "rename one, or set replaces=True to override"
                    )
                table[comp.name] = comp
        reg.components[kind] = table
    return reg
