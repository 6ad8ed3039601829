"""TSB-AD files: the ``tsbad`` loader on files in TSB-AD's exact format (names, header, Label,
bad cases), the period buffer of ``evaluation.vus_window=period`` against tsb-ad's own
``find_length_rank``, and a run of ``run.py`` on TSB-AD files."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.timeseries.tsbad import TsbAd, parse_name
from data.timeseries.validate import validate_entity
from metric.timeseries.period import FALLBACK, dominant_period
from run import main
from util.errors import ConfigError, DataError


def write_tsbad(folder: Path, name: str, values: np.ndarray, labels: np.ndarray, columns: list[str] | None = None) -> Path:
    """One file as TSB-AD ships it: a header row, the feature columns, then ``Label``."""
    folder.mkdir(parents=True, exist_ok=True)
    values = values[:, None] if values.ndim == 1 else values
    frame = pd.DataFrame(values, columns=columns or (["Data"] if values.shape[1] == 1 else [f"Data_{i}" for i in range(values.shape[1])]))
    frame["Label"] = labels
    frame.to_csv(folder / name, index=False)
    return folder / name


def series(length: int, features: int, period: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    return np.sin(2 * np.pi * t / period + rng.uniform(0, 6, features)) + 0.1 * rng.normal(size=(length, features))


@pytest.fixture
def tsbad_root(tmp_path):
    """Two multivariate files and one univariate file, each with one anomaly after its training prefix."""
    for index, (name, length, features, train) in enumerate((("SMD", 400, 3, 150), ("MSL", 300, 3, 120), ("NAB", 350, 1, 200)), 1):
        labels = np.zeros(length, int)
        labels[train + 40 : train + 55] = 1
        write_tsbad(tmp_path, f"{index:03d}_{name}_id_{index}_Sensor_tr_{train}_1st_{train + 40}.csv", series(length, features, 25, index), labels)
    return tmp_path


def test_name_fields():
    name = parse_name("057_SMD_id_1_Facility_tr_4529_1st_4629.csv")
    assert (name.index, name.dataset, name.id, name.domain, name.train_length, name.first_anomaly) == (57, "SMD", "1", "Facility", 4529, 4629)
    assert parse_name("/x/y/001_CATSv2_id_3_Sensor_tr_10_1st_0.csv").dataset == "CATSv2"
    for bad in ("001_NAB_id_1_Facility_tr_1007.csv", "NAB_id_1_Facility_tr_1_1st_2.csv", "001_NAB_id_1_Facility_tr_x_1st_2.csv", "001_NAB_id_1_Facility_tr_1_1st_2.txt"):
        with pytest.raises(DataError, match="not a TSB-AD file name"):
            parse_name(bad)


def test_rows_before_tr_train_and_the_whole_series_is_scored(tsbad_root):
    first, second, third = TsbAd(root=str(tsbad_root)).read()
    assert first.name == "001_SMD_id_1_Sensor_tr_150_1st_190"
    assert first.train.shape == (150, 3) and first.test.shape == (400, 3)
    np.testing.assert_array_equal(first.test[:150], first.train)
    assert np.flatnonzero(first.test_labels).tolist() == list(range(190, 205))
    assert first.meta["first_anomaly"] == first.meta["first_labelled_anomaly"] == 190
    assert third.train.shape == (200, 1) and third.meta["dataset"] == "NAB" and third.meta["feature_names"] == ["Data"]


def test_scored_after_train_keeps_rows_from_n_on(tsbad_root):
    first = TsbAd(root=str(tsbad_root), files="001_*.csv", scored="after_train").read()[0]
    assert first.train.shape == (150, 3) and first.test.shape == (250, 3)
    assert np.flatnonzero(first.test_labels).tolist() == list(range(40, 55))
    with pytest.raises(ConfigError, match="data.scored='tail'"):
        TsbAd(root=str(tsbad_root), scored="tail")


def test_files_as_a_list_a_glob_or_a_tsb_ad_file_list(tsbad_root):
    names = lambda source: [e.name[:3] for e in source.read()]  # noqa: E731
    assert names(TsbAd(root=str(tsbad_root), files=["003_NAB_id_3_Sensor_tr_200_1st_240.csv", "001_SMD_id_1_Sensor_tr_150_1st_190.csv"])) == ["003", "001"]
    assert names(TsbAd(root=str(tsbad_root), files="*_MSL_*")) == ["002"]
    (tsbad_root / "File_List").mkdir()
    pd.DataFrame({"file_name": ["002_MSL_id_2_Sensor_tr_120_1st_160.csv", "001_SMD_id_1_Sensor_tr_150_1st_190.csv"]}).to_csv(tsbad_root / "File_List" / "Eva.csv", index=False)
    assert names(TsbAd(root=str(tsbad_root), files="File_List/Eva.csv")) == ["002", "001"]


def test_missing_files_and_empty_globs_name_what_is_missing(tsbad_root, tmp_path):
    with pytest.raises(DataError, match=r"Missing .*009_X_id_1_S_tr_1_1st_2\.csv.*python -m data\.download tsb-ad-m"):
        TsbAd(root=str(tsbad_root), files=["009_X_id_1_S_tr_1_1st_2.csv"]).read()
    with pytest.raises(DataError, match=r"No file matches data.files='\*_SMAP_\*'"):
        TsbAd(root=str(tsbad_root), files="*_SMAP_*").read()
    with pytest.raises(DataError, match=r"TSB-AD data not found.*tsb-ad-u.*python -m data\.download tsb-ad-m"):
        TsbAd(root=str(tmp_path / "nothing")).read()
    pd.DataFrame({"name": ["a.csv"]}).to_csv(tsbad_root / "list.csv", index=False)
    with pytest.raises(DataError, match="file list with a 'file_name' column"):
        TsbAd(root=str(tsbad_root), files="list.csv").read()


def test_bad_files_get_one_error_naming_the_file(tmp_path):
    values, labels = series(300, 2, 20, 0), np.zeros(300, int)
    cases = {
        "001_A_id_1_S_tr_100_1st_150.csv": (pd.DataFrame(values, columns=["a", "b"]).assign(label=labels), "has no 'Label' column"),
        "002_A_id_1_S_tr_300_1st_150.csv": (pd.DataFrame(values, columns=["a", "b"]).assign(Label=labels), r"tr_300 must lie between 1 and the series length - 1 \(299\)"),
        "003_A_id_1_S_tr_0_1st_150.csv": (pd.DataFrame(values, columns=["a", "b"]).assign(Label=labels), "tr_0 must lie"),
        "004_A_id_1_S_tr_100_1st_150.csv": (pd.DataFrame(values, columns=["a", "b"]).assign(Label=np.where(labels == 0, 2, 1)), "labels must be 0/1"),
        "005_A_id_1_S_tr_100_1st_150.csv": (pd.DataFrame({"Label": labels}), "no feature columns"),
        "006_A_id_1_S_tr_100_1st_150.csv": (pd.DataFrame(values, columns=["a", "b"]).assign(b="x", Label=labels), r"column\(s\) \['b'\] are not numeric"),
    }
    for name, (frame, message) in cases.items():
        frame.to_csv(tmp_path / name, index=False)
        source = TsbAd(root=str(tmp_path), files=[name])
        with pytest.raises(DataError, match=message) as error:
            [validate_entity(e, "error", source.describe()) for e in source.read()]
        assert name[:3] in str(error.value)
    (tmp_path / "not_a_tsbad_name.csv").write_text("a,Label\n1,0\n")
    with pytest.raises(DataError, match="not_a_tsbad_name.csv: not a TSB-AD file name"):
        TsbAd(root=str(tmp_path), files=["not_a_tsbad_name.csv"]).read()


def test_rows_with_a_missing_value_are_dropped_as_tsb_ad_does(tmp_path):
    values = series(300, 2, 20, 1)
    values[[10, 200], 1] = np.nan
    write_tsbad(tmp_path, "001_A_id_1_S_tr_100_1st_150.csv", values, np.r_[np.zeros(150, int), np.ones(10, int), np.zeros(140, int)])
    (entity,) = TsbAd(root=str(tmp_path)).read()
    assert entity.train.shape == (100, 2) and entity.test.shape == (298, 2) and np.isfinite(entity.test).all()
    (kept,) = TsbAd(root=str(tmp_path), drop_nan_rows=False).read()
    assert kept.test.shape == (300, 2) and np.isnan(kept.test).sum() == 2


# ------------------------------------------------------------ the period buffer vs tsb-ad
def generated_series() -> list[np.ndarray]:
    """Periodic, noisy, trending, constant, short and long series (including both fallback edges)."""
    rng = np.random.default_rng(16)
    t = np.arange(6000)
    out = [np.sin(2 * np.pi * t / p) + noise * rng.normal(size=len(t)) for p in (4, 6, 7, 12, 24, 50, 100, 144, 250, 303, 304, 350, 500) for noise in (0.3,)]
    out += [np.sin(2 * np.pi * np.arange(n) / 37) + 0.1 * rng.normal(size=n) for n in (4, 10, 50, 300, 402, 30_000)]
    out += [rng.normal(size=5000), np.cumsum(rng.normal(size=5000)), np.ones(500), np.r_[np.zeros(3000), np.ones(3000)]]
    out += [np.sign(np.sin(2 * np.pi * t / 60)) + 0.05 * rng.normal(size=len(t)), series(25_000, 3, 90, 7)]
    return out


def test_period_equals_tsb_ad_find_length_rank_on_generated_series():
    sliding = pytest.importorskip("TSB_AD.utils.slidingWindows", reason="tsb-ad (and statsmodels) not installed")
    cases = generated_series()
    assert len(cases) >= 20
    ours = [dominant_period(x) for x in cases]
    theirs = [int(sliding.find_length_rank(np.asarray(x, float).reshape(len(x), -1)[:, 0].reshape(-1, 1), rank=1)) for x in cases]
    assert ours == theirs
    assert FALLBACK in ours and len(set(ours)) > 8  # both the fallback and real periods are exercised


def test_period_is_the_dominant_lag_and_reads_the_first_feature():
    t = np.arange(4000)
    assert dominant_period(np.sin(2 * np.pi * t / 40)) == 40
    two = np.c_[np.sin(2 * np.pi * t / 40), np.sin(2 * np.pi * t / 90)]
    assert dominant_period(two) == 40 and dominant_period(two[:, ::-1]) == 90
    assert dominant_period(np.ones(100)) == FALLBACK


# ------------------------------------------------------------ run.py on TSB-AD files
def test_run_py_trains_on_a_tsbad_file_with_the_period_buffer(tsbad_root, tmp_path):
    import json

    run_dir = tmp_path / "run"
    argv = ["-c", "configs/baselines/zscore_csv.py", "-m", "train", f"work_dir={run_dir}", "data.type=tsbad", f"data.root={tsbad_root}",
            "data.files=001_SMD_id_1_Sensor_tr_150_1st_190.csv", "data.window=20", "evaluation.vus_window=period", "evaluation.plots=false"]
    assert main(argv) == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert results["vus_window"] == "period"
    assert results["vus_windows"]["001_SMD_id_1_Sensor_tr_150_1st_190"] == 25  # the sines' period
    assert "dominant period" in (run_dir / "results.md").read_text()
    with np.load(run_dir / "scores.npz") as stored:
        assert stored["001_SMD_id_1_Sensor_tr_150_1st_190/scores"].shape == (400,)  # the whole file is scored
    assert main([*argv[:4], f"work_dir={tmp_path / 'other'}", *argv[5:-2], "evaluation.vus_window=-3"]) == 2
