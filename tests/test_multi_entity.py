"""entity_mode=separate: one sub-run per entity, an aggregate at the root, and a resume that skips
the entities already done."""
import json

import numpy as np
import pandas as pd
import pytest

from run import main
from tools import benchmark

CONFIG = "configs/baselines/dense_ae_smap.py"
CHANNELS = ("A-1", "A-2", "B-1")


def write_telemanom(root, channels=CHANNELS, length=300, dims=3):
    """A tiny SMAP dataset in the telemanom layout (labeled_anomalies.csv, train/ and test/ npy files)."""
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    rows = []
    for k, chan in enumerate(channels):
        rng = np.random.default_rng(k)
        t = np.arange(2 * length)[:, None]
        series = np.sin(t / (5.0 + k) + np.arange(dims)) + 0.05 * rng.standard_normal((2 * length, dims))
        test = series[length:].copy()
        test[100 + 10 * k : 115 + 10 * k, 0] += 3.0
        np.save(root / "train" / f"{chan}.npy", series[:length])
        np.save(root / "test" / f"{chan}.npy", test)
        rows.append(dict(chan_id=chan, spacecraft="SMAP", anomaly_sequences=f"[[{100 + 10 * k}, {114 + 10 * k}]]", **{"class": "[point]"}, num_values=length))
    pd.DataFrame(rows).to_csv(root / "labeled_anomalies.csv", index=False)
    return root


def args(root, run_dir, *extra):
    return ["-c", CONFIG, "-m", "train", f"work_dir={run_dir}", f"data.root={root}", "data.window=20", "data.batch_size=32",
            "trainer.epochs=1", "trainer.progress=false", "model.hidden=[16]", "model.bottleneck=4", "num_threads=1", "device=cpu",
            "evaluation.plots=false", "evaluation.baselines=false", "entity_mode=separate", *extra]


def test_separate_models_aggregate_and_resume_skips_done_entities(tmp_path, capsys):
    root = write_telemanom(tmp_path / "SMAP_MSL")
    run_dir = tmp_path / "run"
    assert main(args(root, run_dir)) == 0
    subs = {c: json.loads((run_dir / "entities" / c / "results.json").read_text()) for c in CHANNELS}
    assert all(s["dataset"]["entities"] == [c] for c, s in subs.items())
    top = json.loads((run_dir / "results.json").read_text())
    assert top["entity_mode"] == "separate" and list(top["per_entity"]) == list(CHANNELS)
    mean = np.mean([s["metrics"]["auc_pr"] for s in subs.values()])
    assert top["mean_over_entities"]["auc_pr"] == pytest.approx(mean)
    assert "## Per entity" in (run_dir / "results.md").read_text()
    assert "'scaler_scope': 'entity'" in (run_dir / "config.py").read_text()  # one model each: one scaler each
    assert all(s["scored_features"] == [0] for s in subs.values())  # SMAP's labels describe the telemetry
    assert top["scored_features"] == [0]
    every = np.mean([s["all_features"]["metrics"]["auc_pr"] for s in subs.values()])
    assert top["all_features"]["mean_over_entities"]["auc_pr"] == pytest.approx(every)
    assert "all features, mean over entities" in (run_dir / "results.md").read_text()

    # A kill during A-2's evaluation: its results are missing, the others are complete.
    (run_dir / "entities" / "A-2" / "results.json").unlink()
    before = {c: (run_dir / "entities" / c / "ckpt_best.pth").read_bytes() for c in ("A-1", "B-1")}
    assert main(args(root, run_dir)) == 2  # no resume: refuses to overwrite
    assert "already holds a training run" in capsys.readouterr().err
    assert main(args(root, run_dir, "trainer.resume=true")) == 0
    assert "A-1: already done, skipped" in capsys.readouterr().err
    assert all((run_dir / "entities" / c / "ckpt_best.pth").read_bytes() == before[c] for c in before)
    again = json.loads((run_dir / "entities" / "A-2" / "results.json").read_text())
    assert again["metrics"] == subs["A-2"]["metrics"]  # the finished training was reused, not redone differently
    assert json.loads((run_dir / "results.json").read_text())["metrics"] == top["metrics"]
    test_args = args(root, run_dir)
    test_args[test_args.index("train")] = "test"
    assert main(test_args) == 0  # -m test re-evaluates every entity's checkpoint
    assert json.loads((run_dir / "results.json").read_text())["metrics"] == top["metrics"]


def test_joint_mode_trains_one_model_over_all_entities(tmp_path):
    root = write_telemanom(tmp_path / "SMAP_MSL", channels=CHANNELS[:2])
    run_dir = tmp_path / "joint"
    assert main(args(root, run_dir, "data.entity_mode=joint")) == 0  # the spelling of entity_mode
    assert not (run_dir / "entities").exists() and (run_dir / "ckpt_best.pth").is_file()
    assert list(json.loads((run_dir / "results.json").read_text())["per_entity"]) == list(CHANNELS[:2])
    assert "'scaler_scope'" not in (run_dir / "config.py").read_text()  # auto: one scaler over both channels


def test_baselines_are_also_reported_as_a_mean_over_entities(tmp_path):
    root = write_telemanom(tmp_path / "SMAP_MSL")
    run_dir = tmp_path / "zscore"
    cli = ["-c", "configs/baselines/zscore_smap.py", "-m", "train", f"work_dir={run_dir}", f"data.root={root}", "data.window=20",
           "num_threads=1", "device=cpu", "evaluation.plots=false", "evaluation.baselines=true"]
    assert main(cli) == 0
    results = json.loads((run_dir / "results.json").read_text())
    means = results["baselines_mean_over_entities"]
    assert set(means) == set(results["baselines"]) == {"random", "zscore"}
    # This run's detector is the z-score baseline itself: both ways of measuring it must agree.
    assert means["zscore"] == pytest.approx(results["mean_over_entities"], nan_ok=True)
    assert means["zscore"]["vus_pr"] != pytest.approx(results["baselines"]["zscore"]["vus_pr"])  # not the concatenation
    assert "| random (baseline), mean over entities |" in (run_dir / "results.md").read_text()


def test_benchmark_tables_the_mean_over_entities_on_request(tmp_path, capsys):
    root = write_telemanom(tmp_path / "SMAP_MSL")
    argv = ["--configs", "configs/baselines/zscore_smap.py", "--seeds", "0", "--out", str(tmp_path / "runs"),
            "--set", f"data.root={root}", "data.window=20", "num_threads=1", "device=cpu", "evaluation.plots=false", "evaluation.baselines=true"]
    assert benchmark.main(argv) == 0
    assert benchmark.main([*argv, "--view", "mean_over_entities"]) == 0
    assert "done earlier, skipped" in capsys.readouterr().out  # a view only re-reads the runs
    results = pd.read_json(tmp_path / "runs" / "zscore_smap" / "seed0" / "results.json", typ="series")
    concatenated = pd.read_csv(tmp_path / "runs" / "benchmark.csv").set_index("detector")
    per_entity = pd.read_csv(tmp_path / "runs" / "benchmark_mean_over_entities.csv").set_index("detector")
    assert per_entity.loc["zscore", "vus_pr"] == pytest.approx(results["mean_over_entities"]["vus_pr"])
    assert concatenated.loc["zscore", "vus_pr"] == pytest.approx(results["metrics"]["vus_pr"])
    assert per_entity.loc["random (baseline)", "vus_pr"] == pytest.approx(results["baselines_mean_over_entities"]["random"]["vus_pr"])
    assert "each run's mean over entities" in (tmp_path / "runs" / "benchmark_mean_over_entities.md").read_text()
