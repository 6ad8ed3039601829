"""The one evaluator of every image detector (ADer conventions).

It scores each test image once, smooths the anomaly maps (Gaussian; MambaAD/MTAD's sigma of 4 px
at 256 px, scaled with the image size unless set),
takes the map maximum as the image score unless the detector gives one, computes the seven
image metrics and mAD per class and their mean over classes, and writes ``results.json``,
``results.md`` and one figure per class (input / ground truth / anomaly map) to ``plots/``.
"""
from __future__ import annotations

import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from data.image.base import IMAGENET_MEAN, IMAGENET_STD, ImageData
from metric.image import compute_image_metrics, mean_over_classes
from model.detectors.base import Detector
from trainer.evaluator import Evaluator
from trainer.reports import image_markdown
from trainer.run_folder import RunFolder
from util.device import move_batch
from util.registry import EVALUATORS

# MambaAD and MTAD blur their maps with sigma 4 px at 256 px; other sizes scale it.
REFERENCE_SIGMA, REFERENCE_SIDE = 4.0, 256


def anomaly_maps(maps: torch.Tensor, image_score: torch.Tensor | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """(maps ``(B, H, W)`` float32 at the mask size, image scores ``(B,)`` or None) from ``detector.score``'s
    maps ``(B, H, W)`` and ``detector.image_scores`` (None: none of its own)."""
    maps = maps.float()
    if tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    scores = None if image_score is None else image_score.float().cpu().numpy().reshape(-1)
    return maps.cpu().numpy(), scores


@EVALUATORS.register("image")
class ImageEvaluator(Evaluator):
    """Evaluates an image detector on every test image (see the module docstring); nothing to
    check before training, nothing to finalize.

    Args:
        gaussian_sigma: sigma (px) of the Gaussian applied to each anomaly map; None: 4 px per
            256 px of map side (the papers' 4 px at 256 px, 2 px at 128 px); 0 disables it
            (detectors return unsmoothed maps).
        max_pixels_for_metrics: above this many pixels per class, pixel metrics use every k-th
            pixel (recorded in the results); None uses all of them.
        save_grid: write ``plots/<class>.png``.
        grid_images: images per class figure.
    """

    def __init__(
        self,
        gaussian_sigma: float | None = None,
        max_pixels_for_metrics: int | None = 20_000_000,
        save_grid: bool = True,
        grid_images: int = 8,
    ) -> None:
        self.sigma, self.max_pixels = gaussian_sigma, max_pixels_for_metrics
        self.save_grid, self.grid_images = save_grid, grid_images

    def blur_sigma(self, side: int) -> float:
        """Sigma (px) of the Gaussian for maps of ``side`` px (see ``gaussian_sigma``)."""
        return REFERENCE_SIGMA * side / REFERENCE_SIDE if self.sigma is None else float(self.sigma)

    def evaluate(self, detector: Detector, data: ImageData, folder: RunFolder, device: torch.device, info: dict[str, Any] | None = None) -> dict:
        """Score the test set, write the reports into ``folder``; return the results (as in ``results.json``)."""
        start = time.perf_counter()
        collected = self._score(detector, data, device)
        seconds = time.perf_counter() - start
        per_class = {
            cls: compute_image_metrics(c["labels"], c["scores"], c["masks"], c["maps"], max_pixels=self.max_pixels)
            for cls, c in collected.items()
        }
        n_images = sum(len(c["labels"]) for c in collected.values())
        side = next(iter(collected.values()))["masks"].shape[-1]
        results = {
            "detector": (info or {}).get("detector", type(detector).__name__),
            "metrics": mean_over_classes(per_class),
            "per_class": per_class,
            "dataset": {"description": data.describe(), "classes": list(collected), "test_images": n_images},
            "gaussian_sigma": self.blur_sigma(side),
            "max_pixels_for_metrics": self.max_pixels,
            "test_images_per_second": n_images / seconds,
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
            **(info or {}),
        }
        folder.write_results(results, image_markdown(results))
        if self.save_grid:
            folder.plots.mkdir(exist_ok=True)
            for cls, c in collected.items():
                plot_grid(folder.plots / f"{cls}.png", c["shown"], cls)
        return results

    @torch.inference_mode()
    def _score(self, detector: Detector, data: ImageData, device: torch.device) -> dict[str, dict[str, Any]]:
        """Per class: labels, image scores, masks, smoothed maps and the images chosen for the figure."""
        shown = self._images_to_show(data)
        parts: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        detector.eval()
        index = 0
        for batch in tqdm(data.test_loader(), desc="testing", leave=False, dynamic_ncols=True):
            masks = batch["mask"][:, 0].numpy().astype(bool)
            inputs = move_batch(batch, device)
            maps = detector.score(inputs)
            maps, scores = anomaly_maps(maps, detector.image_scores(inputs, maps), masks.shape[-2:])
            sigma = self.blur_sigma(masks.shape[-1])
            if sigma:
                maps = gaussian_filter(maps, sigma=(0, sigma, sigma))
            scores = maps.reshape(len(maps), -1).max(axis=1) if scores is None else scores
            for i, cls in enumerate(batch["cls"]):
                part = parts[cls]
                part["labels"].append(int(batch["label"][i]))
                part["scores"].append(float(scores[i]))
                part["masks"].append(masks[i])
                part["maps"].append(maps[i].astype(np.float32))
                if index in shown:
                    part["shown"].append((_denormalise(batch["img"][i]), masks[i], maps[i]))
                index += 1
        return {
            cls: {
                "labels": np.array(p["labels"]),
                "scores": np.array(p["scores"]),
                "masks": np.stack(p["masks"]),
                "maps": np.stack(p["maps"]),
                "shown": p["shown"],
            }
            for cls, p in parts.items()
        }

    def _images_to_show(self, data: ImageData) -> set[int]:
        """Test-set positions of up to ``grid_images`` images per class, spread over its normal and defective ones."""
        by_class: dict[str, list[int]] = defaultdict(list)
        for position, sample in enumerate(data.test_samples):
            by_class[sample.cls].append(position)
        chosen: set[int] = set()
        for positions in by_class.values():
            picks = np.linspace(0, len(positions) - 1, min(self.grid_images, len(positions))).round().astype(int)
            chosen.update(positions[i] for i in picks)
        return chosen if self.save_grid else set()


def _denormalise(img: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` ImageNet-normalised tensor -> ``(H, W, 3)`` float image in [0, 1]."""
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (img.float().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def plot_grid(path: Path, shown: list[tuple[np.ndarray, np.ndarray, np.ndarray]], title: str) -> None:
    """Rows: input, ground-truth mask, anomaly map over the input (one colour scale per figure)."""
    if not shown:
        return
    maps = np.stack([m for _, _, m in shown])
    low, high = float(maps.min()), float(maps.max())
    fig, axes = plt.subplots(3, len(shown), figsize=(1.8 * len(shown), 5.6), squeeze=False)
    for col, (img, mask, amap) in enumerate(shown):
        axes[0, col].imshow(img)
        axes[1, col].imshow(mask, cmap="gray", vmin=0, vmax=1)
        axes[2, col].imshow(img)
        axes[2, col].imshow(amap, cmap="jet", alpha=0.5, vmin=low, vmax=high)
        for ax in axes[:, col]:
            ax.set_xticks([])
            ax.set_yticks([])
    for row, name in enumerate(("input", "ground truth", "anomaly map")):
        axes[row, 0].set_ylabel(name)
    fig.suptitle(f"{title} (map scale {low:.3g} to {high:.3g})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
