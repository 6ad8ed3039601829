"""Issue 23's KambaAD ablation: the declared variants (benchmarks/kambaad_ablations.py) and tools/ablate.py
(variants x seeds on TSB-AD files, resumable, overrides recorded, the paired report with Wilcoxon tests)."""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from benchmarks.kambaad_ablations import ATTENTION, KAN, MAMBA, SIZE_TOLERANCE, VARIANTS
from tests.test_tsbad import series, write_tsbad
from tools import ablate
from tools import tsbad_benchmark as bench
from trainer.api import as_overrides
from util.config import load

FAST = ["--set", "data.window=20", "trainer.max_steps=2", "device=cpu", "num_threads=1"]


def dotted(cfg: dict, key: str):
    """The value of a dotted key in a loaded config."""
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def test_every_variant_loads_with_exactly_its_overrides():
    base = load(ablate.CONFIG)
    assert base["model"]["blocks"] == [KAN, ATTENTION, MAMBA] and VARIANTS["full"] == {}
    for name, overrides in VARIANTS.items():
        cfg = load(ablate.CONFIG, as_overrides(overrides))  # list values (the blocks) round-trip through key=value
        assert all(dotted(cfg, key) == value for key, value in overrides.items()), name
        untouched = {k: v for k, v in base["model"].items() if f"model.{k}" not in overrides and k != "reconstructor"}
        assert {k: cfg["model"][k] for k in untouched} == untouched, name
    cd = load(ablate.CONFIG, as_overrides(VARIANTS["cd_reconstruction"]))["model"]["reconstructor"]
    assert cd == dict(type="patch_cd", patch_len=8, stride=4)  # only the type changes


@pytest.mark.usefixtures("seeded_one_thread")
def test_the_size_matched_variants_have_the_full_models_parameters_at_25_features():
    def count(name: str) -> int:
        return ablate.parameters(as_overrides(VARIANTS[name]), 25)

    full = count("full")
    assert (full, count("encoder_only_size_matched"), count("reconstructor_only_size_matched")) == (925_437, 919_065, 923_412)  # as the file says
    for stage in ("encoder_only", "reconstructor_only"):
        assert abs(count(f"{stage}_size_matched") / full - 1) <= SIZE_TOLERANCE < abs(count(stage) / full - 1), stage


def test_unknown_variants_and_bad_overrides_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "out"
    assert ablate.main(["--root", str(tmp_path), "--out", str(out), "--variants", "full", "no_kam"]) == 2
    assert ablate.main(["--root", str(tmp_path), "--out", str(out), "--variants", "full", "--set", "model.d_modle=8"]) == 2
    assert ablate.main(["--out", str(out), "--report"]) == 2
    err = capsys.readouterr().err
    assert "--variants no_kam: not declared in benchmarks/kambaad_ablations.py; choose from full, kan_point" in err
    assert "Unknown key 'd_modle' for 'model'" in err and "No results under" in err
    assert not out.exists()


@pytest.fixture
def toy(tmp_path):
    """Four toy TSB-AD files: a tuning list of two, an evaluation list of one, and one on neither list."""
    root = tmp_path / "files"
    names = [f"{i:03d}_{dataset}_id_{i}_Sensor_tr_120_1st_{200 + 5 * i}.csv" for i, dataset in enumerate(("Toy", "Toy", "Other", "Toy"), 1)]
    for index, name in enumerate(names, 1):
        labels = np.zeros(300, int)
        labels[200 + 5 * index : 215 + 5 * index] = 1
        values = series(300, 2, 20 + index, index)
        values[labels == 1] += 2.0
        write_tsbad(root, name, values, labels)
    pd.DataFrame({"file_name": names[:2]}).to_csv(tmp_path / "tuning.csv", index=False)
    pd.DataFrame({"file_name": names[2:3]}).to_csv(tmp_path / "evaluation.csv", index=False)
    lists = ["--tuning-list", str(tmp_path / "tuning.csv"), "--evaluation-list", str(tmp_path / "evaluation.csv")]
    return {"root": root, "names": names, "lists": lists, "tuning": tmp_path / "tuning.csv", "evaluation": tmp_path / "evaluation.csv"}


def test_files_default_to_the_tuning_list_may_be_evaluation_files_and_never_unlisted_ones(toy):
    def files(spec, datasets=None, max_files=None):
        return [p.name[:3] for p in ablate.ablation_files(toy["root"], spec, datasets, toy["tuning"], toy["evaluation"], max_files)]

    assert files(None) == ["001", "002"] and files(None, max_files=1) == ["001"]
    assert files([toy["names"][2], toy["names"][0]]) == ["001", "003"]  # the evaluation file is allowed, sorted as tune.spread sorts
    assert files(["00[123]_*.csv"], datasets=["Other"]) == ["003"]
    with pytest.raises(ablate.ConfigError, match="on neither the tuning list"):
        files([toy["names"][3]])
    with pytest.raises(ablate.ConfigError, match="none of the files"):
        files(None, datasets=["SMD"])


@pytest.mark.usefixtures("seeded_one_thread")
def test_ablate_runs_variants_and_seeds_keeps_logs_resumes_and_refuses_changed_overrides(toy, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--root", str(toy["root"]), *toy["lists"], "--variants", "full", "no_mamba", "--seeds", "0", "--out", str(out)]
    assert ablate.main([*args, *FAST]) == 0
    for label in ("full-s0", "no_mamba-s0"):
        assert sorted(p.stem[:3] for p in (out / "results" / label).glob("*.json")) == ["001", "002"]
        assert json.loads((out / "logs" / label / f"{Path(toy['names'][1]).stem}.json").read_text())["steps"] == 2
    manifest = json.loads((out / "ablation.json").read_text())
    assert manifest["no_mamba-s0"] == ["model.blocks=[{'type': 'kan_window'}, {'type': 'attention', 'n_heads': 4}]", "seed=0", *FAST[1:]]
    assert json.loads((out / "widths.json").read_text()) == {toy["names"][0]: 2, toy["names"][1]: 2}
    stamps = {p: p.stat().st_mtime_ns for p in (out / "results").glob("*/*.json")}
    assert ablate.main([*args, *FAST]) == 0
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items())  # finished runs are skipped
    assert ablate.main([*args, *FAST[:-1], "num_threads=2"]) == 2  # a changed --set is refused
    assert "holds full-s0 run with" in capsys.readouterr().err
    assert ablate.main(["--out", str(out), "--report", *toy["lists"]]) == 0
    text = capsys.readouterr().out
    assert text == (out / "ablation_report.md").read_text() and "`--set`: `data.window=20 trainer.max_steps=2 device=cpu num_threads=1`" in text
    row = next(line for line in text.splitlines() if line.startswith("| no_mamba |")).split(" | ")
    assert int(row[1].replace(",", "")) == ablate.parameters(manifest["no_mamba-s0"], 2) and row[6] == "2" and row[8] == "n/a [1]"
    assert re.search(r"\[1\] no_mamba: (\d of 2 pairs differ, fewer than 6|every paired VUS-PR difference is 0)", text)  # 2 steps may tie


def write_run(out: Path, label: str, file: str, vus: float, steps: int = 100, early: bool = False, cpu: float = 10.0) -> None:
    """One finished (label, file) as tools/tsbad_benchmark.py records it: the result and the training log."""
    metrics = {"vus_pr": vus, "auc_pr": vus - 0.01, "auc_roc": vus + 0.4}
    bench.write_json(out / "results" / label / f"{Path(file).stem}.json", {"file": file, "method": label, "kind": "ours", "window": 20, "metrics": metrics, "seconds": cpu})
    bench.write_json(out / "logs" / label / f"{Path(file).stem}.json", {"steps": steps, "early_stopped": early, "cpu_seconds": {"fit": cpu - 1, "score": 1.0}})


KAN_POINT_GAIN = [0.05, -0.02, 0.03, 0.01, 0.0, 0.04, -0.01, 0.06]  # per (file, seed): 5 wins, 2 losses, 1 tie


@pytest.fixture
def handmade(toy, tmp_path):
    """Results of full and four variants on four files and two seeds, written by hand."""
    out = tmp_path / "hand"
    _, overrides = ablate.plan(["full", "kan_point", "no_mamba", "cd_reconstruction"], [0, 1], ["num_threads=1"])
    bench.write_json(out / "ablation.json", overrides | ablate.plan(["no_kan"], [5], ["num_threads=1"])[1])
    bench.write_json(out / "widths.json", {name: 25 for name in toy["names"]})
    full = {}
    for i, name in enumerate(toy["names"]):
        for seed in (0, 1):
            full[name, seed] = 0.2 + 0.1 * i + 0.03 * seed
            write_run(out, f"full-s{seed}", name, full[name, seed], steps=100, early=seed == 1, cpu=10.0)
            write_run(out, f"kan_point-s{seed}", name, full[name, seed] + KAN_POINT_GAIN[2 * i + seed], steps=50, cpu=4.0)
            write_run(out, f"no_mamba-s{seed}", name, full[name, seed])
    for name in toy["names"][:3]:
        write_run(out, "cd_reconstruction-s0", name, full[name, 0] + 0.1)
    bench.write_json(out / "results" / "cd_reconstruction-s1" / f"{Path(toy['names'][0]).stem}.json",
                     {"file": toy["names"][0], "method": "cd_reconstruction-s1", "kind": "ours", "error": "RuntimeError: boom", "seconds": 1.0})
    write_run(out, "no_kan-s5", toy["names"][0], 0.3)  # a seed full never ran: no pair
    return {"out": out, "full": full}


def rows(text: str) -> dict[str, list[str]]:
    """The report table's cells by variant."""
    return {cells[0]: cells[1:] for cells in (line.strip("| ").split(" | ") for line in text.splitlines() if line.startswith("| ") and "---" not in line)}


@pytest.mark.usefixtures("seeded_one_thread")
def test_the_report_pairs_each_variant_with_full_and_tests_the_differences(toy, handmade, capsys):
    out, full = handmade["out"], handmade["full"]
    assert ablate.main(["--out", str(out), "--report", *toy["lists"]]) == 0
    text = capsys.readouterr().out
    table = rows(text)
    assert list(table) == ["variant", "full", "kan_point", "cd_reconstruction", "no_kan", "no_mamba"]  # the declared order
    titles = table["variant"]
    cell = {variant: dict(zip(titles, cells)) for variant, cells in table.items()}

    kan_point = np.array([full[name, seed] for name in toy["names"] for seed in (0, 1)]) + KAN_POINT_GAIN
    expected = wilcoxon(kan_point, [full[name, seed] for name in toy["names"] for seed in (0, 1)]).pvalue
    assert cell["kan_point"]["p"] == f"{expected:.3g}" and cell["kan_point"]["W / L / T"] == "5 / 2 / 1" and cell["kan_point"]["pairs"] == "8"
    assert cell["kan_point"]["VUS-PR"] == f"{kan_point.mean():.3f}" and cell["kan_point"]["Δ VUS-PR"] == f"{np.mean(KAN_POINT_GAIN):+.3f}"
    assert cell["kan_point"]["steps"] == "50" and cell["kan_point"]["CPU s / run"] == "4.0" and cell["kan_point"]["early stop"] == "0%"
    assert cell["full"]["p"] == "reference" and cell["full"]["early stop"] == "50%" and cell["full"]["pairs"] == "8"
    assert cell["full"]["parameters"] == "925,437" and cell["kan_point"]["parameters"] == "270,397"

    assert cell["no_mamba"]["W / L / T"] == "0 / 0 / 8" and cell["no_mamba"]["p"].startswith("n/a [")
    assert cell["cd_reconstruction"]["pairs"] == "3" and cell["cd_reconstruction"]["W / L / T"] == "3 / 0 / 0"
    assert cell["no_kan"]["pairs"] == "0" and cell["no_kan"]["VUS-PR"] == "n/a" and cell["no_kan"]["Δ VUS-PR"] == "n/a"
    notes = {line.split("] ")[1].split(":")[0]: line for line in text.splitlines() if line.startswith("[")}
    assert "3 of 3 pairs differ, fewer than 6: the smallest two-sided p they allow is 0.25" in notes["cd_reconstruction"]
    assert "every paired VUS-PR difference is 0 (8 ties)" in notes["no_mamba"] and "no pair that full finished too" in notes["no_kan"]
    for variant in ("cd_reconstruction", "no_mamba", "no_kan"):
        assert f"[{notes[variant][1]}]" in cell[variant]["p"]  # each n/a points at its own footnote

    assert "Seeds: 0, 1, 5. Files (4):" in text and "`--set`: `num_threads=1`" in text and "4 in all" in text
    assert f"- `{toy['names'][0]}` (tuning list)" in text and f"- `{toy['names'][2]}` (evaluation list)" in text
    assert f"- `{toy['names'][3]}` (on neither list)" in text and "Failed runs (not in the table; their errors are in results/): cd_reconstruction-s1 1" in text


def test_the_report_needs_runs_of_full(tmp_path, capsys):
    write_run(tmp_path, "kan_point-s0", "001_Toy_id_1_Sensor_tr_120_1st_205.csv", 0.3)
    assert ablate.main(["--out", str(tmp_path), "--report"]) == 2
    assert "No finished run of full" in capsys.readouterr().err
