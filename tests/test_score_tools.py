"""The tools that reread a finished run's scores: KambaAD's released oracle and the association-term split."""
from pathlib import Path

import numpy as np
import pytest

from tools import association_terms, oracle_pa
from trainer.runner import run
from util.errors import ConfigError

TINY = ["data.train_length=600", "data.test_length=600", "data.window=20", "trainer.epochs=1", "trainer.max_steps=5", "trainer.progress=false",
        "num_threads=1", "device=cpu", "evaluation.plots=false", "evaluation.baselines=false"]


def test_oracle_pa_f1_finds_the_threshold_a_hand_count_gives():
    labels = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 1], bool)
    scores = np.array([0.1, 0.2, 0.9, 0.1, 0.1, 0.3, 0.2, 0.1, 0.1, 0.8])
    # threshold 0.8 flags steps 2 and 9: point adjustment credits both segments (5 of 5), no false alarm: F1 1
    assert oracle_pa.oracle_pa_f1(scores, labels, grid=50) == pytest.approx(1.0)
    # a score that ranks one segment below every normal step: at best segment 1 only (P 1, R 3/5: F1 0.75),
    # or everything flagged (P 0.5, R 1: F1 2/3)
    worse = np.array([0.5, 0.5, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1])
    assert oracle_pa.oracle_pa_f1(worse, labels, grid=50) == pytest.approx(0.75)


def test_oracle_random_scores_are_seeded_by_name_and_draw():
    a, b = oracle_pa.random_scores("machine-1-1", 100, 0), oracle_pa.random_scores("machine-1-1", 100, 1)
    assert np.array_equal(a, oracle_pa.random_scores("machine-1-1", 100, 0)) and not np.array_equal(a, b)


@pytest.fixture(scope="module")
def association_run(tmp_path_factory) -> Path:
    work_dir = tmp_path_factory.mktemp("at") / "run"
    run("configs/anomaly_transformer/anomaly_transformer_synthetic.py", "train", [*TINY, f"work_dir={work_dir}", "model.d_model=16", "model.d_ff=16"], report=False)
    return work_dir


def test_association_terms_split_the_score_into_its_factors(association_run, capsys):
    terms, labels = association_terms.collect(association_run, [], [0.0, 1.0])
    assert labels.dtype == bool and labels.any() and len(labels) == 600
    assert set(terms) == {"reconstruction error", "discrepancy", "weight, T=0", "score, T=0", "weight, T=1", "score, T=1"}
    np.testing.assert_allclose(terms["weight, T=0"], 1 / 20)  # a uniform weight: the product ranks as the error
    np.testing.assert_allclose(terms["score, T=1"], terms["weight, T=1"] * terms["reconstruction error"], rtol=1e-6)
    assert association_terms.main([str(association_run), "--temperatures", "1"]) == 0
    table = capsys.readouterr().out
    assert "| score, T=1 |" in table and "600 test steps" in table


def test_association_terms_refuses_a_run_of_another_detector(tmp_path):
    work_dir = tmp_path / "z"
    run("configs/baselines/zscore_synthetic.py", "train", [*TINY, f"work_dir={work_dir}"], report=False)
    with pytest.raises(ConfigError, match="zscore run"):
        association_terms.collect(work_dir, [], [1.0])


def test_association_terms_reads_each_entitys_own_model_of_a_separate_run(tmp_path):
    from tests.test_multi_entity import write_telemanom

    root, work_dir = write_telemanom(tmp_path / "smap"), tmp_path / "separate"
    run("configs/anomaly_transformer/anomaly_transformer_smap.py", "train",
        [f"data.root={root}", f"work_dir={work_dir}", "entity_mode=separate", "data.window=20", "data.batch_size=32", "trainer.epochs=1",
         "trainer.max_steps=3", "trainer.progress=false", "model.d_model=16", "model.d_ff=16", "num_threads=1", "device=cpu",
         "evaluation.plots=false", "evaluation.baselines=false"], report=False)
    terms, labels = association_terms.collect(work_dir, [], [1.0])
    assert len(labels) == 3 * 300 and labels.sum() == 3 * 15  # three channels, each scored by its own model
    assert np.isfinite(terms["score, T=1"]).all()
