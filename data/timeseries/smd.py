"""Server Machine Dataset (Su et al., OmniAnomaly, KDD 2019), in its published layout::

    root/train/machine-<g>-<i>.txt        (time, 38) comma-separated, no header
    root/test/machine-<g>-<i>.txt         (time', 38)
    root/test_label/machine-<g>-<i>.txt   (time',) 0/1
    root/interpretation_label/machine-<g>-<i>.txt   optional: per anomaly segment, the dimensions
                                                    marked as its cause (``start-end:d1,d2,...``)

``entities="all"`` reads every machine found in ``root/train`` (28 in the full set) as separate
entities in natural order (1-1, 1-2, ..., 3-11); a name (``"machine-1-1"``) or a list picks machines.

``entity.meta["interpretation"]`` holds a machine's interpretation labels as ``Segment`` tuples
(what ``metric.timeseries.interpretation.hitrate`` takes), or None without its file. In the published
files ``start-end`` is a Python slice of the test series (``test_label[start:end]`` is the
labelled segment: ``start`` 0-based inclusive, ``end`` exclusive) and the dimensions are 1-based;
a ``Segment`` holds the same slice and 0-based feature indices.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.validate import missing_data, numeric_values, read_table, require_file, select_entities
from util.errors import DataError
from util.registry import DATASETS

LAYOUT = "root/{train,test,test_label}/machine-<g>-<i>.txt (comma-separated, no header)"


INTERPRETATION_LINE = re.compile(r"(\d+)-(\d+):(\d+(?:,\d+)*)")


class Segment(NamedTuple):
    """One interpretation label: test rows ``start:end`` (0-based, end exclusive), 0-based feature indices."""

    start: int
    end: int
    dims: tuple[int, ...]


def _segment(line: str) -> Segment | None:
    """The segment of one ``start-end:d1,d2,...`` line, or None when it is not one."""
    match = INTERPRETATION_LINE.fullmatch(line.strip())
    if not match:
        return None
    start, end, dims = int(match[1]), int(match[2]), [int(d) for d in match[3].split(",")]
    if start >= end or min(dims) < 1 or len(set(dims)) != len(dims):
        return None
    return Segment(start, end, tuple(d - 1 for d in dims))


def read_interpretation(path: Path) -> list[Segment]:
    """The segments of one ``interpretation_label`` file (see module docstring); blank lines are skipped."""
    segments = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        segment = _segment(line)
        if segment is None:
            raise DataError(
                f"{path}, line {number}: {line.strip()!r} is not an interpretation label; expected 'start-end:d1,d2,...' "
                "with start < end (test rows start:end) and distinct 1-based dimensions. Fix or remove the line."
            )
        segments.append(segment)
    return segments


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@DATASETS.register("smd")
class Smd(TimeSeriesSource):
    """SMD machines (see module docstring)."""

    def __init__(self, root: str = "datasets/SMD", entities: str | list[str] = "all", **common) -> None:
        super().__init__(**common)
        self.root, self.entities = Path(root), entities

    def _read(self, split: str, name: str) -> np.ndarray:
        path = require_file(self.root / split / f"{name}.txt", "smd", self.root, LAYOUT)
        return numeric_values(read_table(path, header=None), path)

    def read(self) -> list[Entity]:
        if not (self.root / "train").is_dir():
            raise missing_data("smd", self.root, LAYOUT)
        available = sorted((p.stem for p in (self.root / "train").glob("*.txt")), key=_natural_key)
        names = select_entities(available, self.entities, f"SMD machines under {self.root / 'train'}")
        out = []
        for name in names:
            labels = self.root / "interpretation_label" / f"{name}.txt"
            meta = {"interpretation": read_interpretation(labels) if labels.is_file() else None}
            out.append(Entity(name, self._read("train", name), self._read("test", name), self._read("test_label", name), meta=meta))
        return out

    def describe(self) -> str:
        return f"SMD ({self.root}, entities={self.entities})"
