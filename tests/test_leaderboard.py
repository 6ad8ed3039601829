"""tools/leaderboard.py (issue 23's leaderboard over seeds) and tools/paired.py: seed-averaged means over the
common files, the spread over seeds, per-source tables, and the target's paired comparison with Wilcoxon p."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from metric.timeseries import threshold_free_metrics
from tests.test_tsbad import series, write_tsbad
from tools import leaderboard
from tools import tsbad_benchmark as bench
from tools.paired import paired_test, wins_losses_ties

FILES = [f"{i:03d}_{source}_id_{i}_Sensor_tr_120_1st_200.csv" for i, source in enumerate(["AAA"] * 4 + ["BBB"] * 4, 1)]


def write_result(out: Path, method: str, file: str, vus: float | None, seed: int | None, kind: str = "ours", seconds: float = 2.0,
                 trainable: bool = True) -> None:
    """One recorded run as tools/tsbad_benchmark.py writes it (a None ``vus`` records a failure)."""
    result = {"file": file, "method": method, "kind": kind, "seconds": seconds}
    if seed is not None:
        result["overrides"] = ["num_threads=1", f"seed={seed}"]
    if vus is None:
        result["error"] = "RuntimeError: boom"
    else:
        result["metrics"] = {"vus_pr": vus, "auc_pr": vus - 0.01, "auc_roc": vus + 0.4}
    bench.write_json(out / "results" / method / f"{Path(file).stem}.json", result)
    if kind == "ours" and vus is not None:
        bench.write_json(out / "logs" / method / f"{Path(file).stem}.json",
                         {"trainable": trainable, "steps": 100 + (seed or 0) if trainable else 0, "early_stopped": trainable and seed == 1,
                          "cpu_seconds": {"fit": 1.0, "score": 1.0}})


def row(text: str, first: str) -> list[str]:
    """The cells of the first markdown table row that starts with ``first`` (after any rank cell)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if first in cells[:2]:
            return cells
    raise AssertionError(f"no row {first!r}")


@pytest.fixture
def seeds(tmp_path):
    """Three seed folders: ``model`` at seeds 0-2 (seed 2 misses the last file), ``base`` at seed 0,
    a deterministic reference recorded in two folders, and one failed run."""
    folders = [tmp_path / f"seed{s}" for s in range(3)]
    truth = {}
    for i, file in enumerate(FILES):
        for s, folder in enumerate(folders):
            if s == 2 and i == len(FILES) - 1:
                continue
            truth["model", file, s] = 0.3 + 0.05 * i + 0.01 * s
            write_result(folder, "model", file, truth["model", file, s], s)
        truth["base", file] = 0.3 + 0.05 * i - (0.1 if i % 4 else -0.02)  # model wins on 6 files, loses on 2
        write_result(folders[0], "base", file, truth["base", file], 0, trainable=False)  # fit without gradients, as the z-score
        for folder in folders[:2]:  # recorded twice: counts once
            write_result(folder, "TSB-AD:Ref", file, 0.2, None, kind="reference", seconds=5.0 + folders.index(folder))
    write_result(folders[1], "base", FILES[0], None, 1)
    return folders, truth


def test_means_are_seed_averaged_per_file_over_the_common_files(seeds):
    folders, truth = seeds
    text = leaderboard.report(folders, "model")
    per_file = [np.mean([truth["model", f, s] for s in range(3) if ("model", f, s) in truth]) for f in FILES]
    cells = row(text, "model")
    assert cells[0] == "1" and cells[2] == f"{np.mean(per_file):.3f}"
    seed_means = [np.mean([truth["model", f, s] for f in FILES[:-1]]) for s in range(3)]  # the files all three seeds ran
    assert cells[5] == f"{min(seed_means):.3f}-{max(seed_means):.3f} (7)" and cells[6:9] == ["3", "8", "101"]
    assert cells[9] == f"{1 / len([k for k in truth if k[0] == 'model']) * 8:.0%}"  # seed 1 early-stopped on its 8 files
    assert row(text, "base")[6:10] == ["1", "8", "-", "-"]
    ref = row(text, "TSB-AD:Ref")
    assert ref[2] == "0.200" and ref[5:10] == ["-", "-", "8", "-", "-"] and ref[10] == "5.0"  # once, the first folder's run
    assert "Failed runs (not in the tables; their errors are in results/): base 1" in text
    assert "Common files (every method finished at least once): 8 of 8" in text and "no point adjustment" in text


def test_per_source_cells_show_the_spread_only_where_every_file_ran_at_several_seeds(seeds):
    folders, truth = seeds
    text = leaderboard.report(folders, None)
    assert "| method | AAA (4) | BBB (4) | all (8) |" in text
    cells = row(text.split("## VUS-PR per source")[1], "model")
    aaa = [np.mean([truth["model", f, s] for f in FILES[:4]]) for s in range(3)]
    assert cells[1] == f"{np.mean(aaa):.3f} ± {np.std(aaa, ddof=1):.3f}"
    assert "±" not in cells[2] and "±" not in cells[3]  # BBB's last file ran at two seeds only
    assert "against every other method" not in text
    cost = row(text.split("## Seconds per file")[1], "TSB-AD:Ref")
    assert cost[1:] == ["5.0", "5.0"]


def test_the_target_is_paired_per_file_with_every_method_and_the_best_per_source(seeds):
    folders, truth = seeds
    text = leaderboard.report(folders, "model")
    model = np.array([np.mean([truth["model", f, s] for s in range(3) if ("model", f, s) in truth]) for f in FILES])
    base = np.array([truth["base", f] for f in FILES])
    cells = row(text.split("against every other method")[1], "base")
    assert cells[1:6] == ["8", f"{model.mean():.3f}", f"{base.mean():.3f}", f"{(model - base).mean():+.3f}", "6 / 2 / 0"]
    assert cells[6] == f"{wilcoxon(model - base).pvalue:.3g}"
    assert "## model against the best of them, base, per source" in text  # base (0.46) ranks above the reference (0.2)
    aaa = row(text.split("per source")[-1], "AAA")
    assert aaa[1] == "4" and aaa[5] == "3 / 1 / 0" and aaa[6].startswith("n/a (4 of 4 pairs differ, fewer than 6")


def test_a_real_benchmark_run_at_two_seeds(tmp_path):
    root = tmp_path / "files"
    for index in (1, 2):
        labels = np.zeros(300, int)
        labels[205:220] = 1
        values = series(300, 2, 21, index)
        values[labels == 1] += 2.0
        write_tsbad(root, f"{index:03d}_Toy_id_{index}_Sensor_tr_120_1st_205.csv", values, labels)
    fast = ["--set", "data.window=20", "trainer.max_steps=3", "device=cpu", "num_threads=1"]
    for seed in (0, 1):
        extra = ["--random"] if seed == 0 else []
        assert bench.main(["--root", str(root), "--configs", "dense_ae", *extra, "--out", str(tmp_path / f"s{seed}"), *fast, f"seed={seed}"]) == 0
    assert leaderboard.main([str(tmp_path / "s0"), str(tmp_path / "s1"), "--target", "dense_ae", "--root", str(root)]) == 0
    text = (tmp_path / leaderboard.REPORT).read_text()
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("s*/results/dense_ae/*.json"))]
    assert len(results) == 4 and row(text, "dense_ae")[2] == f"{np.mean([r['metrics']['vus_pr'] for r in results]):.3f}"
    assert row(text, "dense_ae")[6] == "2" and row(text, "random")[6] == "-" and "| method | Toy (2) | all (2) |" in text
    ensemble = []
    for path in sorted(root.glob("*.csv")):
        scores = [np.load(tmp_path / f"s{seed}" / "scores" / "dense_ae" / f"{path.stem}.npy") for seed in (0, 1)]
        mean = np.mean([(s - s.mean()) / s.std() for s in scores], axis=0)
        window = next(r["window"] for r in results if r["file"] == path.name)
        ensemble.append(threshold_free_metrics(pd.read_csv(path)["Label"].to_numpy(), mean, window)["vus_pr"])
    cells = row(text.split("## The seed-mean score against one seed")[1], "dense_ae")
    assert cells[1:4] == ["2", f"{np.mean(ensemble):.3f}", f"{np.mean([r['metrics']['vus_pr'] for r in results]):.3f}"]
    assert "random" not in text.split("## The seed-mean score against one seed")[1]  # one run per file: no seed mean


def test_bad_folders_and_targets_are_one_line_errors(seeds, tmp_path, capsys):
    folders, _ = seeds
    assert leaderboard.main([str(tmp_path / "nowhere")]) == 2
    assert leaderboard.main([str(f) for f in folders] + ["--target", "kambad"]) == 2
    err = capsys.readouterr().err
    assert "No results/ under" in err and "--target kambad: no finished run of it; the methods are TSB-AD:Ref, base, model" in err


def test_the_wilcoxon_p_is_scipys_or_says_why_not():
    differences = np.array([0.3, -0.1, 0.2, 0.4, 0.0, 0.5, 0.25, -0.05])
    assert paired_test(differences, "full") == (pytest.approx(wilcoxon(differences).pvalue), None)
    assert paired_test(np.full(8, 0.1), "full")[0] == pytest.approx(2 / 2**8)  # all eight positive: the exact two-sided p
    assert paired_test(np.zeros(9), "full")[1].startswith("every paired VUS-PR difference is 0")
    assert "5 of 9 pairs differ, fewer than 6" in paired_test(np.r_[np.zeros(4), np.ones(5)], "full")[1]
    assert paired_test(np.array([]), "full")[1] == "no pair that full finished too"
    assert wins_losses_ties(differences) == (5, 2, 1)
