"""NASA SMAP and MSL telemetry (Hundman et al., KDD 2018) in the telemanom layout::

    root/labeled_anomalies.csv      chan_id, spacecraft, anomaly_sequences, class, num_values
    root/train/<chan>.npy           (time, dims) float; column 0 is the telemetry value
    root/test/<chan>.npy            (time', dims); SMAP has 25 dims, MSL 55

``anomaly_sequences`` are inclusive ``[start, end]`` index pairs into the test series.

``entities="all"`` takes every channel of the spacecraft in csv order, as separate entities
trained by one model (the joint model of the common "concatenated" form, without windows that
cross channel boundaries). The csv lists SMAP channel P-2 twice with different sequences; as in
the OmniAnomaly preprocessing behind the widely used concatenated arrays (SMAP 135183 train /
427617 test steps, MSL 58317 / 73729), "all" leaves such duplicated channels out. Naming one
(``entities="P-2"``) reads it with the union of its sequences. A channel name (``"A-1"``) or a
list picks channels. Files on disk that the csv does not list (T-10) are ignored: they have no
labels. ``num_values`` is not trusted; the test file's length is.

Column 0 is the telemetry value and the others are command one-hots; the anomaly labels describe
the telemetry (telemanom predicts and scores it alone, with the commands as inputs), so these
datasets declare ``label_features=[0]`` for ``evaluation.score_features=labelled``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.validate import missing_data, read_table, select_entities
from util.errors import ConfigError, DataError
from util.registry import DATASETS

SPACECRAFT = ("SMAP", "MSL")
TELEMETRY = [0]  # the feature the labels describe
LAYOUT = "root/labeled_anomalies.csv, root/train/<chan>.npy, root/test/<chan>.npy"


def sequence_labels(sequences: list[str], length: int, where: str) -> np.ndarray:
    """``(length,)`` int64 0/1 labels from csv strings of inclusive ``[start, end]`` pairs."""
    labels = np.zeros(length, dtype=np.int64)
    for text in sequences:
        try:
            pairs = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise DataError(f"{where}: anomaly_sequences {text!r} is not a list of [start, end] pairs.") from None
        for start, end in pairs:
            if not 0 <= start <= end < length:
                raise DataError(f"{where}: anomaly sequence [{start}, {end}] lies outside the {length} test steps.")
            labels[start : end + 1] = 1
    return labels


@DATASETS.register("smap_msl")
class SmapMsl(TimeSeriesSource):
    """SMAP or MSL channels (see module docstring)."""

    def __init__(self, root: str = "datasets/SMAP_MSL", spacecraft: str = "SMAP", entities: str | list[str] = "all", label_features: list[int] | None = TELEMETRY, **common) -> None:
        super().__init__(label_features=label_features, **common)
        if spacecraft not in SPACECRAFT:
            raise ConfigError(f"data.spacecraft='{spacecraft}' is unknown; use SMAP or MSL.")
        self.root, self.spacecraft, self.entities = Path(root), spacecraft, entities

    def _table(self) -> pd.DataFrame:
        csv = self.root / "labeled_anomalies.csv"
        if not csv.is_file():
            raise missing_data(self.spacecraft.lower(), self.root, LAYOUT, detail=f"Missing {csv}.")
        table = read_table(csv)
        needed = {"chan_id", "spacecraft", "anomaly_sequences"} - set(table.columns)
        if needed:
            raise DataError(f"{csv} lacks the column(s) {sorted(needed)}; expected chan_id, spacecraft, anomaly_sequences, class, num_values.")
        return table[table["spacecraft"] == self.spacecraft]

    def _names(self, table: pd.DataFrame) -> list[str]:
        counts = table["chan_id"].value_counts()
        if self.entities == "all":
            return [c for c in dict.fromkeys(table["chan_id"]) if counts[c] == 1]
        return select_entities(list(dict.fromkeys(table["chan_id"])), self.entities, f"{self.spacecraft} channels of {self.root / 'labeled_anomalies.csv'}")

    def read(self) -> list[Entity]:
        table = self._table()
        names = self._names(table)
        files = {n: (self.root / "train" / f"{n}.npy", self.root / "test" / f"{n}.npy") for n in names}
        missing = [str(f) for pair in files.values() for f in pair if not f.is_file()]
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise missing_data(self.spacecraft.lower(), self.root, LAYOUT, detail=f"Missing {shown}.")
        out = []
        for name, (train_file, test_file) in files.items():
            rows = table[table["chan_id"] == name]
            test = np.load(test_file)
            labels = sequence_labels(list(rows["anomaly_sequences"]), len(test), f"{self.root / 'labeled_anomalies.csv'}, channel {name}")
            meta = {"spacecraft": self.spacecraft, "csv_rows": len(rows)}
            out.append(Entity(name, np.load(train_file), test, labels, meta=meta))
        return out

    def describe(self) -> str:
        return f"{self.spacecraft} ({self.root}, entities={self.entities})"


@DATASETS.register("smap")
class Smap(SmapMsl):
    """SMAP channels (25 dims)."""

    def __init__(self, root: str = "datasets/SMAP_MSL", entities: str | list[str] = "all", **common) -> None:
        super().__init__(root=root, spacecraft="SMAP", entities=entities, **common)


@DATASETS.register("msl")
class Msl(SmapMsl):
    """MSL channels (55 dims)."""

    def __init__(self, root: str = "datasets/SMAP_MSL", entities: str | list[str] = "all", **common) -> None:
        super().__init__(root=root, spacecraft="MSL", entities=entities, **common)
