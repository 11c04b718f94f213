"""The plugin manager: built-in plugins listed in code, third parties through entry points.

Names are resolved to objects once, when a run is built (:meth:`PluginManager.build`); nothing in
the per-batch loop goes through pluggy. The built-ins are ordinary plugins, registered exactly as
a third party's would be, except that they are listed here rather than found by entry point.

How a factory's options are read and checked (signature, type hints, pydantic) is
:mod:`sweepnp.plugin_options`; its functions are importable from here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from sweepnp import hookspecs
from sweepnp.errors import (
    ConfigError,
    PluginError,
    PluginFailure,
    SweepnpError,
    options_under,
)
from sweepnp.plugin_options import (
    factory_parameters,
    float_options,
    in_dtype,
    parameter_names,
    type_hints,
    validate_options,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "BrokenPlugin",
    "PluginInfo",
    "PluginManager",
    "Provided",
    "float_options",
    "get_plugin_manager",
    "parameter_names",
    "type_hints",
    "validate_options",
]

#: Entry-point group third-party distributions register their plugin modules under.
ENTRY_POINT_GROUP = "sweepnp"
#: Set it (to anything) to skip third-party plugins, like pytest's PYTEST_DISABLE_PLUGIN_AUTOLOAD.
DISABLE_AUTOLOAD_ENV = "SWEEPNP_DISABLE_PLUGIN_AUTOLOAD"
#: Set to a non-empty value to print every hook call to stderr.
TRACE_ENV = "SWEEPNP_TRACE_HOOKS"

#: The kinds of thing plugins provide, each with its registration hook ``sweepnp_register_<kind>``.
KINDS = ("optimizers", "regularizers", "schedules", "callbacks", "datasets", "surfaces")

#: What one thing of each kind is called in messages.
KIND_KEYS = {
    "optimizers": "optimizer",
    "regularizers": "regularizer",
    "schedules": "schedule",
    "callbacks": "callback",
    "datasets": "dataset",
    "surfaces": "surface",
}

#: Every hook, in the order hookspecs.py defines them (lifecycle order).
HOOK_ORDER = tuple(name for name in vars(hookspecs) if name.startswith("sweepnp_"))

BUILTIN_PLUGINS: tuple[str, ...] = (
    "sweepnp_plugins.optimizers.sgd",
    "sweepnp_plugins.optimizers.momentum",
    "sweepnp_plugins.optimizers.nesterov",
    "sweepnp_plugins.optimizers.adagrad",
    "sweepnp_plugins.optimizers.rmsprop",
    "sweepnp_plugins.optimizers.adam",
    "sweepnp_plugins.optimizers.adamw",
    "sweepnp_plugins.regularizers.l1",
    "sweepnp_plugins.regularizers.l2",
    "sweepnp_plugins.regularizers.elastic_net",
    "sweepnp_plugins.regularizers.dropout",
    "sweepnp_plugins.schedules.constant",
    "sweepnp_plugins.schedules.step",
    "sweepnp_plugins.schedules.exponential",
    "sweepnp_plugins.schedules.cosine",
    "sweepnp_plugins.schedules.warmup",
    "sweepnp_plugins.schedules.warmup_cosine",
    "sweepnp_plugins.callbacks.early_stopping",
    "sweepnp_plugins.callbacks.gradient_clipping",
    "sweepnp_plugins.callbacks.divergence_guard",
    "sweepnp_plugins.callbacks.diagnosis",
    "sweepnp_plugins.callbacks.pruning",
    "sweepnp_plugins.callbacks.weight_stats",
    "sweepnp_plugins.callbacks.parameters",
    "sweepnp_plugins.datasets.bundled",
    "sweepnp_plugins.datasets.synthetic",
    "sweepnp_plugins.datasets.points",
    "sweepnp_plugins.datasets.files",
    "sweepnp_plugins.surfaces.rosenbrock",
    "sweepnp_plugins.surfaces.quadratic",
    "sweepnp_plugins.surfaces.beale",
    "sweepnp_plugins.surfaces.himmelblau",
)


@dataclass(frozen=True)
class Provided:
    """One named thing a plugin provides."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str | None


@dataclass(frozen=True)
class BrokenPlugin:
    """A third-party plugin that failed to load; everything else keeps working."""

    name: str
    distribution: str | None
    version: str | None
    error: str
    #: The entry point's value, e.g. ``sweepnp_lion`` or ``package.module:object``.
    module: str | None = None


@dataclass(frozen=True)
class PluginInfo:
    """What ``sweepnp plugins list`` shows about one plugin (see :meth:`PluginManager.describe`).

    :ivar name: the plugin's name: its entry-point name, or its module for a built-in.
    :ivar distribution: the installed distribution it comes from (``sweepnp`` for built-ins;
        ``None`` for a plugin registered in code).
    :ivar version: that distribution's version.
    :ivar builtin: whether it is one of sweepnp's built-in plugins.
    :ivar state: ``"loaded"``, or ``"broken"`` when it failed to import.
    :ivar module: the module (or entry-point value) the plugin is loaded from.
    :ivar provides: registry kind → the names it provides there, e.g. ``{"optimizers": ["lion"]}``.
    :ivar hooks: the hooks it implements, in lifecycle order.
    :ivar error: why a broken plugin failed to load.
    """

    name: str
    distribution: str | None
    version: str | None
    builtin: bool
    state: str
    module: str | None
    provides: dict[str, list[str]]
    hooks: list[str]
    error: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class PluginManager:
    """sweepnp's view of the installed plugins: what each provides, and how to build it.

    :param builtins: module names to register as built-in plugins.
    :param load_entrypoints: also load third-party plugins from the entry-point group ``sweepnp``
        (off when the environment variable ``SWEEPNP_DISABLE_PLUGIN_AUTOLOAD`` is set).
    :param extra: further plugin objects (modules or instances) to register, e.g. in tests.
    """

    def __init__(
        self,
        builtins: tuple[str, ...] = BUILTIN_PLUGINS,
        *,
        load_entrypoints: bool = True,
        extra: tuple[object, ...] = (),
    ) -> None:
        self.pm = pluggy.PluginManager("sweepnp")
        self.pm.add_hookspecs(hookspecs)
        self.builtin_names: list[str] = []
        self.broken: list[BrokenPlugin] = []
        self.distributions: dict[str, metadata.Distribution] = {}
        self.entry_points: dict[str, metadata.EntryPoint] = {}
        for module_name in builtins:
            self.pm.register(importlib.import_module(module_name), name=module_name)
            self.builtin_names.append(module_name)
        if load_entrypoints and not os.environ.get(DISABLE_AUTOLOAD_ENV):
            self._load_entrypoints()
        for plugin in extra:  # named like a module, or after its class, for messages
            self.pm.register(plugin, name=getattr(plugin, "__name__", type(plugin).__name__))
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {exc.plugin!r} implements an unknown hook: {exc}. "
                f"Valid hooks: {', '.join(sorted(self.hook_names()))}"
            ) from None
        self._check_unmarked()
        if os.environ.get(TRACE_ENV):
            self.pm.trace.root.setwriter(lambda message: print(message, end="", file=_stderr()))
            self.pm.enable_tracing()
        self.registry = self._collect()
        self._defaults = self._default_callbacks()

    # -- loading ------------------------------------------------------------------------------

    def _load_entrypoints(self) -> None:
        seen: dict[str, metadata.Distribution] = {}
        for dist in metadata.distributions():
            for ep in dist.entry_points:
                if ep.group != ENTRY_POINT_GROUP:
                    continue
                if ep.name in seen:
                    first = seen[ep.name]
                    if first.name == dist.name:
                        continue  # the same distribution found twice on sys.path: first wins
                    raise PluginError(
                        f"two distributions register the plugin name {ep.name!r}: "
                        f"{first.name} {first.version} and {dist.name} {dist.version}; "
                        "uninstall one of them"
                    )
                seen[ep.name] = dist
                try:
                    plugin = ep.load()
                    self.pm.register(plugin, name=ep.name)
                except Exception as exc:  # a broken plugin must not break sweepnp
                    self.broken.append(
                        BrokenPlugin(
                            ep.name,
                            dist.name,
                            dist.version,
                            f"{type(exc).__name__}: {exc}",
                            module=ep.value,
                        )
                    )
                    continue
                self.distributions[ep.name] = dist
                self.entry_points[ep.name] = ep

    def _check_unmarked(self) -> None:
        """A function named like a hook but not marked ``@hookimpl`` would silently never be
        called: an error naming it."""
        for name, plugin in self.pm.list_name_plugin():
            for attribute in dir(plugin):
                if not attribute.startswith("sweepnp_"):
                    continue
                function = getattr(plugin, attribute, None)
                if callable(function) and self.pm.parse_hookimpl_opts(plugin, attribute) is None:
                    raise PluginError(
                        f"plugin {name!r} defines {attribute}() without @hookimpl, so sweepnp "
                        "would never call it; mark it: from sweepnp import hookimpl, then "
                        "@hookimpl above the function"
                    )

    def hook_names(self) -> list[str]:
        return [name for name in dir(hookspecs) if name.startswith("sweepnp_")]

    def distribution_of(self, plugin_name: str) -> str | None:
        if plugin_name in self.builtin_names:
            return "sweepnp"
        dist = self.distributions.get(plugin_name)
        return dist.name if dist else None

    def describe(self) -> list[PluginInfo]:
        """Every plugin: registered ones in registration order (built-ins first), then broken ones.

        What ``sweepnp plugins list --all --json`` prints.
        """
        from sweepnp.version import __version__

        order = {name: i for i, name in enumerate(HOOK_ORDER)}
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            builtin = name in self.builtin_names
            dist = self.distributions.get(name)
            ep = self.entry_points.get(name)
            provides = {
                kind: sorted(n for n, entry in self.registry[kind].items() if entry.plugin == name)
                for kind in KINDS
            }
            hooks = sorted(
                (caller.name for caller in self.pm.get_hookcallers(plugin) or ()),
                key=lambda hook: order.get(hook, len(order)),
            )
            infos.append(
                PluginInfo(
                    name=name,
                    distribution="sweepnp" if builtin else dist.name if dist else None,
                    version=__version__ if builtin else dist.version if dist else None,
                    builtin=builtin,
                    state="loaded",
                    module=ep.value if ep else getattr(plugin, "__name__", type(plugin).__module__),
                    provides={kind: names for kind, names in provides.items() if names},
                    hooks=hooks,
                )
            )
        for broken in self.broken:
            infos.append(
                PluginInfo(
                    name=broken.name,
                    distribution=broken.distribution,
                    version=broken.version,
                    builtin=False,
                    state="broken",
                    module=broken.module,
                    provides={},
                    hooks=[],
                    error=broken.error,
                )
            )
        return infos

    def _collect(self) -> dict[str, dict[str, Provided]]:
        """What every plugin provides; a third-party plugin whose registration hook raises is
        unregistered and listed as broken, and the others are collected again without it."""
        while True:
            try:
                return self._collect_once()
            except _RegistrationFailed as failed:
                name = failed.plugin_name
                if name in self.builtin_names:
                    raise failed.error from None
                dist = self.distributions.pop(name, None)
                ep = self.entry_points.pop(name, None)
                self.pm.unregister(name=name)
                self.broken.append(
                    BrokenPlugin(
                        name,
                        dist.name if dist else None,
                        dist.version if dist else None,
                        f"{failed.hook} raised {type(failed.error).__name__}: {failed.error}",
                        module=ep.value if ep else None,
                    )
                )

    def _collect_once(self) -> dict[str, dict[str, Provided]]:
        registry: dict[str, dict[str, Provided]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            hook_name = f"sweepnp_register_{kind}"
            impls = getattr(self.pm.hook, hook_name).get_hookimpls()
            everyone = {impl.plugin for impl in impls}
            # Call each plugin's implementation through pluggy on its own (so tracing and
            # wrappers apply and each result is attributable), in registration order.
            for impl in reversed(impls):
                caller = self.pm.subset_hook_caller(hook_name, everyone - {impl.plugin})
                try:
                    provided = next(iter(caller()), None) or {}
                except Exception as exc:
                    raise _RegistrationFailed(impl.plugin_name, hook_name, exc) from exc
                for name, factory in provided.items():
                    entry = Provided(
                        kind,
                        name,
                        factory,
                        impl.plugin_name,
                        self.distribution_of(impl.plugin_name),
                    )
                    if name in registry[kind]:
                        first = registry[kind][name]
                        raise PluginError(
                            f"two plugins provide the {KIND_KEYS[kind]} {name!r}: "
                            f"{_describe(first)} and {_describe(entry)}"
                        )
                    registry[kind][name] = entry
        return registry

    # -- lookup and building ----------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        return sorted(self.registry[kind])

    def get(self, kind: str, name: str, *, key: str, source: str | None = None) -> Provided:
        """The entry for ``name``, or a :class:`ConfigError` listing the valid names."""
        try:
            return self.registry[kind][name]
        except (KeyError, TypeError):
            valid = ", ".join(self.names(kind))
            broken = "; ".join(
                f"{b.name} ({b.distribution} {b.version}): {b.error}" for b in self.broken
            )
            if broken:  # the name may be one of theirs: say so rather than leave a mystery
                broken = f". Plugins that failed to load (sweepnp plugins list): {broken}"
            raise ConfigError(
                f"unknown {KIND_KEYS[kind]} {name!r}; valid choices: {valid}{broken}",
                source=source,
                key=key,
            ) from None

    def build(
        self,
        kind: str,
        name: str,
        options: Mapping[str, Any],
        *,
        key: str,
        source: str | None = None,
        extra: Mapping[str, Any] | None = None,
        dtype: Any = None,
    ) -> Any:
        """Resolve ``name`` and call its factory with ``options``, validated against its signature.

        :param key: the dotted key of the options table, for messages (e.g. ``optimizer``).
        :param extra: arguments sweepnp supplies itself (e.g. ``seed`` for datasets), passed only
            when the factory accepts them.
        :param dtype: the run's dtype, for the plugins a stack of trials shares (the optimizer,
            the weight penalties): their float options are handed over as scalars of it
            (:func:`~sweepnp.plugin_options.in_dtype`), as a stack hands them over as arrays.
        """
        factory = self.get(kind, name, key=key, source=source).factory
        kwargs = validate_options(factory, options, key=key, source=source)
        if dtype is not None:
            kwargs = in_dtype(factory, kwargs, dtype)
        accepted = factory_parameters(factory)
        for arg, value in (extra or {}).items():
            if arg in accepted and arg not in kwargs:
                kwargs[arg] = value
        try:
            with options_under(key, source):
                return factory(**kwargs)
        except ConfigError as exc:  # e.g. a DataError from a loader: say which file it was in
            if exc.source is None and source is not None:
                raise type(exc)(exc.reason, source=source, key=exc.key or key) from None
            raise
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{name}: {exc}", source=source, key=key) from None

    def plugin_modules(self) -> dict[str, str]:
        """Module name → plugin name, for every module that a plugin is or provides code from.

        Used to say which plugin a failing run's exception came from.
        """
        modules: dict[str, str] = {}
        for name, plugin in self.pm.list_name_plugin():
            module = getattr(plugin, "__name__", None) or type(plugin).__module__
            modules[module] = name
        for entries in self.registry.values():
            for entry in entries.values():
                modules.setdefault(getattr(entry.factory, "__module__", ""), entry.plugin)
        return modules

    def culprit(self, exc: BaseException) -> tuple[str, str] | None:
        """``(plugin, function)`` for an exception raised by plugin code, else ``None``.

        The plugin is the one whose module holds the deepest frame of the traceback in any
        plugin's module (where it raised); the function is that plugin's outermost frame, the hook
        or method sweepnp called (``sweepnp_on_epoch_end``, ``on_epoch_end``, ``step``, …).
        """
        modules = self.plugin_modules()
        frames = [
            (modules[module], frame.f_code.co_name)
            for frame, _ in traceback.walk_tb(exc.__traceback__)
            if (module := frame.f_globals.get("__name__", "")) in modules
        ]
        if not frames:
            return None
        plugin = frames[-1][0]
        return plugin, next(function for name, function in frames if name == plugin)

    @contextlib.contextmanager
    def naming_failures(self, source: str | None = None) -> Iterator[None]:
        """Turn an exception that plugin code raises inside into a :class:`PluginFailure`
        naming the plugin and the function, chained to the original; sweepnp's own errors and
        exceptions that come from no plugin pass unchanged."""
        try:
            yield
        except SweepnpError:
            raise
        except Exception as exc:
            found = self.culprit(exc)
            if found is None:
                raise
            raise PluginFailure(*found, exc, source=source) from exc

    def default_callbacks(self) -> dict[str, dict[str, Any]]:
        """Callback name → options: what plugins turn on in every run
        (``sweepnp_default_callbacks``, asked once), in the order the plugins were registered."""
        return {name: dict(options) for name, options in self._defaults.items()}

    def _default_callbacks(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for provided in reversed(self.hook.sweepnp_default_callbacks()):  # pluggy calls LIFO
            merged.update({name: dict(options) for name, options in (provided or {}).items()})
        return merged

    def has_impls(self, hook_name: str) -> bool:
        return bool(getattr(self.pm.hook, hook_name).get_hookimpls())

    @property
    def hook(self) -> Any:
        return self.pm.hook


class _RegistrationFailed(Exception):
    """A plugin's registration hook raised (internal to :meth:`PluginManager._collect`)."""

    def __init__(self, plugin_name: str, hook: str, error: Exception) -> None:
        super().__init__(plugin_name, hook, error)
        self.plugin_name, self.hook, self.error = plugin_name, hook, error


def _describe(entry: Provided) -> str:
    dist = f" (distribution {entry.distribution})" if entry.distribution else ""
    return f"plugin {entry.plugin!r}{dist}"


def _stderr() -> Any:
    return sys.stderr


@functools.cache
def _default_manager() -> PluginManager:
    return PluginManager()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built on first use."""
    return _default_manager()


def reset_plugin_manager() -> None:
    """Forget the process-wide plugin manager: the next :func:`get_plugin_manager` builds one
    anew (after installing a plugin, or setting ``SWEEPNP_DISABLE_PLUGIN_AUTOLOAD``)."""
    _default_manager.cache_clear()
