"""Write SMAP, MSL and NAB series as TSB-AD benchmark files, for ``tools/tsbad_benchmark.py``.

    python tools/make_tsbad_files.py --data ../shared/data --out /tmp/tsbad_files

Each SMAP/MSL channel (the ``smap``/``msl`` loaders' channels) and each NAB series (the ``nab``
loader's split: the leading 15 % trains, NAB's labelled windows around each anomaly timestamp)
becomes ``NNN_<Dataset>_id_<k>_<Domain>_tr_<N>_1st_<M>.csv``: the training rows, then the test
rows; ``N`` = the number of training rows, ``M`` = the index of the first anomalous row; labels
are 0 on the training rows (the loaders never label them) and the loader's labels after. Columns
``Data`` (one feature) or ``Data_0 ... Data_<F-1>``, then ``Label``. Series without any
anomaly are left out (their VUS is undefined). Also writes ``File_List/all.csv`` (column
``file_name``, as TSB-AD's lists) and ``manifest.csv`` (file name, source dataset, entity).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# TSB-AD's domain words; NAB's realKnownCause series by what they measure.
DOMAINS = {"SMAP": "Sensor", "MSL": "Sensor"}
NAB_DOMAINS = {"ambient_temperature_system_failure": "Environment", "machine_temperature_system_failure": "Sensor", "nyc_taxi": "Traffic"}
NAB_DEFAULT_DOMAIN = "WebService"


def sources(data: Path) -> list[tuple[str, list]]:
    """(dataset name, raw entities) for SMAP, MSL and NAB under ``data`` (those present)."""
    from data.timeseries.nab import Nab
    from data.timeseries.smap_msl import Msl, Smap

    out = []
    if (data / "SMAP_MSL" / "labeled_anomalies.csv").is_file():
        out += [("SMAP", Smap(root=str(data / "SMAP_MSL")).read()), ("MSL", Msl(root=str(data / "SMAP_MSL")).read())]
    if (data / "NAB").is_dir():
        out.append(("NAB", Nab(root=str(data / "NAB")).read()))
    return out


def frame_of(train: np.ndarray, test: np.ndarray, test_labels: np.ndarray) -> pd.DataFrame:
    """Training rows then test rows, feature columns and ``Label`` (0 on the training rows)."""
    values = np.concatenate([np.asarray(train, np.float64), np.asarray(test, np.float64)])
    values = values[:, None] if values.ndim == 1 else values
    columns = ["Data"] if values.shape[1] == 1 else [f"Data_{i}" for i in range(values.shape[1])]
    frame = pd.DataFrame(values, columns=columns)
    frame["Label"] = np.concatenate([np.zeros(len(train), np.int64), np.asarray(test_labels, np.int64)])
    return frame


def write_files(data: Path, out: Path) -> pd.DataFrame:
    """Write every series with an anomaly; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    rows, index = [], 0
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
            frame.to_csv(out / name, index=False, float_format="%.10g")
            rows.append({"file_name": name, "dataset": dataset, "entity": entity.name, "rows": len(frame), "features": frame.shape[1] - 1})
    manifest = pd.DataFrame(rows)
    manifest.to_csv(out / "manifest.csv", index=False)
    (out / "File_List").mkdir(exist_ok=True)
    manifest[["file_name"]].to_csv(out / "File_List" / "all.csv", index=False)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Write the files and print how many per dataset."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="folder with SMAP_MSL/ and NAB/")
    parser.add_argument("--out", required=True, help="folder for the TSB-AD files (not inside the repository)")
    args = parser.parse_args(argv)
    manifest = write_files(Path(args.data), Path(args.out))
    if not len(manifest):
        print(f"No SMAP_MSL/ or NAB/ data under {args.data}.", file=sys.stderr)
        return 2
    print(manifest.groupby("dataset")["rows"].agg(["count", "sum"]).to_string())
    print(f"wrote {len(manifest)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
