"""TSB-AD benchmark files (Liu & Paparrizos, NeurIPS 2024): TSB-AD-M and TSB-AD-U::

    root/NNN_<Dataset>_id_<k>_<Domain>_tr_<N>_1st_<M>.csv     header row, feature columns, Label
    root/File_List/TSB-AD-M-Eva.csv (optional)                 one column file_name

``N`` is the length of the training prefix and ``M`` the index of the first anomaly. Each file
is one entity named by its stem. As TSB-AD's runner does, rows with a missing value are dropped
(``drop_nan_rows``), the features are every column but ``Label``, training data are rows
``[:N]``, and the scored series is the whole file (``scored="series"``: its first N rows are
scored too); ``scored="after_train"`` scores rows ``[N:]`` only. Labels on training rows are
never used for training (``meta["labelled_train_steps"]`` counts them).

``files``: a list of file names (relative to root) or paths, a glob (``"*.csv"``, the default,
or ``"*_SMAP_*"``), or one TSB-AD file list (a csv with a ``file_name`` column, such as
``File_List/TSB-AD-M-Eva.csv``). Files of different widths cannot share one model: give them
one run each (``tools/tsbad_benchmark.py`` does).

Get them: ``python -m data.download tsb-ad-m`` (or ``tsb-ad-u``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.timeseries.base import TimeSeriesSource
from data.timeseries.csv import label_values
from data.timeseries.entity import Entity
from data.timeseries.validate import missing_data, numeric_values, read_table
from util.errors import ConfigError, DataError
from util.registry import DATASETS

NAME = re.compile(r"^(?P<index>\d+)_(?P<dataset>.+)_id_(?P<id>[^_]+)_(?P<domain>[^_]+)_tr_(?P<train>\d+)_1st_(?P<first>\d+)\.csv$")
NAME_FORMAT = "NNN_<Dataset>_id_<k>_<Domain>_tr_<N>_1st_<M>.csv"
LAYOUT = f"root/{NAME_FORMAT} (header, feature columns, Label) and optionally root/File_List/*.csv (column file_name); the univariate set is tsb-ad-u"
LABEL = "Label"
SCORED = ("series", "after_train")


@dataclass(frozen=True)
class TsbAdName:
    """The fields of a TSB-AD file name."""

    index: int
    dataset: str
    id: str
    domain: str
    train_length: int
    first_anomaly: int


def parse_name(path: Path | str) -> TsbAdName:
    """The fields of ``NNN_<Dataset>_id_<k>_<Domain>_tr_<N>_1st_<M>.csv``; a ``DataError`` otherwise."""
    match = NAME.match(Path(path).name)
    if match is None:
        raise DataError(f"{path}: not a TSB-AD file name; expected {NAME_FORMAT} (e.g. 001_NAB_id_1_Facility_tr_1007_1st_2014.csv).")
    g = match.groupdict()
    return TsbAdName(int(g["index"]), g["dataset"], g["id"], g["domain"], int(g["train"]), int(g["first"]))


def read_file(path: Path, drop_nan_rows: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(values ``(T, F)`` float64, labels ``(T,)`` int64, feature names) of one TSB-AD file."""
    frame = read_table(path)
    frame = frame.rename(columns=lambda c: str(c).strip())
    if LABEL not in frame.columns:
        raise DataError(f"{path} has no '{LABEL}' column (TSB-AD files end with one); its columns are {list(frame.columns)[:12]}.")
    if drop_nan_rows:
        frame = frame.dropna()
    features = [c for c in frame.columns if c != LABEL]
    if not features:
        raise DataError(f"{path} has no feature columns besides '{LABEL}'.")
    if not len(frame):
        raise DataError(f"{path} has no rows{' without missing values' if drop_nan_rows else ''}.")
    return numeric_values(frame[features], path), np.asarray(label_values(frame[LABEL], path)), features


def resolve_files(root: Path, files: str | list[str]) -> list[Path]:
    """The TSB-AD files that ``files`` names (see module docstring), in order, each existing."""
    if isinstance(files, str):
        candidate = root / files if not Path(files).is_absolute() else Path(files)
        if candidate.suffix == ".csv" and candidate.is_file() and NAME.match(candidate.name) is None:
            listed = read_table(candidate)
            if "file_name" not in listed.columns:
                raise DataError(f"{candidate} is neither a TSB-AD file ({NAME_FORMAT}) nor a file list with a 'file_name' column.")
            files = [str(f) for f in listed["file_name"]]
        elif any(ch in files for ch in "*?["):
            found = sorted(p for p in root.glob(files) if p.is_file() and p.suffix == ".csv")
            if not found:
                raise missing_data("tsb-ad", root, LAYOUT, detail=f"No file matches data.files='{files}'.")
            return found
        else:
            files = [files]
    if not files:
        raise ConfigError("data.files is empty; give file names, a glob such as '*.csv', or a TSB-AD File_List csv.")
    paths = [Path(f) if Path(f).is_absolute() else root / f for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise missing_data("tsb-ad", root, LAYOUT, detail=f"Missing {shown}.")
    return paths


@DATASETS.register("tsbad")
class TsbAd(TimeSeriesSource):
    """TSB-AD files, one entity each (see module docstring).

    Args:
        root: folder of the files.
        files: list, glob or TSB-AD file list (see module docstring).
        scored: ``series`` (the whole file, TSB-AD's protocol) or ``after_train`` (rows ``[N:]``).
        drop_nan_rows: drop rows with a missing value before splitting, as TSB-AD does.
    """

    def __init__(self, root: str = "datasets/TSB-AD-M", files: str | list[str] = "*.csv", scored: str = "series", drop_nan_rows: bool = True, **common) -> None:
        super().__init__(**common)
        if scored not in SCORED:
            raise ConfigError(f"data.scored='{scored}' is unknown; use series (the whole file, as TSB-AD scores it) or after_train (rows [N:]).")
        self.root, self.files, self.scored, self.drop_nan_rows = Path(root), files, scored, drop_nan_rows

    def read(self) -> list[Entity]:
        if not self.root.is_dir():
            raise missing_data("tsb-ad", self.root, LAYOUT)
        entities = [self._entity(path) for path in resolve_files(self.root, self.files)]
        self.feature_names = entities[0].meta["feature_names"]
        return entities

    def _entity(self, path: Path) -> Entity:
        name = parse_name(path)
        values, labels, features = read_file(path, self.drop_nan_rows)
        n = name.train_length
        if not 0 < n < len(values):
            raise DataError(f"{path}: the name's training length tr_{n} must lie between 1 and the series length - 1 ({len(values) - 1}).")
        first = int(np.argmax(labels == 1)) if (labels == 1).any() else None
        meta = {
            "dataset": name.dataset, "domain": name.domain, "train_length": n, "first_anomaly": name.first_anomaly,
            "first_labelled_anomaly": first, "labelled_train_steps": int((labels[:n] == 1).sum()), "scored": self.scored, "feature_names": features,
        }
        start = 0 if self.scored == "series" else n
        return Entity(path.stem, values[:n], values[start:], labels[start:], meta=meta)

    def describe(self) -> str:
        return f"TSB-AD ({self.root}, files={self.files}, scored={self.scored})"
