"""The Python API (trainer.api): fit / decision_function give run.py's scores on the synthetic set,
names resolve to the configs for unknown data, and bad calls fail clearly."""
import numpy as np
import pytest

from data.timeseries.synthetic import generate
from run import main
from trainer.api import AnomalyDetector, config_path
from trainer.run_folder import RunFolder
from util.errors import ConfigError, DataError

SMALL = {"data.train_length": 600, "data.test_length": 500, "data.window": 20, "trainer.epochs": 2, "trainer.progress": False,
         "device": "cpu", "num_threads": 1, "evaluation.plots": False, "evaluation.baselines": False}


@pytest.mark.parametrize("config", ["configs/baselines/dense_ae_synthetic.py", "configs/kambaad/kambaad_synthetic.py", "configs/baselines/iforest_synthetic.py"])
def test_api_scores_equal_run_py_scores_on_the_synthetic_set(config, tmp_path):
    overrides = SMALL | ({"trainer.max_steps": 4} if "kambaad" in config else {})
    as_text = [f"{k}={v}" for k, v in overrides.items()]
    assert main(["-c", config, "-m", "train", f"work_dir={tmp_path / 'run'}", *as_text]) == 0
    expected, _ = RunFolder(tmp_path / "run").read_scores()["synthetic"]
    entity = generate(n_features=8, train_length=600, test_length=500, anomaly_ratio=0.05, seed=0)  # the config's series
    detector = AnomalyDetector(config, overrides).fit(entity.train)
    scores = detector.decision_function(entity.test)
    assert scores.shape == (500,)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)


def test_a_detector_name_means_its_config_for_unknown_data():
    assert config_path("kambaad").name == "kambaad_csv.py"
    assert config_path("pca").name == "pca_csv.py"
    assert config_path("kambaad_smap").name == "kambaad_smap.py"
    with pytest.raises(ConfigError, match="No config 'kambad'.*kambaad"):
        config_path("kambad")


def test_univariate_arrays_and_string_overrides():
    rng = np.random.default_rng(0)
    train = np.sin(np.arange(1500) / 8) + 0.05 * rng.normal(size=1500)
    test = train.copy()
    test[700:720] += 3
    scores = AnomalyDetector("zscore", ["data.window=50"]).fit(train).decision_function(test)
    assert scores.shape == (1500,) and scores[700:720].min() > np.percentile(scores, 95)


def test_bad_calls_say_what_to_do():
    detector = AnomalyDetector("zscore", {"data.window": 10})
    with pytest.raises(ConfigError, match=r"Call fit\(train\)"):
        detector.decision_function(np.zeros((50, 2)))
    detector.fit(np.random.default_rng(0).normal(size=(100, 2)))
    with pytest.raises(DataError, match="X has 3 features, the detector was fit on 2"):
        detector.decision_function(np.zeros((50, 3)))
    with pytest.raises(DataError, match=r"shape \(2, 3, 4\)"):
        detector.decision_function(np.zeros((2, 3, 4)))
    with pytest.raises(ConfigError, match="Unknown key 'epohcs' for 'trainer'.*Did you mean 'epochs'"):
        AnomalyDetector("kambaad", {"trainer.epohcs": 1})
