"""An image detector trains through the generic trainer (the loop every family shares)."""
import torch

from trainer.base import BEST, Trainer
from util.config import load
from util.registry import DATASETS, DETECTORS


def test_mtad_trains_one_step_on_textures_through_the_trainer(tmp_path):
    torch.set_num_threads(1)
    cfg = load("configs/mtad/mtad_textures.py", [
        f"data.root={tmp_path / 'textures'}", "data.n_train=4", "data.n_test_good=1", "data.n_test_per_defect=1",
        "data.image_size=64", "data.generated_size=64", "data.batch_size=2", "data.classes=brick",
        "model.encoder.checkpoint=None",
    ])
    data = DATASETS.build(cfg["data"]).prepare()
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs)
    trainer = Trainer(detector=detector, data=data, run_dir=tmp_path, device=torch.device("cpu"), epochs=1, max_steps=1, progress=False)
    trainer.fit()
    assert trainer.step == 1 and (tmp_path / BEST).is_file()
