"""Registration imports that tolerate a missing optional package (timm, mamba-ssm, ...)."""
from __future__ import annotations

import importlib

# module -> the optional package it needs but could not import
DISABLED: dict[str, str] = {}


def optional_import(module: str, requires: str) -> bool:
    """Import ``module`` for its registrations; if ``requires`` is not installed, record that
    ``module`` is disabled instead of failing (any other import error still raises)."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != requires:
            raise
        DISABLED[module] = requires
        return False
    return True
