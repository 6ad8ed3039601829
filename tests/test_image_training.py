"""An image detector trains and tests through run.py's machinery (the loop every family shares)."""
import json

import torch

from trainer.runner import run


def test_mtad_trains_and_tests_on_textures_through_the_runner(tmp_path):
    torch.set_num_threads(1)
    overrides = [
        f"data.root={tmp_path / 'textures'}", "data.n_train=4", "data.n_test_good=1", "data.n_test_per_defect=1",
        "data.image_size=64", "data.generated_size=64", "data.batch_size=2", "data.classes=brick",
        "model.encoder.checkpoint=None", "trainer.epochs=1", "trainer.max_steps=1", "trainer.progress=false",
        f"work_dir={tmp_path / 'run'}",
    ]
    run("configs/mtad/mtad_textures.py", "train", overrides)
    run("configs/mtad/mtad_textures.py", "test", overrides)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(results["per_class"]) == {"brick"}
    assert set(results["metrics"]) == {"i_auroc", "i_ap", "i_f1max", "p_auroc", "p_ap", "p_f1max", "aupro", "mad"}
