"""String-keyed registries: one per kind of component, built from ``dict(type=..., **kwargs)``."""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Iterable

from util.errors import ConfigError


class Registry:
    """Maps names to classes (or factory functions) of one kind of component.

    >>> MIXERS = Registry("mixer")
    >>> @MIXERS.register("identity")
    ... class Identity: ...
    >>> MIXERS.build(dict(type="identity"))
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

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
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Callable[..., Any]:
        """The class registered under ``name``; an unknown name lists the known ones."""
        if name not in self._entries:
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


DETECTORS = Registry("detector")
ENCODERS = Registry("encoder")
MIXERS = Registry("mixer")
RECONSTRUCTORS = Registry("reconstructor")
BLOCKS = Registry("block")
DATASETS = Registry("dataset")
LOSSES = Registry("loss")
METRICS = Registry("metric")
THRESHOLDS = Registry("threshold rule")
TRAINERS = Registry("trainer")
EVALUATORS = Registry("evaluator")
BACKBONES = Registry("backbone")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("scheduler")
