"""String-keyed registries: one per kind of component, built from ``dict(type=..., **kwargs)``.

Registration is one mechanism: a component is a registered class (or factory) in a module of its
registry's package (``model/``, ``data/``, ...). The first lookup in a registry imports every
module of that package (``import_package``), so no import line names a component anywhere.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from typing import Any, Callable, Iterable

from util.errors import ConfigError

_IMPORTED_PACKAGES: set[str] = set()


def import_package(name: str) -> None:
    """Import every module of package ``name`` once (its command-line ``__main__`` entry points
    excepted: they run on import), so that every component in it has registered itself."""
    if name in _IMPORTED_PACKAGES:
        return
    _IMPORTED_PACKAGES.add(name)  # first, so that a lookup while the walk runs does not start it again
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


class Registry:
    """Maps names to classes (or factory functions) of one kind of component.

    >>> MIXERS = Registry("mixer")
    >>> @MIXERS.register("identity")
    ... class Identity: ...
    >>> MIXERS.build(dict(type="identity"))

    Args:
        kind: what one entry is, for messages ("mixer").
        package: the package whose modules hold every entry; it is imported (``import_package``)
            on the first lookup. None: entries are registered by whoever imports them.
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind, self.package = kind, package
        self._entries: dict[str, Callable[..., Any]] = {}

    def _complete(self) -> dict[str, Callable[..., Any]]:
        """The entries, after importing the registry's package (once)."""
        if self.package is not None:
            import_package(self.package)
        return self._entries

    def register(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator that registers a class or factory under ``name`` (default: its own name)."""

        def decorator(obj: Callable[..., Any]) -> Callable[..., Any]:
            key = name or obj.__name__
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} '{key}' is already registered by {self._entries[key]!r}")
            self._entries[key] = obj
            return obj

        return decorator

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._complete())

    def __contains__(self, name: str) -> bool:
        return name in self._complete()

    def get(self, name: str) -> Callable[..., Any]:
        """The class registered under ``name``; an unknown name lists the known ones."""
        if name not in self._complete():
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"Unknown {self.kind} '{name}'.{hint} Known {self.kind}s: {', '.join(self.names()) or '(none)'}."
            )
        return self._entries[name]

    def build(self, cfg: dict, **extra: Any) -> Any:
        """Instantiate ``cfg['type']`` with the remaining keys (plus ``extra``) as keyword arguments."""
        if not isinstance(cfg, dict) or "type" not in cfg:
            raise ConfigError(f"A {self.kind} config must be a dict with a 'type' key, got {cfg!r}.")
        kwargs = {k: v for k, v in cfg.items() if k != "type"}
        kwargs.update(extra)
        cls = self.get(cfg["type"])
        check_kwargs(cls, kwargs, where=f"{self.kind} '{cfg['type']}'")
        return cls(**kwargs)


def accepted_params(obj: Callable[..., Any]) -> tuple[set[str], bool]:
    """Keyword names ``obj`` accepts, following ``**kwargs`` up the class hierarchy.

    Returns (names, open_ended); open_ended is True when some ``**kwargs`` is not forwarded to a
    base class whose signature can be read (so any name is accepted).
    """
    targets: Iterable[Callable[..., Any]] = (
        [c.__init__ for c in inspect.getmro(obj) if "__init__" in c.__dict__ and c is not object]
        if inspect.isclass(obj)
        else [obj]
    )
    names: set[str] = set()
    for fn in targets:
        params = inspect.signature(fn).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names, False
    return names, True


def check_kwargs(obj: Callable[..., Any], kwargs: dict, where: str) -> None:
    """Reject keyword names that ``obj`` does not accept, with a did-you-mean.

    Names in ``obj.runtime_args`` (supplied by code, not by configs) are left out of the hint.
    """
    names, open_ended = accepted_params(obj)
    if open_ended:
        return
    configurable = names - set(getattr(obj, "runtime_args", ()))
    for key in kwargs:
        if key not in names:
            close = difflib.get_close_matches(key, configurable, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"Unknown key '{key}' for {where}.{hint} Accepted keys: {', '.join(sorted(configurable))}."
            )


DETECTORS = Registry("detector", "model")
ENCODERS = Registry("encoder", "model")
MIXERS = Registry("mixer", "model")
RECONSTRUCTORS = Registry("reconstructor", "model")
BACKBONES = Registry("backbone", "model")
DATASETS = Registry("dataset", "data")
LOSSES = Registry("loss", "loss")
THRESHOLDS = Registry("threshold rule", "metric")
TRAINERS = Registry("trainer", "trainer")
EVALUATORS = Registry("evaluator", "trainer")
OPTIMIZERS = Registry("optimizer", "trainer")
SCHEDULERS = Registry("scheduler", "trainer")
