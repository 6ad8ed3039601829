"""Time-series loaders on small files written in each community's exact layout, the real
SMAP/MSL and NAB files when ../shared/data exists, and entity validation."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.timeseries.csv import CsvSource
from data.timeseries.entity import Entity
from data.timeseries.nab import Nab
from data.timeseries.nips_ts import NipsTs
from data.timeseries.psm import Psm
from data.timeseries.smap_msl import Msl, Smap
from data.timeseries.smd import Smd
from data.timeseries.swat import Swat
from data.timeseries.ucr import Ucr
from data.timeseries.validate import validate_entity
from util.errors import ConfigError, DataError
from util.logging import get_logger

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
RNG = np.random.default_rng(0)


def clean(source):
    """Read and validate every entity, as the pipeline does."""
    return [validate_entity(e, source.nan_policy, source.describe()) for e in source.read()]


# ---------------------------------------------------------------- SMD
@pytest.fixture
def smd_root(tmp_path):
    for name, length in (("machine-1-1", 60), ("machine-1-10", 50), ("machine-1-2", 40), ("machine-2-1", 30)):
        for split in ("train", "test"):
            (tmp_path / split).mkdir(exist_ok=True)
            np.savetxt(tmp_path / split / f"{name}.txt", RNG.random((length, 38)), fmt="%.6f", delimiter=",")
        (tmp_path / "test_label").mkdir(exist_ok=True)
        labels = np.zeros(length, int)
        labels[10:15] = 1
        np.savetxt(tmp_path / "test_label" / f"{name}.txt", labels, fmt="%d", delimiter=",")
    return tmp_path


def test_smd_reads_all_machines_in_natural_order(smd_root):
    entities = clean(Smd(root=str(smd_root)))
    assert [e.name for e in entities] == ["machine-1-1", "machine-1-2", "machine-1-10", "machine-2-1"]
    first = entities[0]
    assert first.train.shape == (60, 38) and first.test.shape == (60, 38) and first.train.dtype == np.float32
    assert first.test_labels.tolist() == [0] * 10 + [1] * 5 + [0] * 45


def test_smd_picks_one_machine_or_a_list(smd_root):
    assert [e.name for e in Smd(root=str(smd_root), entities="machine-2-1").read()] == ["machine-2-1"]
    assert [e.name for e in Smd(root=str(smd_root), entities=["machine-1-2", "machine-1-1"]).read()] == ["machine-1-2", "machine-1-1"]
    with pytest.raises(ConfigError, match="machine-9-9"):
        Smd(root=str(smd_root), entities="machine-9-9").read()


def test_smd_missing_data_prints_the_download_command(tmp_path):
    with pytest.raises(DataError, match=r"python -m data\.download smd --root .*nothing"):
        Smd(root=str(tmp_path / "nothing")).read()


def test_smd_missing_label_file_names_it(smd_root):
    (smd_root / "test_label" / "machine-1-2.txt").unlink()
    with pytest.raises(DataError, match=r"test_label/machine-1-2\.txt"):
        Smd(root=str(smd_root)).read()


# ---------------------------------------------------------------- SMAP / MSL
@pytest.fixture
def telemanom_root(tmp_path):
    rows = [
        ("A-1", "SMAP", "[[5, 9]]", 40, 25),
        ("P-2", "SMAP", "[[20, 24]]", 40, 25),
        ("B-1", "SMAP", "[[0, 0], [38, 39]]", 40, 25),
        ("P-2", "SMAP", "[[22, 30]]", 40, 25),
        ("M-1", "MSL", "[[3, 4]]", 999, 55),  # num_values deliberately wrong: the file's length wins
    ]
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    for chan, _, _, _, dims in rows:
        np.save(tmp_path / "train" / f"{chan}.npy", RNG.random((50, dims)))
        np.save(tmp_path / "test" / f"{chan}.npy", RNG.random((40, dims)))
    table = pd.DataFrame(
        [(c, s, q, "[point]", n) for c, s, q, n, _ in rows], columns=["chan_id", "spacecraft", "anomaly_sequences", "class", "num_values"]
    )
    table.to_csv(tmp_path / "labeled_anomalies.csv", index=False)
    return tmp_path


def test_smap_all_skips_channels_listed_twice_and_labels_are_inclusive(telemanom_root):
    entities = clean(Smap(root=str(telemanom_root)))
    assert [e.name for e in entities] == ["A-1", "B-1"]
    assert np.flatnonzero(entities[0].test_labels).tolist() == [5, 6, 7, 8, 9]
    assert np.flatnonzero(entities[1].test_labels).tolist() == [0, 38, 39]
    assert entities[0].train.shape == (50, 25)


def test_smap_named_duplicate_channel_gets_the_union_of_its_rows(telemanom_root):
    (p2,) = Smap(root=str(telemanom_root), entities="P-2").read()
    assert np.flatnonzero(p2.test_labels).tolist() == list(range(20, 31))


def test_msl_uses_file_length_not_num_values(telemanom_root):
    (m1,) = clean(Msl(root=str(telemanom_root)))
    assert m1.test.shape == (40, 55) and m1.test_labels.sum() == 2


def test_smap_missing_channel_file_is_named(telemanom_root):
    (telemanom_root / "test" / "B-1.npy").unlink()
    with pytest.raises(DataError, match=r"test/B-1\.npy.*python -m data\.download smap_msl"):
        Smap(root=str(telemanom_root), entities=["A-1", "B-1"]).read()


def test_smap_sequence_outside_the_test_series_is_an_error(telemanom_root):
    table = pd.read_csv(telemanom_root / "labeled_anomalies.csv")
    table.loc[0, "anomaly_sequences"] = "[[30, 45]]"
    table.to_csv(telemanom_root / "labeled_anomalies.csv", index=False)
    with pytest.raises(DataError, match=r"A-1.*\[30, 45\]"):
        Smap(root=str(telemanom_root), entities="A-1").read()


def test_unknown_spacecraft_and_channel(telemanom_root):
    from data.timeseries.smap_msl import SmapMsl

    with pytest.raises(ConfigError, match="spacecraft"):
        SmapMsl(root=str(telemanom_root), spacecraft="Voyager")
    with pytest.raises(ConfigError, match="Z-9"):
        Smap(root=str(telemanom_root), entities="Z-9").read()


@pytest.mark.skipif(not (SHARED / "SMAP_MSL").is_dir(), reason="../shared/data/SMAP_MSL not present")
def test_real_smap_and_msl_match_the_community_shapes():
    smap = Smap(root=str(SHARED / "SMAP_MSL")).read()
    assert len(smap) == 53 and {e.train.shape[1] for e in smap} == {25}
    assert sum(len(e.train) for e in smap) == 135183 and sum(len(e.test) for e in smap) == 427617
    msl = Msl(root=str(SHARED / "SMAP_MSL")).read()
    assert len(msl) == 27 and {e.train.shape[1] for e in msl} == {55}
    assert sum(len(e.train) for e in msl) == 58317 and sum(len(e.test) for e in msl) == 73729
    (a1,) = Smap(root=str(SHARED / "SMAP_MSL"), entities="A-1").read()
    # labeled_anomalies.csv says [[4690, 4774]] (inclusive)
    assert np.flatnonzero(a1.test_labels).tolist() == list(range(4690, 4775))
    for e in smap[:5] + msl[:5]:
        validate_entity(e, "error", "real")


# ---------------------------------------------------------------- PSM
@pytest.fixture
def psm_root(tmp_path):
    columns = ["timestamp_(min)"] + [f"feature_{i}" for i in range(25)]
    train = pd.DataFrame(np.c_[np.arange(80), RNG.random((80, 25))], columns=columns)
    train.iloc[3, 5] = np.nan
    train.to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(np.c_[np.arange(80, 140), RNG.random((60, 25))], columns=columns).to_csv(tmp_path / "test.csv", index=False)
    labels = np.zeros(60, int)
    labels[7:9] = 1
    pd.DataFrame({"timestamp_(min)": np.arange(80, 140), "label": labels}).to_csv(tmp_path / "test_label.csv", index=False)
    return tmp_path


def test_psm_drops_the_timestamp_column_and_reads_labels(psm_root):
    (entity,) = clean(Psm(root=str(psm_root), nan_policy="ffill"))
    assert entity.train.shape == (80, 25) and entity.test.shape == (60, 25)
    assert np.flatnonzero(entity.test_labels).tolist() == [7, 8]
    assert entity.test_timestamps[0] == 80


def test_psm_nan_with_the_default_policy_names_the_fix(psm_root):
    with pytest.raises(DataError, match=r"1 NaN/inf.*step 3, channel 4.*data\.nan_policy=ffill"):
        clean(Psm(root=str(psm_root)))


# ---------------------------------------------------------------- SWaT
def test_swat_maps_normal_attack_words_and_strips_column_names(tmp_path):
    header = [" Timestamp", "FIT101", "LIT101", "Normal/Attack"]
    normal = pd.DataFrame({h: v for h, v in zip(header, (["t"] * 30, RNG.random(30), RNG.random(30), ["Normal"] * 30))})
    normal.to_csv(tmp_path / "SWaT_Dataset_Normal_v1.csv", index=False)
    words = ["Normal"] * 20 + ["Attack", "A ttack"] + ["Normal"] * 8
    attack = pd.DataFrame({h: v for h, v in zip(header, (["t"] * 30, RNG.random(30), RNG.random(30), words))})
    attack.to_csv(tmp_path / "SWaT_Dataset_Attack_v0.csv", index=False)
    (entity,) = clean(Swat(root=str(tmp_path)))
    assert entity.train.shape == (30, 2) and entity.test.shape == (30, 2)
    assert np.flatnonzero(entity.test_labels).tolist() == [20, 21]


def test_swat_unknown_label_word_and_licensed_hint(tmp_path):
    with pytest.raises(DataError, match="itrust"):
        Swat(root=str(tmp_path)).read()
    frame = pd.DataFrame({"Timestamp": ["t"] * 3, "x": [1.0, 2.0, 3.0], "Normal/Attack": ["Normal", "Oops", "Attack"]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DataError, match="Oops"):
        Swat(root=str(tmp_path), train_file="a.csv", test_file="a.csv").read()


# ---------------------------------------------------------------- NIPS-TS
def test_nips_ts_dcdetector_layout(tmp_path):
    np.save(tmp_path / "NIPS_TS_Water_train.npy", RNG.random((70, 9)))
    np.save(tmp_path / "NIPS_TS_Water_test.npy", RNG.random((50, 9)))
    np.save(tmp_path / "NIPS_TS_Water_test_label.npy", (np.arange(50) % 10 == 0).astype(float))
    (entity,) = clean(NipsTs(root=str(tmp_path), name="gecco"))
    assert entity.train.shape == (70, 9) and entity.test_labels.sum() == 5


def test_nips_ts_kambaad_folder_layout_and_presets(tmp_path):
    folder = tmp_path / "NIPS_TS_Swan"
    folder.mkdir()
    np.save(folder / "train.npy", RNG.random((40, 38)))
    np.save(folder / "test.npy", RNG.random((30, 38)))
    np.save(folder / "labels.npy", np.zeros(30))
    from util.registry import DATASETS

    (entity,) = clean(DATASETS.build(dict(type="swan", root=str(tmp_path))))
    assert entity.test.shape == (30, 38)
    (folder / "labels.npy").unlink()
    with pytest.raises(DataError, match=r"labels\.npy.*python -m data\.download swan"):
        DATASETS.build(dict(type="swan", root=str(tmp_path))).read()


# ---------------------------------------------------------------- UCR
def test_ucr_split_and_half_open_anomaly(tmp_path):
    series = np.sin(np.arange(300) / 5.0)
    np.savetxt(tmp_path / "001_UCR_Anomaly_Test_100_150_160.txt", series, fmt="%.5f")
    (tmp_path / "002_UCR_Anomaly_OneLine_50_80_90.txt").write_text("  ".join(f"{v:.4f}" for v in series[:120]))
    first, second = clean(Ucr(root=str(tmp_path), entities="all"))
    assert first.train.shape == (100, 1) and first.test.shape == (200, 1)
    assert np.flatnonzero(first.test_labels).tolist() == list(range(50, 60))
    assert second.test.shape == (70, 1) and np.flatnonzero(second.test_labels).tolist() == list(range(30, 40))
    assert [e.name for e in Ucr(root=str(tmp_path), entities="002").read()] == ["002_UCR_Anomaly_OneLine_50_80_90"]
    assert [e.meta["number"] for e in Ucr(root=str(tmp_path), entities=[2, 1]).read()] == [2, 1]


def test_ucr_bad_names_and_values(tmp_path):
    np.savetxt(tmp_path / "003_UCR_Anomaly_Bad_100_150_500.txt", np.zeros(200))
    with pytest.raises(DataError, match="do not fit"):
        Ucr(root=str(tmp_path), entities="3").read()
    with pytest.raises(DataError, match="python -m data.download ucr"):
        Ucr(root=str(tmp_path / "empty")).read()


# ---------------------------------------------------------------- NAB
@pytest.fixture
def nab_root(tmp_path):
    stamps = pd.date_range("2014-01-01", periods=200, freq="5min")
    (tmp_path / "realKnownCause").mkdir()
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": RNG.random(200)}).to_csv(
        tmp_path / "realKnownCause" / "cpu.csv", index=False
    )
    anomaly = stamps[150].strftime("%Y-%m-%d %H:%M:%S.000000")
    (tmp_path / "labels.json").write_text(json.dumps({"realKnownCause/cpu.csv": [anomaly], "realKnownCause/absent.csv": []}))
    return tmp_path, stamps


def test_nab_nab_rule_window_around_the_timestamp(nab_root):
    root, _ = nab_root
    (entity,) = clean(Nab(root=str(root)))
    assert entity.train.shape == (30, 1) and entity.test.shape == (170, 1)
    # NAB rule: 10 % of 200 steps for one anomaly = 20 steps, 10 each side of step 150 (test index 120)
    assert np.flatnonzero(entity.test_labels).tolist() == list(range(110, 131))
    assert len(entity.test_timestamps) == 170


def test_nab_fixed_window_and_windows_file(nab_root):
    root, stamps = nab_root
    (entity,) = Nab(root=str(root), window_fraction=0.05).read()  # 0.05 * 200 = 10 steps, 5 each side
    assert np.flatnonzero(entity.test_labels).tolist() == list(range(115, 126))
    window = [stamps[100].strftime("%Y-%m-%d %H:%M:%S.000000"), stamps[104].strftime("%Y-%m-%d %H:%M:%S.000000")]
    (root / "combined_windows.json").write_text(json.dumps({"realKnownCause/cpu.csv": [window]}))
    (entity,) = Nab(root=str(root)).read()
    assert np.flatnonzero(entity.test_labels).tolist() == list(range(70, 75)) and entity.meta["label_source"] == "windows"


def test_nab_labels_file_with_window_pairs_and_entity_choice(nab_root):
    root, stamps = nab_root
    window = [stamps[40].strftime("%Y-%m-%d %H:%M:%S"), stamps[42].strftime("%Y-%m-%d %H:%M:%S")]
    (root / "labels.json").write_text(json.dumps({"realKnownCause/cpu.csv": [window]}))
    (entity,) = Nab(root=str(root), entities="cpu").read()
    assert np.flatnonzero(entity.test_labels).tolist() == [10, 11, 12] and entity.meta["label_source"] == "windows"
    (root / "labels.json").write_text(json.dumps({"realKnownCause/cpu.csv": [window, window[0]]}))
    with pytest.raises(DataError, match="either anomaly timestamps or"):
        Nab(root=str(root)).read()
    with pytest.raises(ConfigError, match="window_fraction"):
        Nab(root=str(root), window_fraction=1.5)
    with pytest.raises(DataError, match=r"python -m data.download nab --root"):
        Nab(root=str(root / "absent")).read()


@pytest.mark.skipif(not (SHARED / "NAB").is_dir(), reason="../shared/data/NAB not present")
def test_real_nab_files():
    entities = Nab(root=str(SHARED / "NAB")).read()
    assert len(entities) == 7
    taxi = next(e for e in entities if e.name == "nyc_taxi")
    assert len(taxi.train) + len(taxi.test) == 10320 and len(taxi.train) == int(10320 * 0.15)
    assert 0 < taxi.test_labels.mean() < 0.2
    for entity in entities:  # machine_temperature steps back in time once, ec2_request_latency repeats 11 timestamps: warned, not refused
        validate_entity(entity, "error", "real NAB")


# ---------------------------------------------------------------- generic CSV
def timeeval_frame(n=100, labelled=(60, 65)):
    labels = np.zeros(n, int)
    labels[slice(*labelled)] = 1
    return pd.DataFrame({"timestamp": np.arange(n), "a": RNG.random(n), "b": RNG.random(n), "is_anomaly": labels})


def test_csv_without_train_file_uses_the_leading_fraction(tmp_path, caplog):
    frame = timeeval_frame(labelled=(10, 12))
    frame.loc[60:64, "is_anomaly"] = 1
    frame.to_csv(tmp_path / "s.csv", index=False)
    logger = get_logger()
    logger.addHandler(caplog.handler)  # the ssmad logger does not propagate once a run set it up
    try:
        (entity,) = clean(CsvSource(test_path=str(tmp_path / "s.csv")))
    finally:
        logger.removeHandler(caplog.handler)
    assert entity.train.shape == (30, 2) and entity.test.shape == (70, 2)
    assert np.flatnonzero(entity.test_labels).tolist() == list(range(30, 35))
    assert entity.meta["labelled_train_steps"] == 2
    assert "2 labelled anomalous steps lie in the leading 30%" in caplog.text


def test_csv_tab_delimiter_by_name(tmp_path):
    timeeval_frame().to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    (entity,) = CsvSource(test_path=str(tmp_path / "t.tsv"), delimiter="tab", train_fraction=0.5).read()
    assert entity.train.shape == (50, 2) and entity.test_labels.sum() == 5


def test_csv_with_train_file_feature_columns_and_no_timestamp(tmp_path):
    timeeval_frame().drop(columns="timestamp").to_csv(tmp_path / "test.csv", index=False)
    timeeval_frame(50, (0, 0)).drop(columns="timestamp").to_csv(tmp_path / "train.csv", index=False)
    (entity,) = clean(
        CsvSource(test_path=str(tmp_path / "test.csv"), train_path=str(tmp_path / "train.csv"), timestamp_column=None, feature_columns=["b"])
    )
    assert entity.train.shape == (50, 1) and entity.test.shape == (100, 1) and entity.test_labels.sum() == 5


def test_csv_wrong_delimiter_non_numeric_and_missing_label(tmp_path):
    timeeval_frame().to_csv(tmp_path / "semi.csv", index=False, sep=";")
    with pytest.raises(DataError, match=r"has no ',' \(data.delimiter=','\); it looks ';'-separated: set data.delimiter=';'"):
        CsvSource(test_path=str(tmp_path / "semi.csv")).read()
    (tmp_path / "broken.csv").write_text('timestamp,a,is_anomaly\n1,"2,0\n')
    with pytest.raises(DataError, match="broken.csv.*data.delimiter=','"):
        CsvSource(test_path=str(tmp_path / "broken.csv")).read()
    frame = timeeval_frame()
    frame["a"] = "x"
    frame.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match=r"\['a'\] are not numeric"):
        CsvSource(test_path=str(tmp_path / "text.csv")).read()
    with pytest.raises(DataError, match="no column 'label'"):
        CsvSource(test_path=str(tmp_path / "semi.csv"), delimiter=";", label_column="label").read()
    with pytest.raises(ConfigError, match="test_path"):
        CsvSource()


def test_csv_from_the_command_line_override(tmp_path):
    from util.config import load
    from util.registry import DATASETS

    timeeval_frame().to_csv(tmp_path / "mine.csv", index=False)
    config = Path(__file__).resolve().parents[1] / "configs" / "baselines" / "zscore_synthetic.py"
    cfg = load(config, ["data.type=csv", f"data.test_path={tmp_path / 'mine.csv'}"])
    (entity,) = DATASETS.build(cfg["data"]).read()
    assert entity.test.shape == (70, 2)


# ---------------------------------------------------------------- validation
def entity(train=None, test=None, labels=None):
    train = RNG.random((20, 3)) if train is None else train
    test = RNG.random((10, train.shape[1])) if test is None else test
    return Entity("e", train, test, np.zeros(len(test), int) if labels is None else labels)


def test_validate_returns_float32_2d_copies_and_notes_constant_channels():
    train = RNG.random((20, 3))
    train[:, 1] = 7.0
    out = validate_entity(Entity("e", train, RNG.random((10, 3)), np.array([True, False] * 5)), "error", "src")
    assert out.train.dtype == np.float32 and out.test_labels.dtype == np.int64 and out.meta["constant_channels"] == [1]
    one_d = validate_entity(Entity("u", np.arange(20.0), np.arange(10.0), np.array([0.0, 1.0] * 5)), "error", "src")
    assert one_d.train.shape == (20, 1) and one_d.test_labels.tolist() == [0, 1] * 5


def test_validate_nan_policies():
    train = RNG.random((20, 2))
    train[[0, 5, 6], 0] = np.nan
    train[4, 0] = 3.0
    train[9, 1] = np.inf
    with pytest.raises(DataError, match=r"entity 'e': training series has 4 NaN/inf values \(first at step 0, channel 0\).*nan_policy=ffill"):
        validate_entity(entity(train), "error", "src")
    filled = validate_entity(entity(train), "ffill", "src").train
    assert filled[0, 0] == np.float32(train[1, 0]) and filled[5, 0] == filled[6, 0] == 3.0 and filled[9, 1] == np.float32(train[8, 1])
    zeroed = validate_entity(entity(train), "zero", "src").train
    assert zeroed[0, 0] == 0 and zeroed[9, 1] == 0 and np.isfinite(zeroed).all()
    with pytest.raises(ConfigError, match="nan_policy"):
        validate_entity(entity(), "drop", "src")


def test_validate_label_and_shape_errors():
    with pytest.raises(DataError, match="9 test labels for 10 test steps"):
        validate_entity(entity(labels=np.zeros(9)), "error", "src")
    with pytest.raises(DataError, match=r"must be 0/1; found \[2\]"):
        validate_entity(entity(labels=np.array([0, 2] * 5)), "error", "src")
    with pytest.raises(DataError, match="3 features but the test series 4"):
        validate_entity(entity(test=RNG.random((10, 4))), "error", "src")
    with pytest.raises(DataError, match="empty"):
        validate_entity(entity(train=np.zeros((0, 3))), "error", "src")
