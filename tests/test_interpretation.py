"""Which sensor, not only when: HitRate@P% (worked by hand), SMD's interpretation labels, the
detectors' per-feature contributions, and their output by -m predict and the Python API."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.timeseries.smd import Segment, Smd, read_interpretation
from metric.timeseries.interpretation import hit_rates, hitrate, random_hitrate
from run import main
from trainer.api import AnomalyDetector, ArraySource
from trainer.contributions import series_contributions
from trainer.ts_evaluator import score_series
from util.errors import ConfigError, DataError
from util.plots import plot_top_features
from util.registry import DETECTORS

SMD_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "SMD"

# Four features, five steps; segment A = steps 0-2 caused by features {0, 2}, B = step 4 by {3}.
CONTRIBUTIONS = np.array([
    [0.9, 0.1, 0.5, 0.2],
    [0.3, 0.8, 0.7, 0.1],
    [0.2, 0.2, 0.2, 0.2],  # all four tied
    [0.0, 0.0, 0.0, 0.0],  # in no segment: never counted
    [0.1, 0.4, 0.3, 0.6],
])
SEGMENTS = [(0, 3, (0, 2)), (4, 5, (3,))]


def test_hitrate_worked_by_hand():
    # P = 100: A has |G| = 2 so k = floor(1.0 * 2) = 2; B has |G| = 1 so k = 1.
    #   t0: top 2 = {0 (0.9), 2 (0.5)}, both in G -> 2/2 = 1
    #   t1: top 2 = {1 (0.8), 2 (0.7)}, only 2 in G -> 1/2
    #   t2: 4 features tied for 2 slots, 2 of them in G -> expected hits 2 * 2/4 = 1 -> 1/2
    #   t4: top 1 = {3 (0.6)} = G -> 1
    #   mean over the 4 (segment, step) pairs: (1 + 0.5 + 0.5 + 1) / 4 = 0.75
    # P = 150: A: k = floor(1.5 * 2) = 3; B: k = floor(1.5 * 1) = 1.
    #   t0: top 3 = {0, 2, 3 (0.2)} -> 2/2 = 1;  t1: top 3 = {1, 2, 0 (0.3)} -> 2/2 = 1
    #   t2: 3 slots among 4 tied, half of them in G -> 1.5 hits -> 0.75;  t4: as above, 1
    #   mean: (1 + 1 + 0.75 + 1) / 4 = 0.9375
    result = hitrate(CONTRIBUTIONS, SEGMENTS)
    assert result == pytest.approx({"hitrate@100": 0.75, "hitrate@150": 0.9375, "steps": 4, "segments": 2})
    np.testing.assert_allclose(hit_rates(CONTRIBUTIONS[:3], (0, 2), 150), [1.0, 1.0, 0.75])
    # Random ranking: each step expects k/F: P=100 (3 * 2/4 + 1/4) / 4; P=150 (3 * 3/4 + 1/4) / 4.
    assert random_hitrate(SEGMENTS, 4) == pytest.approx({"hitrate@100": 0.4375, "hitrate@150": 0.625})


def test_hitrate_of_random_contributions_meets_its_expectation_and_is_pure():
    values = np.random.default_rng(0).random((20_000, 38))
    segments = [(0, 12_000, (1, 5, 7)), (12_000, 20_000, tuple(range(20)))]
    before = values.copy()
    measured = hitrate(values, segments)
    np.testing.assert_array_equal(values, before)
    for key, expected in random_hitrate(segments, 38).items():
        assert measured[key] == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("segments, message", [
    ([(3, 9, (0,))], "not inside the series of 5 steps"),
    ([(0, 2, (4,))], "not distinct indices into 4 features"),
    ([(0, 2, (1, 1))], "not distinct indices"),
])
def test_hitrate_refuses_segments_that_do_not_fit(segments, message):
    with pytest.raises(ValueError, match=message):
        hitrate(CONTRIBUTIONS, segments)


def write_smd(root: Path, labels: str | None) -> None:
    """One 20-step, 3-feature machine in SMD's layout, with ``labels`` as its interpretation file."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        np.savetxt(root / split / "machine-1-1.txt", rng.random((20, 3)), delimiter=",", fmt="%.6f")
    (root / "test_label").mkdir()
    np.savetxt(root / "test_label" / "machine-1-1.txt", np.r_[np.zeros(2), np.ones(3), np.zeros(15)], fmt="%d")
    if labels is not None:
        (root / "interpretation_label").mkdir()
        (root / "interpretation_label" / "machine-1-1.txt").write_text(labels)


def test_smd_attaches_interpretation_labels_as_0_based_slices(tmp_path):
    write_smd(tmp_path, "2-5:1,3\n\n10-12:2\n")
    (entity,) = Smd(root=str(tmp_path)).read()
    assert entity.meta["interpretation"] == [Segment(2, 5, (0, 2)), Segment(10, 12, (1,))]
    assert entity.test.shape == (20, 3) and entity.test_labels.sum() == 3


def test_smd_without_interpretation_labels_reads_as_before(tmp_path):
    write_smd(tmp_path, None)
    (entity,) = Smd(root=str(tmp_path)).read()
    assert entity.meta == {"interpretation": None}


@pytest.mark.parametrize("line", ["2-5;1", "5-2:1", "2-5:0,1", "2-5:1,1", "2-5:"])
def test_a_bad_interpretation_line_names_the_file_and_line(tmp_path, line):
    path = tmp_path / "machine-1-1.txt"
    path.write_text(f"0-1:1\n{line}\n")
    with pytest.raises(DataError, match=r"machine-1-1\.txt, line 2: .*start-end:d1,d2"):
        read_interpretation(path)


@pytest.mark.slow
@pytest.mark.skipif(not (SMD_ROOT / "interpretation_label").is_dir(), reason="needs ../shared/data/SMD")
def test_the_real_smd_interpretation_labels_fit_their_test_series():
    entities = Smd(root=str(SMD_ROOT)).read()
    assert len(entities) == 19
    for entity in entities:
        segments = entity.meta["interpretation"]
        assert segments, entity.name
        for start, end, dims in segments:
            assert 0 <= start < end <= len(entity.test), (entity.name, start, end)
            assert entity.test_labels[start:end].any(), (entity.name, start, end)
            assert 0 <= min(dims) and max(dims) < entity.test.shape[1]


def fitted_zscore(n_features: int, window: int) -> torch.nn.Module:
    detector = DETECTORS.build(dict(type="zscore"), n_features=n_features, window=window)
    detector.use_statistics(np.full(n_features, 0.5), np.full(n_features, 2.0))
    return detector


@pytest.mark.parametrize("name, kwargs, reduce", [
    ("kambaad", dict(d_model=16, e_layers=1), "mean"),
    ("kambaad", dict(d_model=16, e_layers=1, compat="release"), "mean"),
    ("dense_ae", {}, "mean"),
    ("anomaly_transformer", dict(d_model=16, n_heads=2, e_layers=1), "mean"),
    ("zscore", {}, "max"),
])
def test_contributions_are_per_feature_and_make_the_score(name, kwargs, reduce):
    torch.manual_seed(0)
    detector = fitted_zscore(4, 16) if name == "zscore" else DETECTORS.build(dict(type=name, **kwargs), n_features=4, window=16)
    detector.eval()
    batch = {"x": torch.randn(3, 16, 4)}
    with torch.no_grad():
        contributions = detector.feature_contributions(batch)
        assert contributions.shape == (3, 16, 4) and (contributions >= 0).all()
        part = contributions[..., [0, 2]]
        expected = part.mean(-1) if reduce == "mean" else part.amax(-1)
        torch.testing.assert_close(detector.score(batch, features=[0, 2]), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, kwargs", [("iforest", {}), ("random", {}), ("dcdetector", dict(patch_sizes=[4]))])
def test_detectors_whose_score_does_not_split_over_features_say_so(name, kwargs):
    detector = DETECTORS.build(dict(type=name, **kwargs), n_features=4, window=16)
    assert detector.feature_contributions({"x": torch.randn(2, 16, 4)}) is None


def test_contributions_fold_over_overlapping_windows_as_the_scores_do():
    rng = np.random.default_rng(0)
    data = ArraySource(rng.normal(size=(300, 4)), rng.normal(size=(157, 4)), window=20, test_stride=7).prepare()
    torch.manual_seed(0)
    detector = DETECTORS.build(dict(type="dense_ae", hidden=[16], bottleneck=4), n_features=4, window=20)
    series = data.entities[0].test
    contributions = series_contributions(detector, data, series, torch.device("cpu"))
    assert contributions.shape == (157, 4)
    np.testing.assert_allclose(contributions.mean(1), score_series(detector, data, series, torch.device("cpu")), rtol=1e-5)


def test_api_feature_contributions_name_the_shifted_sensor():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(1500, 3)), rng.normal(size=(800, 3))
    test[400:420, 1] += 6
    detector = AnomalyDetector("zscore", ["data.window=50"]).fit(train)
    contributions = detector.feature_contributions(test)
    assert contributions.shape == (800, 3)
    assert (contributions[400:420].argmax(1) == 1).all()
    np.testing.assert_allclose(detector.decision_function(test), contributions.max(1))  # zscore: the largest |z|


def test_api_says_when_a_detector_has_no_contributions():
    detector = AnomalyDetector("iforest", ["data.window=20"]).fit(np.random.default_rng(0).normal(size=(300, 2)))
    with pytest.raises(ConfigError, match="IsolationForestDetector has no per-feature contributions"):
        detector.feature_contributions(np.zeros((50, 2)))


def test_plot_top_features_ranks_inside_the_segment(tmp_path):
    contributions = np.zeros((60, 4))
    contributions[20:30, 2], contributions[20:30, 0], contributions[:, 3] = 5.0, 1.0, 0.5
    top = plot_top_features(tmp_path / "top.png", contributions, contributions.sum(1), 2.0, (120, 130), list("abcd"), "t", first_step=100, top_k=2)
    assert top == [2, 0] and (tmp_path / "top.png").stat().st_size > 0


def test_predict_writes_the_contributions_and_their_plot(tmp_path):
    from data.timeseries.synthetic import generate

    tiny = ["data.train_length=600", "data.test_length=600", "data.window=20", "trainer.epochs=2", "trainer.progress=false",
            "num_threads=1", "device=cpu", "evaluation.plots=false", "evaluation.baselines=false"]
    config = "configs/baselines/dense_ae_synthetic.py"
    assert main(["-c", config, "-m", "train", f"work_dir={tmp_path / 'run'}", *tiny]) == 0
    np.save(tmp_path / "new.npy", generate(train_length=600, test_length=600, seed=0).test)
    out = tmp_path / "out"
    assert main(["-c", config, "-m", "predict", f"checkpoint={tmp_path / 'run'}", f"data.path={tmp_path / 'new.npy'}",
                 f"predict.output={out}", "predict.chunk_size=53", *tiny]) == 0
    scores, contributions = pd.read_csv(out / "scores.csv"), pd.read_csv(out / "contributions.csv")
    assert list(contributions.columns) == ["timestamp", *[f"feature_{i}" for i in range(8)]] and len(contributions) == 600
    np.testing.assert_array_equal(contributions["timestamp"], scores["timestamp"])
    # dense_ae: the score is the mean of the contributions over the (all) scored features
    np.testing.assert_allclose(contributions.iloc[:, 1:].mean(1), scores["score"], rtol=1e-5, atol=1e-7)
    assert scores["is_anomaly"].any() and (out / "contributions.png").stat().st_size > 0
    assert not list(out.glob("*.part"))


def test_the_interpretation_tool_tables_the_baselines(tmp_path, capsys):
    from tools.interpretation import main as interpretation

    write_smd(tmp_path / "SMD", "2-5:1,3\n10-12:2\n")
    out = tmp_path / "table.csv"
    assert interpretation(["--root", str(tmp_path / "SMD"), "--set", "data.window=5", "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index("machine")
    assert list(table.index) == ["machine-1-1", "mean over 1 machines", "all labelled steps"]
    # 3 steps with |G| = 2 of 3 features, 2 steps with |G| = 1: P=100 expects (3 * 2/3 + 2 * 1/3) / 5
    assert table.loc["machine-1-1", "expected at random @100"] == pytest.approx(8 / 15)
    assert table.loc["machine-1-1", "steps"] == 5 and {"zscore @150", "random @100"} <= set(table.columns)
    assert "| machine-1-1" in capsys.readouterr().out
