"""Secure Water Treatment (SWaT, iTrust/SUTD; licensed, request it from iTrust) as csv files::

    root/<train_file>   normal operation: [timestamp,] 51 sensors/actuators[, label]
    root/<test_file>    attack period:    [timestamp,] 51 sensors/actuators, label

Column names are compared after stripping spaces (the 2015 release writes ``" Timestamp"``).
Labels may be 0/1 or the release's ``Normal``/``Attack`` words (also ``"A ttack"``). The
training file's label column, if any, is dropped; the test file's sensors are matched to the
training file's by name. Files converted from the release's xlsx often
carry an extra title row: set ``skiprows=1``. ``delimiter`` works as for ``data.type=csv``.
"""
from __future__ import annotations

from pathlib import Path

from data.timeseries.base import TimeSeriesSource
from data.timeseries.csv import DELIMITER_NAMES, Table, read_delimited, split_frame
from data.timeseries.entity import Entity
from data.timeseries.validate import require_file
from util.registry import DATASETS

LAYOUT = "root/<train_file> (normal operation) and root/<test_file> (attacks, with a label column), csv"


@DATASETS.register("swat")
class Swat(TimeSeriesSource):
    """SWaT as one entity (see module docstring)."""

    def __init__(
        self,
        root: str = "datasets/SWaT",
        train_file: str = "SWaT_Dataset_Normal_v1.csv",
        test_file: str = "SWaT_Dataset_Attack_v0.csv",
        label_column: str = "Normal/Attack",
        timestamp_column: str | None = "Timestamp",
        skiprows: int = 0,
        delimiter: str = ",",
        **common,
    ) -> None:
        super().__init__(**common)
        self.root, self.train_file, self.test_file = Path(root), train_file, test_file
        self.label_column, self.timestamp_column, self.skiprows = label_column, timestamp_column, skiprows
        self.delimiter = DELIMITER_NAMES.get(delimiter, delimiter)

    def _split(self, name: str, require_labels: bool, features: list[str] | None) -> Table:
        path = require_file(self.root / name, "swat", self.root, LAYOUT)
        frame = read_delimited(path, self.delimiter, self.skiprows)
        return split_frame(frame, path, self.label_column, self.timestamp_column, features, require_labels)

    def read(self) -> list[Entity]:
        train = self._split(self.train_file, require_labels=False, features=None)
        test = self._split(self.test_file, require_labels=True, features=train.features)  # matched by name
        self.feature_names = train.features
        return [Entity("SWaT", train.values, test.values, test.labels, test.stamps, train_timestamps=train.stamps)]

    def describe(self) -> str:
        return f"SWaT ({self.root})"
