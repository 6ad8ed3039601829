"""NeurIPS-TS benchmark sets (Lai et al., NeurIPS 2021) as distributed by DCdetector and KambaAD.

Two layouts are read, the first that exists wins::

    root/<PREFIX>_train.npy, root/<PREFIX>_test.npy, root/<PREFIX>_test_label.npy   (DCdetector)
    root/<PREFIX>/train.npy, root/<PREFIX>/test.npy, root/<PREFIX>/labels.npy       (KambaAD zips; python -m data.download)

Presets (``name``) and their file prefixes: ``swan`` NIPS_TS_Swan (38 dims), ``gecco``
NIPS_TS_Water (9 dims; DCdetector's name for GECCO, ``NIPS_TS_GECCO`` also tried), ``ccard``
NIPS_TS_CCard, ``mulvar`` NIPS_TS_Syn_Mulvar (also ``NIPS_TS_Mulvar``). ``prefix`` overrides the
preset's names. Each set is one entity.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.validate import missing_data
from util.errors import ConfigError, DataError
from util.registry import DATASETS

PREFIXES = {
    "swan": ("NIPS_TS_Swan",),
    "gecco": ("NIPS_TS_Water", "NIPS_TS_GECCO"),
    "ccard": ("NIPS_TS_CCard",),
    "mulvar": ("NIPS_TS_Syn_Mulvar", "NIPS_TS_Mulvar"),
}


def layouts(root: Path, prefix: str) -> list[tuple[Path, Path, Path]]:
    """Candidate (train, test, labels) file triples for ``prefix`` under ``root``, in search order."""
    return [
        (root / f"{prefix}_train.npy", root / f"{prefix}_test.npy", root / f"{prefix}_test_label.npy"),
        (root / prefix / "train.npy", root / prefix / "test.npy", root / prefix / "labels.npy"),
    ]


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DataError(f"Cannot read {path} as a .npy array: {error}.") from None


@DATASETS.register("nips_ts")
class NipsTs(TimeSeriesSource):
    """One NeurIPS-TS set (see module docstring)."""

    def __init__(self, root: str = "datasets/NIPS_TS", name: str = "swan", prefix: str | None = None, **common) -> None:
        super().__init__(**common)
        if name not in PREFIXES:
            raise ConfigError(f"data.name='{name}' is unknown; use one of {', '.join(PREFIXES)} (or set data.prefix).")
        self.root, self.name = Path(root), name
        self.prefixes = (prefix,) if prefix else PREFIXES[name]

    def read(self) -> list[Entity]:
        candidates = [triple for p in self.prefixes for triple in layouts(self.root, p)]
        for train, test, labels in candidates:
            if train.is_file() or test.is_file():
                for path in (train, test, labels):
                    if not path.is_file():
                        raise missing_data(self.name, self.root, " or ".join(str(t[0].name) for t in candidates), detail=f"Missing {path}.")
                return [Entity(self.prefixes[0], _load(train), _load(test), _load(labels))]
        layout = "; ".join(f"{a.relative_to(self.root)}, {b.relative_to(self.root)}, {c.relative_to(self.root)}" for a, b, c in candidates)
        raise missing_data(self.name, self.root, layout)

    def describe(self) -> str:
        return f"NIPS-TS {self.name} ({self.root})"


def _preset(name: str) -> type:
    class Preset(NipsTs):
        def __init__(self, root: str = "datasets/NIPS_TS", prefix: str | None = None, **common) -> None:
            super().__init__(root=root, name=name, prefix=prefix, **common)

    Preset.__name__ = Preset.__qualname__ = f"NipsTs{name.capitalize()}"
    Preset.__doc__ = f"The NeurIPS-TS '{name}' set."
    return DATASETS.register(name)(Preset)


for _name in PREFIXES:
    _preset(_name)
