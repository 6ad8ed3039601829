"""NASA SMAP and MSL telemetry (Hundman et al., KDD 2018) in the telemanom layout::

    root/labeled_anomalies.csv      chan_id, spacecraft, anomaly_sequences, class, num_values
    root/train/<chan>.npy           (time, dims) float; column 0 is the telemetry value
    root/test/<chan>.npy

``anomaly_sequences`` are inclusive ``[start, end]`` index pairs into the test series. The csv lists
SMAP channel P-2 twice with different sequences; the channel is read once with the union of both.
``entities="all"`` takes every channel of the spacecraft in csv order (the joint model of the
common "concatenated" form, without windows that cross channel boundaries); a channel name
(``"A-1"``) or a list picks channels.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from data.timeseries.base import Entity, TimeSeriesSource
from util.errors import ConfigError, DataError
from util.registry import DATASETS

SPACECRAFT = ("SMAP", "MSL")


def missing_data_message(root: Path, name: str) -> str:
    """How to get the data when ``root`` lacks it."""
    return (
        f"{name} data not found under {root}. Download it with: python -m data.download smap_msl --root {root} "
        f"(or point data.root at a folder with labeled_anomalies.csv, train/<chan>.npy and test/<chan>.npy)."
    )


def select_entities(available: list[str], entities: str | list[str], what: str) -> list[str]:
    """Resolve ``"all"``, one name or a list of names against ``available`` (order kept)."""
    if entities == "all":
        return available
    wanted = [entities] if isinstance(entities, str) else list(entities)
    unknown = [e for e in wanted if e not in available]
    if unknown:
        raise ConfigError(f"data.entities: {unknown} not in {what}; available: {', '.join(available[:30])}{' ...' if len(available) > 30 else ''}.")
    return wanted


@DATASETS.register("smap_msl")
class SmapMsl(TimeSeriesSource):
    """SMAP or MSL channels (see module docstring)."""

    def __init__(self, root: str = "datasets/SMAP_MSL", spacecraft: str = "SMAP", entities: str | list[str] = "all", **common) -> None:
        super().__init__(**common)
        if spacecraft not in SPACECRAFT:
            raise ConfigError(f"data.spacecraft='{spacecraft}' is unknown; use SMAP or MSL.")
        self.root, self.spacecraft, self.entities = Path(root), spacecraft, entities

    def _table(self) -> pd.DataFrame:
        csv = self.root / "labeled_anomalies.csv"
        if not csv.is_file():
            raise DataError(missing_data_message(self.root, self.spacecraft))
        table = pd.read_csv(csv)
        table = table[table["spacecraft"] == self.spacecraft]
        return table[[(self.root / "test" / f"{c}.npy").is_file() for c in table["chan_id"]]]

    def read(self) -> list[Entity]:
        table = self._table()
        available = list(dict.fromkeys(table["chan_id"]))
        names = select_entities(available, self.entities, f"{self.spacecraft} channels under {self.root}")
        out = []
        for name in names:
            rows = table[table["chan_id"] == name]
            train_file, test_file = self.root / "train" / f"{name}.npy", self.root / "test" / f"{name}.npy"
            if not train_file.is_file():
                raise DataError(f"Missing {train_file}; {missing_data_message(self.root, self.spacecraft)}")
            test = np.load(test_file)
            labels = np.zeros(len(test), dtype=np.int64)
            for sequences in rows["anomaly_sequences"]:
                for start, end in ast.literal_eval(sequences):
                    labels[start : end + 1] = 1
            out.append(Entity(name, np.load(train_file), test, labels))
        return out

    def describe(self) -> str:
        return f"{self.spacecraft} ({self.root}, entities={self.entities})"


@DATASETS.register("smap")
class Smap(SmapMsl):
    """SMAP channels."""

    def __init__(self, root: str = "datasets/SMAP_MSL", entities: str | list[str] = "all", **common) -> None:
        super().__init__(root=root, spacecraft="SMAP", entities=entities, **common)


@DATASETS.register("msl")
class Msl(SmapMsl):
    """MSL channels."""

    def __init__(self, root: str = "datasets/SMAP_MSL", entities: str | list[str] = "all", **common) -> None:
        super().__init__(root=root, spacecraft="MSL", entities=entities, **common)
