"""Python config files with ``_base_`` inheritance, dotted command-line overrides and validation.

A config file is plain Python that assigns data (dicts, lists, numbers, strings)::

    _base_ = ["../__base__/runtime.py", "../__base__/datasets/smap.py"]
    model = dict(type="kambaad", d_model=512)
    trainer = dict(epochs=2)

Bases are merged first (in order), then the file's own values: dicts merge key by key, any
other value (lists included) replaces. A dict with ``_delete_=True`` replaces instead of merging.
Overrides ``a.b.c=value`` are applied after inheritance. A value is read as a Python literal
(``true``/``false``/``none`` in any case too), then fitted to the type the key is declared with:
the annotation of the component constructor that takes it (``TimeSeriesSource(scaler: str)``),
or ``RUN_KEY_TYPES`` for the run-level keys. A key that takes a string but not what the literal
became keeps the text as typed: ``data.scaler=none`` is the string ``"none"``,
``data.test_path=2024`` and ``work_dir=123`` are paths; a key that also takes None
(``data.timestamp_column: str | None``) reads ``none`` as None. A key whose type is not
declared keeps the literal (quote a string there: ``key="'none'"``). Derived quantities (a
default test stride, a model's inner width) are computed by the components at build time, i.e.
always after overrides.
"""
from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import inspect
import json
import pprint
import runpy
import types
import typing
from pathlib import Path
from typing import Any

from util.errors import ConfigError
from util.registry import (
    BACKBONES,
    DATASETS,
    DETECTORS,
    ENCODERS,
    EVALUATORS,
    LOSSES,
    MIXERS,
    OPTIMIZERS,
    RECONSTRUCTORS,
    SCHEDULERS,
    THRESHOLDS,
    TRAINERS,
    Registry,
    accepted_params,
    check_kwargs,
)

REQUIRED_KEYS = ("model", "data", "trainer", "evaluation")
REPO_ROOT = Path(__file__).resolve().parents[1]

# Which registry builds a component dict, by the key it sits under.
COMPONENT_REGISTRIES: dict[str, tuple[Registry, ...]] = {
    "model": (DETECTORS,),
    "data": (DATASETS,),
    "trainer": (TRAINERS,),
    "evaluation": (EVALUATORS,),
    "loss": (LOSSES,),
    "reconstructor": (RECONSTRUCTORS,),
    "threshold": (THRESHOLDS,),
    "encoder": (BACKBONES, ENCODERS),
    "blocks": (ENCODERS, MIXERS),
    "optimizer": (OPTIMIZERS,),
    "scheduler": (SCHEDULERS,),
}

_PLAIN = (dict, list, tuple, str, int, float, bool, type(None))

# Types of the run-level keys (configs/__base__/runtime.py), which no component constructor declares.
RUN_KEY_TYPES: dict[str, Any] = {
    "seed": int,
    "device": str,
    "work_dir": str | None,
    "checkpoint": str | None,
    "num_threads": int | None,
    "entity_mode": str,
    "deterministic": bool,
    "cpu_config": str | None,
    "predict.path": str | None,
    "predict.timestamp_column": str | None,
    "predict.entity": str | None,
    "predict.chunk_size": int,
    "predict.output": str | None,
}


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Read a config file, merge its bases, apply ``key=value`` overrides and validate it."""
    cfg = _strip_delete_markers(_load_file(Path(path), chain=()))
    for item in overrides:
        apply_override(cfg, item)
    validate(cfg)
    return cfg


def _load_file(path: Path, chain: tuple[Path, ...]) -> dict:
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}. Check the path given with -c (configs live under configs/).")
    if path in chain:
        raise ConfigError(f"Config inheritance loops back to {path} via {' -> '.join(map(str, chain))}.")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # a config is user code: report where it broke
        raise ConfigError(f"Could not execute config {path}: {type(exc).__name__}: {exc}") from exc
    bases = namespace.get("_base_", [])
    if isinstance(bases, str):
        bases = [bases]
    merged: dict = {}
    for base in bases:
        merged = merge(merged, _load_file(path.parent / base, chain + (path,)))
    own = {k: v for k, v in namespace.items() if not k.startswith("_")}
    for key, value in own.items():
        _check_plain(value, key, path)
    return merge(merged, own)


def _check_plain(value: Any, key: str, path: Path) -> None:
    if not isinstance(value, _PLAIN):
        raise ConfigError(
            f"Config {path}: '{key}' is a {type(value).__name__}; configs hold only dicts, lists, "
            "strings, numbers, booleans and None (build objects from them in code)."
        )
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for sub, item in items:
        _check_plain(item, f"{key}.{sub}", path)


def merge(base: dict, child: dict) -> dict:
    """Deep-merge ``child`` into a copy of ``base`` (dicts merge; other values replace)."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get("_delete_", False):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _strip_delete_markers(node: Any) -> Any:
    """Remove the ``_delete_`` markers once every file is merged (they act between files)."""
    if isinstance(node, dict):
        return {k: _strip_delete_markers(v) for k, v in node.items() if k != "_delete_"}
    if isinstance(node, list):
        return [_strip_delete_markers(v) for v in node]
    return node


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal, true/false/none in any case, a bracketed list
    whose items are parsed the same way (``[A-1,B-2]`` -> ``["A-1", "B-2"]``), else the string."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if stripped.startswith("[") and stripped.endswith("]") and "[" not in stripped[1:-1]:
            return [parse_value(item.strip()) for item in stripped[1:-1].split(",") if item.strip()]
        return text


def apply_override(cfg: dict, item: str) -> None:
    """Apply one ``a.b.c=value`` override in place, rejecting unknown keys and wrong types."""
    if "=" not in item:
        raise ConfigError(f"Override '{item}' is not of the form key=value (e.g. trainer.epochs=2).")
    dotted, text = item.split("=", 1)
    dotted = dotted.strip()
    keys = dotted.split(".")
    node: Any = cfg
    for depth, key in enumerate(keys[:-1]):
        node = _child(node, key, ".".join(keys[: depth + 1]))
    last = keys[-1]
    value = fit_to_type(parse_value(text), text, declared_type(dotted, keys, node), dotted)
    if isinstance(node, list):
        index = _index(node, last, dotted)
        _check_type(dotted, node[index], value)
        node[index] = value
        return
    if not isinstance(node, dict):
        raise ConfigError(f"Override '{dotted}': '{'.'.join(keys[:-1])}' is not a dict, it cannot take key '{last}'.")
    if last in node and not _declared_type_accepts(node, keys[-2] if len(keys) > 1 else "", last, value):
        _check_type(dotted, node[last], value)
    elif "type" not in node or len(keys) == 1:
        _unknown_key(dotted, last, node)
    node[last] = value
    if last == "type" and len(keys) > 1:
        _drop_keys_unknown_to(node, keys[-2])


def declared_type(dotted: str, keys: list[str], parent: Any) -> Any:
    """The type the key ``dotted`` (``keys``, inside ``parent``) is declared with, or None when unknown."""
    if dotted in RUN_KEY_TYPES:
        return RUN_KEY_TYPES[dotted]
    if not isinstance(parent, dict) or "type" not in parent or len(keys) < 2:
        return None
    if keys[-1] == "type":
        return str
    owner = keys[-2] if not keys[-2].isdigit() or len(keys) < 3 else keys[-3]
    cls = _registry_class(owner, parent["type"])
    return None if cls is None else _parameter_annotation(cls, keys[-1])


def _parameter_annotation(cls: Any, name: str) -> Any:
    """The annotation of constructor argument ``name`` of ``cls`` (following ``**kwargs`` to the bases)."""
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else [cls]:
        init = klass.__dict__.get("__init__") if inspect.isclass(cls) else klass
        if init is None:
            continue
        try:
            param = inspect.signature(init, eval_str=True).parameters.get(name)
        except (NameError, TypeError, SyntaxError):  # an annotation that cannot be evaluated here
            return None
        if param is not None:
            return None if param.annotation is inspect.Parameter.empty else param.annotation
    return None


def _allowed_types(declared: Any) -> set[type] | None:
    """The plain Python types a declared type admits (None for ``Any`` or an unreadable type)."""
    if declared is None or declared is Any:
        return None
    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        parts = [_allowed_types(arg) for arg in typing.get_args(declared)]
        return None if any(p is None for p in parts) else set().union(*parts)
    base = typing.get_origin(declared) or declared
    if base is type(None):
        return {type(None)}
    if not isinstance(base, type):
        return None
    return {str} if issubclass(base, Path) else {base}


def _admits(value: Any, allowed: set[type]) -> bool:
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and (int in allowed or float in allowed):
        return True
    return any(isinstance(value, t) for t in allowed if t not in (bool, int))


def fit_to_type(value: Any, text: str, declared: Any, dotted: str = "") -> Any:
    """``value`` (parsed from ``text``) fitted to the ``declared`` type of key ``dotted``.

    A key that takes a string but not ``value`` keeps ``text`` as typed (``none`` -> ``"none"``,
    ``2024`` -> ``"2024"``); None for a key that cannot be None is an error.
    """
    allowed = _allowed_types(declared)
    if allowed is None or _admits(value, allowed):
        return value
    if str in allowed:
        return text.strip()
    if value is None:
        raise ConfigError(f"Config key '{dotted}' cannot be None; it takes {' or '.join(sorted(t.__name__ for t in allowed))}.")
    return value


def _child(node: Any, key: str, dotted: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, key, dotted)]
    if not isinstance(node, dict):
        raise ConfigError(f"Override key '{dotted}' goes through a value that is not a dict or list.")
    if key not in node:
        _unknown_key(dotted, key, node)
    return node[key]


def _index(node: list, key: str, dotted: str) -> int:
    if not key.lstrip("-").isdigit() or not -len(node) <= int(key) < len(node):
        raise ConfigError(f"Override key '{dotted}': '{key}' is not an index of a list of length {len(node)}.")
    return int(key)


def _unknown_key(dotted: str, key: str, node: dict) -> None:
    close = difflib.get_close_matches(key, [str(k) for k in node], n=1)
    hint = f" Did you mean '{dotted.rsplit('.', 1)[0] + '.' if '.' in dotted else ''}{close[0]}'?" if close else ""
    raise ConfigError(f"Unknown config key '{dotted}'.{hint} Known keys here: {', '.join(map(str, node))}.")


def _check_type(dotted: str, old: Any, new: Any) -> None:
    if old is None or new is None:
        return
    ok = (
        (isinstance(old, bool) and isinstance(new, bool))
        or (isinstance(old, int) and not isinstance(old, bool) and isinstance(new, int) and not isinstance(new, bool))
        or (isinstance(old, float) and isinstance(new, (int, float)) and not isinstance(new, bool))
        or (isinstance(old, str) and isinstance(new, str))
        or (isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)))
        # a name or a list of names (data.entities="A-1" or data.entities="['A-1','A-2']")
        or (isinstance(old, (str, list, tuple)) and isinstance(new, (str, list, tuple)))
        or (isinstance(old, dict) and isinstance(new, dict))
    )
    if not ok:
        raise ConfigError(
            f"Config key '{dotted}' expects a {type(old).__name__} (current value {old!r}), got {new!r}."
            + (" Quote strings that look like numbers, e.g. key=\"'1'\"." if isinstance(old, str) else "")
        )


def _declared_type_accepts(node: dict, key: str, name: str, value: Any) -> bool:
    """True when the component ``node`` (under config key ``key``) declares argument ``name`` with a
    type hint that ``value`` satisfies, e.g. ``vus_window: int | str`` takes ``period`` for ``100``."""
    cls = _registry_class(key, node.get("type")) if isinstance(node.get("type"), str) else None
    if cls is None or value is None:
        return False
    try:
        hint = typing.get_type_hints(cls.__init__).get(name)
    except Exception:  # noqa: BLE001  an annotation that cannot be evaluated declares nothing usable here
        return False
    allowed = tuple(t for t in (typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)) if isinstance(t, type))
    return bool(allowed) and isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)


def _registry_class(key: str, type_name: str) -> Any | None:
    for registry in COMPONENT_REGISTRIES.get(key, ()):
        if type_name in registry:
            return registry.get(type_name)
    return None


def _drop_keys_unknown_to(node: dict, key: str) -> None:
    """After ``X.type=new``, drop the old component's keys that the new one does not take."""
    cls = _registry_class(key, node["type"])
    if cls is None:
        return
    names, open_ended = accepted_params(cls)
    if not open_ended:
        for name in [k for k in node if k != "type" and k not in names]:
            del node[name]


def validate(cfg: dict) -> None:
    """Check required sections, known component names and each component's keys."""
    for key in REQUIRED_KEYS:
        if not isinstance(cfg.get(key), dict):
            raise ConfigError(f"The config has no '{key}' section (a dict); inherit configs/__base__/runtime.py and a dataset base.")
    _validate_node(cfg, "")
    _validate_run_keys(cfg)


def _validate_run_keys(cfg: dict) -> None:
    """Check the run-level keys no component constructor validates."""
    if not isinstance(cfg.get("deterministic", False), bool):
        raise ConfigError(f"deterministic={cfg['deterministic']!r}: use true or false.")
    cpu_config = cfg.get("cpu_config")
    if cpu_config is not None and not (isinstance(cpu_config, str) and (Path(cpu_config).is_file() or (REPO_ROOT / cpu_config).is_file())):
        raise ConfigError(
            f"cpu_config={cpu_config!r} is not a config file (relative paths are read from the working folder or the "
            f"repository, {REPO_ROOT}). Give the path of the CPU alternative, e.g. configs/kambaad/kambaad_smd_cpu.py, or cpu_config=none."
        )


def _validate_node(node: Any, where: str) -> None:
    if isinstance(node, dict):
        key = where.rsplit(".", 1)[-1]
        key = key if not key.isdigit() else where.rsplit(".", 2)[-2]
        registries = COMPONENT_REGISTRIES.get(key, ())
        if registries and "type" in node:
            cls = _registry_class(key, node["type"])
            if cls is None:
                registries[0].get(node["type"])  # raises the did-you-mean error
                return
            label = f"'{where}' ({registries[0].kind} '{node['type']}')"
            check_kwargs(cls, {k: v for k, v in node.items() if k != "type"}, where=label)
        for sub, value in node.items():
            _validate_node(value, f"{where}.{sub}" if where else str(sub))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _validate_node(value, f"{where}.{i}")


def dumps(cfg: dict) -> str:
    """The resolved config as a Python config file that ``load`` reads back."""
    lines = ["# Resolved config written by ssmad; run again with: python run.py -c <this file> -m ...", ""]
    for key, value in cfg.items():
        lines.append(f"{key} = {pprint.pformat(value, sort_dicts=False, width=100)}")
    return "\n".join(lines) + "\n"


def config_hash(cfg: Any) -> str:
    """A short stable hash of (part of) a config."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]
