"""VisA layout: ``<cls>/Data/Images/{Normal,Anomaly}/*.JPG``, ``<cls>/Data/Masks/Anomaly/*.png`` and the
split file ``split_csv/1cls.csv`` (columns ``object,split,label,image,mask``; ``label`` is ``normal``
or ``anomaly``; paths relative to the root; mask pixel values are region ids, any non-zero is a defect)."""
from __future__ import annotations

import csv

from data.image.base import ClassSplit, ImageSource, Sample
from util.errors import DataError
from util.registry import DATASETS

COLUMNS = ("object", "split", "label", "image", "mask")


@DATASETS.register("visa")
class VisASource(ImageSource):
    """VisA with its one-class split file. See ``ImageSource`` for the other parameters.

    Args:
        split_csv: the split file, relative to ``root``.
    """

    def __init__(self, split_csv: str = "split_csv/1cls.csv", **kwargs) -> None:
        super().__init__(**kwargs)
        self.split_csv = self.root / split_csv
        self._rows: list[dict[str, str]] | None = None

    def rows(self) -> list[dict[str, str]]:
        """The split file's rows, checked once."""
        if self._rows is None:
            if not self.split_csv.is_file():
                raise DataError(f"VisA split file {self.split_csv} not found; set data.root to the VisA folder (it holds split_csv/1cls.csv).")
            with open(self.split_csv, newline="") as handle:
                reader = csv.DictReader(handle)
                if tuple(reader.fieldnames or ()) != COLUMNS:
                    raise DataError(f"{self.split_csv} has columns {reader.fieldnames}; expected {','.join(COLUMNS)}.")
                self._rows = list(reader)
        return self._rows

    def available_classes(self) -> list[str]:
        return sorted({row["object"] for row in self.rows()})

    def _sample(self, row: dict[str, str], line: int) -> Sample:
        if row["label"] not in ("normal", "anomaly"):
            raise DataError(f"{self.split_csv} line {line}: label '{row['label']}' is neither 'normal' nor 'anomaly'.")
        anomalous = row["label"] == "anomaly"
        path = self.root / row["image"]
        if not path.is_file():
            raise DataError(f"{self.split_csv} line {line}: image {path} does not exist.")
        if not anomalous:
            return Sample(path, row["object"], 0)
        if not row["mask"]:
            raise DataError(f"{self.split_csv} line {line}: anomalous image {row['image']} has no mask.")
        mask = self.root / row["mask"]
        if not mask.is_file():
            raise DataError(f"{self.split_csv} line {line}: mask {mask} does not exist.")
        return Sample(path, row["object"], 1, mask, "anomaly")

    def read_class(self, cls: str) -> ClassSplit:
        split = ClassSplit([], [])
        for line, row in enumerate(self.rows(), start=2):
            if row["object"] != cls:
                continue
            if row["split"] not in ("train", "test"):
                raise DataError(f"{self.split_csv} line {line}: split '{row['split']}' is neither 'train' nor 'test'.")
            sample = self._sample(row, line)
            if row["split"] == "train" and sample.label:
                raise DataError(f"{self.split_csv} line {line}: an anomalous image in the training split.")
            (split.train if row["split"] == "train" else split.test).append(sample)
        return split
