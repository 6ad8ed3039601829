"""Write SMAP, MSL, NAB and SMD series as TSB-AD benchmark files, for ``tools/tsbad_benchmark.py``.

    python tools/make_tsbad_files.py --data ../shared/data --out /tmp/tsbad_files

Each SMAP/MSL channel (the ``smap``/``msl`` loaders' channels), each NAB series (the ``nab``
loader's split: the leading 15 % trains, NAB's labelled windows around each anomaly timestamp)
and each SMD machine (the ``smd`` loader's train and test files; domain ``Facility`` as in
TSB-AD's own SMD files) becomes ``NNN_<Dataset>_id_<k>_<Domain>_tr_<N>_1st_<M>.csv``: the training rows, then the test
rows; ``N`` = the number of training rows, ``M`` = the index of the first anomalous row; labels
are 0 on the training rows (the loaders never label them) and the loader's labels after. Columns
``Data`` (one feature) or ``Data_0 ... Data_<F-1>``, then ``Label``. Series without any
anomaly are left out (their VUS is undefined). Files are numbered in that order (SMAP, MSL, NAB,
SMD), so adding a later source never renames an earlier file. Also writes ``File_List/all.csv``
(column ``file_name``, as TSB-AD's lists), copies of the committed tuning and evaluation lists
(``benchmarks/lists/*.csv`` -> ``File_List/``) and ``manifest.csv`` (file name, source, entity).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

LISTS = REPO / "benchmarks" / "lists"  # the committed tuning and evaluation lists
# TSB-AD's domain words (its own SMD files are "Facility"); NAB's realKnownCause series by what they measure.
DOMAINS = {"SMAP": "Sensor", "MSL": "Sensor", "SMD": "Facility"}
NAB_DOMAINS = {"ambient_temperature_system_failure": "Environment", "machine_temperature_system_failure": "Sensor", "nyc_taxi": "Traffic"}
NAB_DEFAULT_DOMAIN = "WebService"


def sources(data: Path) -> list[tuple[str, list]]:
    """(dataset name, raw entities) for SMAP, MSL, NAB and SMD under ``data`` (those present), in that order."""
    from data.timeseries.nab import Nab
    from data.timeseries.smap_msl import Msl, Smap
    from data.timeseries.smd import Smd

    out = []
    if (data / "SMAP_MSL" / "labeled_anomalies.csv").is_file():
        out += [("SMAP", Smap(root=str(data / "SMAP_MSL")).read()), ("MSL", Msl(root=str(data / "SMAP_MSL")).read())]
    if (data / "NAB").is_dir():
        out.append(("NAB", Nab(root=str(data / "NAB")).read()))
    if (data / "SMD" / "train").is_dir():
        out.append(("SMD", Smd(root=str(data / "SMD")).read()))
    return out


def frame_of(train: np.ndarray, test: np.ndarray, test_labels: np.ndarray) -> pd.DataFrame:
    """Training rows then test rows, feature columns and ``Label`` (0 on the training rows)."""
    values = np.concatenate([np.asarray(train, np.float64), np.asarray(test, np.float64)])
    values = values[:, None] if values.ndim == 1 else values
    columns = ["Data"] if values.shape[1] == 1 else [f"Data_{i}" for i in range(values.shape[1])]
    frame = pd.DataFrame(values, columns=columns)
    frame["Label"] = np.concatenate([np.zeros(len(train), np.int64), np.asarray(test_labels, np.int64).ravel()])  # SMD's label files read as (T, 1)
    return frame


def series_files(data: Path) -> Iterator[tuple[str, pd.DataFrame, dict]]:
    """(file name, frame, manifest row) of every series with an anomaly, numbered in source order."""
    index = 0
    for dataset, entities in sources(data):
        k = 0
        for entity in entities:
            frame = frame_of(entity.train, entity.test, entity.test_labels)
            if not frame["Label"].any():
                print(f"{dataset} {entity.name}: no anomaly, left out", file=sys.stderr)
                continue
            index, k = index + 1, k + 1
            domain = DOMAINS.get(dataset) or NAB_DOMAINS.get(entity.name, NAB_DEFAULT_DOMAIN)
            first = int(np.argmax(frame["Label"].to_numpy() == 1))
            name = f"{index:03d}_{dataset}_id_{k}_{domain}_tr_{len(entity.train)}_1st_{first}.csv"
            yield name, frame, {"file_name": name, "dataset": dataset, "entity": entity.name, "rows": len(frame), "features": frame.shape[1] - 1}


def write_files(data: Path, out: Path) -> pd.DataFrame:
    """Write every series with an anomaly, the file lists and the manifest; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, frame, row in series_files(data):
        frame.to_csv(out / name, index=False, float_format="%.10g")
        rows.append(row)
    manifest = pd.DataFrame(rows)
    manifest.to_csv(out / "manifest.csv", index=False)
    (out / "File_List").mkdir(exist_ok=True)
    manifest[["file_name"]].to_csv(out / "File_List" / "all.csv", index=False)
    for listed in sorted(LISTS.glob("*.csv")):
        shutil.copyfile(listed, out / "File_List" / listed.name)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Write the files and print how many per dataset."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="folder with SMAP_MSL/, NAB/ and SMD/")
    parser.add_argument("--out", required=True, help="folder for the TSB-AD files (not inside the repository)")
    args = parser.parse_args(argv)
    manifest = write_files(Path(args.data), Path(args.out))
    if not len(manifest):
        print(f"No SMAP_MSL/, NAB/ or SMD/ data under {args.data}.", file=sys.stderr)
        return 2
    print(manifest.groupby("dataset")["rows"].agg(["count", "sum"]).to_string())
    print(f"wrote {len(manifest)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
