"""Folders a command creates, and their removal when the command fails before writing anything of value."""
from __future__ import annotations

import shutil
from pathlib import Path


def unused_path(base: Path | str) -> Path:
    """``base``, or ``base-1``, ``base-2``, ... : the first that does not exist yet."""
    base = Path(base)
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
    return candidate


def missing_folders(path: Path | str) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first (what creating it adds)."""
    path = Path(path)
    return [folder for folder in (path, *path.parents) if not folder.exists()]


def remove_created(created: list[Path]) -> None:
    """Undo ``missing_folders``: the deepest folder with its contents, then each parent left empty."""
    if not created:
        return
    shutil.rmtree(created[0], ignore_errors=True)
    for folder in created[1:]:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
