"""UCR time-series anomaly archive (Wu and Keogh, 2021): one univariate series per file::

    root/NNN_UCR_Anomaly_<name>_<trainEnd>_<aStart>_<aEnd>.txt    one value per line

Index base: positions are read 0-based and half-open, as the common Python loaders do
(dtaianomaly, KambaAD): train = values ``[0, trainEnd)``, test = ``[trainEnd, end)``, and the
single anomaly covers ``[aStart, aEnd)`` of the whole series. (Reading the names as 1-based
inclusive would shift the labelled range by one step.) Files that hold every value on one line
are read too. ``entities="all"`` reads every file (by number); a number (``1``, ``"001"``), a
file stem, or a list picks files. Each series is one entity with one feature.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.validate import missing_data, select_entities
from util.errors import DataError
from util.registry import DATASETS

NAME = re.compile(r"^(\d+)_UCR_Anomaly_(.+)_(\d+)_(\d+)_(\d+)$")
LAYOUT = "root/NNN_UCR_Anomaly_<name>_<trainEnd>_<aStart>_<aEnd>.txt (one value per line)"


def parse_name(stem: str) -> tuple[int, int, int, int]:
    """(number, train_end, anomaly_start, anomaly_end) from a file stem."""
    match = NAME.match(stem)
    if not match:
        raise DataError(f"'{stem}' does not follow NNN_UCR_Anomaly_<name>_<trainEnd>_<aStart>_<aEnd>.")
    number, _, train_end, start, end = match.groups()
    return int(number), int(train_end), int(start), int(end)


def read_series(path: Path) -> np.ndarray:
    """All numbers of a UCR file as ``(T,)`` float64, whatever the whitespace/comma layout."""
    tokens = [t for t in re.split(r"[,\s]+", path.read_text()) if t]
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise DataError(f"{path}: '{bad}' is not a number; UCR files hold one value per line.") from None


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def entity_from_file(path: Path) -> Entity:
    """One UCR series split and labelled as the module docstring says."""
    number, train_end, start, end = parse_name(path.stem)
    series = read_series(path)
    if not 0 < train_end <= start < end <= len(series):
        raise DataError(f"{path}: trainEnd {train_end}, anomaly [{start}, {end}) do not fit a series of {len(series)} values.")
    labels = np.zeros(len(series) - train_end, dtype=np.int64)
    labels[start - train_end : end - train_end] = 1
    return Entity(path.stem, series[:train_end], series[train_end:], labels, meta={"number": number})


@DATASETS.register("ucr")
class Ucr(TimeSeriesSource):
    """UCR anomaly archive series (see module docstring)."""

    def __init__(self, root: str = "datasets/UCR", entities: str | int | list = "all", **common) -> None:
        super().__init__(**common)
        self.root, self.entities = Path(root), entities

    def _files(self) -> dict[str, Path]:
        files = sorted((p for p in self.root.glob("*_UCR_Anomaly_*.txt") if NAME.match(p.stem)), key=lambda p: parse_name(p.stem)[0])
        if not files:
            raise missing_data("ucr", self.root, LAYOUT)
        return {p.stem: p for p in files}

    def read(self) -> list[Entity]:
        files = self._files()
        by_number = {str(parse_name(stem)[0]): stem for stem in files}
        wanted = self.entities if self.entities == "all" else [self.entities] if isinstance(self.entities, (str, int)) else list(self.entities)
        if wanted != "all":
            wanted = [by_number.get(str(int(w)), str(w)) if str(w).isdigit() else str(w) for w in wanted]
        names = select_entities(list(files), wanted, f"UCR files under {self.root}")
        return [entity_from_file(files[n]) for n in names]

    def describe(self) -> str:
        return f"UCR anomaly archive ({self.root}, entities={self.entities})"
