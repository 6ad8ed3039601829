"""Writes the built-in texture benchmark in the MVTec AD layout, deterministically from a seed.

The clean images are crops of real texture photographs bundled with scikit-image (no download).
Each photograph is cut into two disjoint bands: training crops come from the first 60 % of its
width, test crops (normal and defective) from the rest, so no test pixel was seen in training.
Crops get a random flip/rotation; defects come from ``data.image.defects`` with exact masks.
A class folder is complete once its marker file exists; the marker records the generator
version and every parameter, so a changed parameter regenerates the class and nothing else.
"""
from __future__ import annotations

import json
import shutil
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from data.image.defects import DEFECT_KINDS, make_defect
from util.errors import DataError

GENERATOR_VERSION = 1
MARKER = ".generated.json"
TRAIN_SHARE = 0.6

# class name -> scikit-image photograph (all bundled with the package, none needs pooch)
TEXTURE_PHOTOS = {
    "brick": "brick",
    "grass": "grass",
    "gravel": "gravel",
    "tissue": "immunohistochemistry",
}


@dataclass(frozen=True)
class TextureSpec:
    """Sizes and seed of the benchmark (recorded in each class's marker)."""

    image_px: int = 128
    n_train: int = 60
    n_test_good: int = 10
    n_test_per_defect: int = 4
    seed: int = 0


def load_photo(cls: str) -> np.ndarray:
    """The photograph behind ``cls`` as ``(H, W, 3)`` uint8 (grey photographs are replicated)."""
    import skimage.data

    photo = getattr(skimage.data, TEXTURE_PHOTOS[cls])()
    return np.repeat(photo[..., None], 3, axis=2) if photo.ndim == 2 else photo[..., :3]


def split_bands(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(training band, test band): disjoint column ranges of the photograph."""
    cut = int(photo.shape[1] * TRAIN_SHARE)
    return photo[:, :cut], photo[:, cut:]


def random_crop(band: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A square crop ``(size, size, 3)`` of ``band`` at a random place with a random flip/rotation
    (resampled when the band is narrower than ``size``)."""
    side = min(size, band.shape[0], band.shape[1])
    y, x = rng.integers(0, band.shape[0] - side + 1), rng.integers(0, band.shape[1] - side + 1)
    crop = band[y : y + side, x : x + side]
    if side != size:
        crop = np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC))
    crop = np.rot90(crop, k=int(rng.integers(0, 4)))
    return np.ascontiguousarray(crop[:, ::-1] if rng.integers(0, 2) else crop)


def class_rng(cls: str, seed: int) -> np.random.Generator:
    """A generator that depends on the class and the seed only (not on which classes are selected)."""
    return np.random.default_rng([seed, zlib.crc32(cls.encode())])


def _write(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def write_class(root: Path, cls: str, spec: TextureSpec) -> None:
    """Generate one class under ``root/cls`` in the MVTec layout, then write its marker."""
    rng = class_rng(cls, spec.seed)
    train_band, test_band = split_bands(load_photo(cls))
    others = [c for c in TEXTURE_PHOTOS if c != cls]
    foreign_bands = [split_bands(load_photo(c))[1] for c in others]
    folder, size = root / cls, spec.image_px
    for i in range(spec.n_train):
        _write(random_crop(train_band, size, rng), folder / "train" / "good" / f"{i:03d}.png")
    for i in range(spec.n_test_good):
        _write(random_crop(test_band, size, rng), folder / "test" / "good" / f"{i:03d}.png")
    for kind in DEFECT_KINDS:
        for i in range(spec.n_test_per_defect):
            clean = random_crop(test_band, size, rng)
            donor = random_crop(test_band, size, rng)
            foreign = random_crop(foreign_bands[int(rng.integers(0, len(others)))], size, rng)
            image, mask = make_defect(kind, clean, rng, donor, foreign)
            _write(image, folder / "test" / kind / f"{i:03d}.png")
            _write(mask.astype(np.uint8) * 255, folder / "ground_truth" / kind / f"{i:03d}_mask.png")
    (folder / MARKER).write_text(json.dumps(marker_content(cls, spec), indent=2))


def marker_content(cls: str, spec: TextureSpec) -> dict:
    """What the marker of a complete class records."""
    return {"generator_version": GENERATOR_VERSION, "photo": f"skimage.data.{TEXTURE_PHOTOS[cls]}", **asdict(spec)}


def ensure_class(root: Path, cls: str, spec: TextureSpec) -> bool:
    """Generate ``cls`` unless an identical generation is already on disk; True if it wrote files.

    A folder with a different marker (other version or parameters) or an unfinished generation
    (files but no marker written by this generator) is replaced; a folder holding files this
    generator did not write is never touched.
    """
    folder = root / cls
    marker = folder / MARKER
    if marker.is_file():
        if json.loads(marker.read_text()) == marker_content(cls, spec):
            return False
        shutil.rmtree(folder)
    elif folder.exists() and any(folder.iterdir()):
        ours = {"train", "test", "ground_truth"}
        if not {p.name for p in folder.iterdir()} <= ours:
            raise DataError(f"{folder} exists and was not written by the texture generator; choose another data.root.")
        shutil.rmtree(folder)
    write_class(root, cls, spec)
    return True
