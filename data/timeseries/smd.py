"""Server Machine Dataset (Su et al., OmniAnomaly, KDD 2019), in its published layout::

    root/train/machine-<g>-<i>.txt        (time, 38) comma-separated, no header
    root/test/machine-<g>-<i>.txt         (time', 38)
    root/test_label/machine-<g>-<i>.txt   (time',) 0/1

``entities="all"`` reads every machine found in ``root/train`` (28 in the full set) as separate
entities in natural order (1-1, 1-2, ..., 3-11); a name (``"machine-1-1"``) or a list picks machines.
"""
from __future__ import annotations

import re
from pathlib import Path

from data.timeseries.base import Entity, TimeSeriesSource
from data.timeseries.validate import missing_data, numeric_values, read_table, require_file, select_entities
from util.registry import DATASETS

LAYOUT = "root/{train,test,test_label}/machine-<g>-<i>.txt (comma-separated, no header)"


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@DATASETS.register("smd")
class Smd(TimeSeriesSource):
    """SMD machines (see module docstring)."""

    def __init__(self, root: str = "datasets/SMD", entities: str | list[str] = "all", **common) -> None:
        super().__init__(**common)
        self.root, self.entities = Path(root), entities

    def _read(self, split: str, name: str):
        path = require_file(self.root / split / f"{name}.txt", "smd", self.root, LAYOUT)
        return numeric_values(read_table(path, header=None), path)

    def read(self) -> list[Entity]:
        if not (self.root / "train").is_dir():
            raise missing_data("smd", self.root, LAYOUT)
        available = sorted((p.stem for p in (self.root / "train").glob("*.txt")), key=_natural_key)
        names = select_entities(available, self.entities, f"SMD machines under {self.root / 'train'}")
        out = []
        for name in names:
            out.append(Entity(name, self._read("train", name), self._read("test", name), self._read("test_label", name)))
        return out

    def describe(self) -> str:
        return f"SMD ({self.root}, entities={self.entities})"
