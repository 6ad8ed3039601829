"""-m predict: chunked scoring equals a one-shot pass; a trained run re-scores its own test series
from raw values with its training scaler and calibrated threshold."""
import json

import numpy as np
import pandas as pd
import pytest

from data.timeseries.synthetic import generate
from data.timeseries.windows import fold_window_scores, window_starts
from run import main
from trainer.predict import NanCleaner, stream_scores
from trainer.run_folder import RunFolder
from util.errors import DataError

CONFIG = "configs/baselines/dense_ae_synthetic.py"
TINY = ["data.train_length=600", "data.test_length=600", "data.window=20", "trainer.epochs=2", "trainer.progress=false",
        "num_threads=1", "device=cpu", "evaluation.plots=false", "evaluation.baselines=false"]


def toy_scorer(windows):
    """Depends on the whole window (not just the step), so wrong windows change the result."""
    return windows.sum(-1) * np.linspace(1, 2, windows.shape[1]) + windows.mean((1, 2))[:, None]


def one_shot(series, window, stride):
    starts = window_starts(len(series), window, stride)
    return fold_window_scores(toy_scorer(np.stack([series[s : s + window] for s in starts])), starts, len(series))


@pytest.mark.parametrize("length, window, stride, chunk", [(103, 10, 10, 7), (103, 10, 3, 25), (50, 10, 10, 1000), (10, 10, 1, 3), (97, 8, 5, 8)])
def test_stream_equals_one_shot(length, window, stride, chunk):
    series = np.random.default_rng(length).normal(size=(length, 3))
    chunks = (series[i : i + chunk] for i in range(0, length, chunk))
    streamed = np.concatenate(list(stream_scores(chunks, toy_scorer, window, stride)))
    np.testing.assert_allclose(streamed, one_shot(series, window, stride), rtol=1e-12)


def test_stream_rejects_a_series_shorter_than_the_window():
    with pytest.raises(DataError, match="fewer than the model's window"):
        list(stream_scores(iter([np.zeros((5, 2))]), toy_scorer, 10, 10))


def test_ffill_carries_values_across_chunks():
    cleaner = NanCleaner("ffill", "x.csv", initial=np.array([-7.0, -8.0]))
    first = cleaner(np.array([[np.nan, 1.0], [2.0, np.nan]]))
    second = cleaner(np.array([[np.nan, np.nan], [5.0, 6.0]]))
    np.testing.assert_array_equal(first, [[-7.0, 1.0], [2.0, 1.0]])
    np.testing.assert_array_equal(second, [[2.0, 1.0], [5.0, 6.0]])
    with pytest.raises(DataError, match="row 1"):
        NanCleaner("error", "x.csv", initial=np.zeros(1))(np.array([[1.0], [np.nan]]))


@pytest.fixture(scope="module", params=[None, "val"])
def trained(tmp_path_factory, request):
    """A trained run; with ``val`` its scores (and threshold) are in validation-scaled units."""
    run_dir = tmp_path_factory.mktemp("predict") / "run"
    assert main(["-c", CONFIG, "-m", "train", f"work_dir={run_dir}", *TINY, f"evaluation.entity_scaling={request.param}"]) == 0
    return run_dir


def test_predict_rescores_the_test_series_from_raw_values_in_chunks(trained, tmp_path):
    raw = generate(train_length=600, test_length=600, seed=0)
    frame = pd.DataFrame(raw.test, columns=[f"c{i}" for i in range(raw.test.shape[1])])
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=len(frame), freq="min").astype(str))
    frame.to_csv(tmp_path / "new.csv", index=False)
    np.save(tmp_path / "new.npy", raw.test)
    outputs = {}
    for name, extra in (("csv_chunked", ["data.path=" + str(tmp_path / "new.csv"), "predict.chunk_size=37"]),
                        ("npy_whole", ["data.path=" + str(tmp_path / "new.npy"), "predict.chunk_size=100000"])):
        assert main(["-c", CONFIG, "-m", "predict", f"checkpoint={trained}", f"predict.output={tmp_path / name}", *TINY, *extra]) == 0
        outputs[name] = pd.read_csv(tmp_path / name / "scores.csv")
        assert (tmp_path / name / "scores.png").is_file()
    csv, npy = outputs["csv_chunked"], outputs["npy_whole"]
    assert list(csv.columns) == ["timestamp", "score", "is_anomaly"] and len(csv) == 600
    assert csv["timestamp"].iloc[1] == "2024-01-01 00:01:00"
    np.testing.assert_allclose(csv["score"], npy["score"], rtol=1e-6, atol=1e-6)
    evaluated, _ = RunFolder(trained).read_scores()["synthetic"]
    np.testing.assert_allclose(csv["score"], evaluated, rtol=1e-4, atol=1e-5)  # same model, training scaler
    threshold = json.loads((trained / "results.json").read_text())["threshold"]
    np.testing.assert_array_equal(csv["is_anomaly"], (evaluated >= threshold).astype(int))
