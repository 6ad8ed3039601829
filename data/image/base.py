"""What every image dataset shares: the sample list, loading and resizing, the validation split
(held-out *training* images) and the loaders the trainer and the image evaluator consume."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from util.distributed import ShardedBatchSampler
from util.errors import ConfigError, DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Sample:
    """One image on disk; ``mask`` is None for normal images (an all-zero mask)."""

    path: Path
    cls: str
    label: int
    mask: Path | None = None
    defect: str = "good"


@dataclass
class ClassSplit:
    """The training (normal only) and test samples of one class."""

    train: list[Sample]
    test: list[Sample]


class ImageDataset(Dataset):
    """Reads samples with PIL: ``img`` ``(3, S, S)`` ImageNet-normalised, ``mask`` ``(1, S, S)`` in {0, 1}."""

    def __init__(self, samples: list[Sample], image_size: int) -> None:
        self.samples, self.image_size = samples, image_size
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def _open(self, path: Path, mode: str) -> Image.Image:
        try:
            with Image.open(path) as image:
                return image.convert(mode)
        except (OSError, ValueError) as exc:
            raise DataError(f"Cannot read image {path}: {exc}. Replace or remove the file.") from exc

    def __getitem__(self, index: int) -> dict:
        sample, size = self.samples[index], self.image_size
        image = self._open(sample.path, "RGB").resize((size, size), Image.BILINEAR)
        img = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        if sample.mask is None:
            mask = torch.zeros(1, size, size)
        else:
            # any non-zero value is a defect (VisA masks store region ids, MVTec 255)
            mask_image = self._open(sample.mask, "L").resize((size, size), Image.NEAREST)
            mask = torch.from_numpy((np.asarray(mask_image) > 0).astype(np.float32))[None]
        return {
            "img": (img - self.mean) / self.std,
            "mask": mask,
            "label": torch.tensor(sample.label, dtype=torch.long),
            "cls": sample.cls,
            "path": str(sample.path),
        }


def split_validation(train: list[Sample], fraction: float, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(fit, val): a fixed random ``fraction`` of one class's training images held out (at least one
    when ``fraction > 0`` and two or more images exist)."""
    n_val = int(round(len(train) * fraction))
    if fraction > 0 and len(train) >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, len(train) - 1)
    held_out = set(np.random.default_rng(seed).permutation(len(train))[: max(n_val, 0)].tolist())
    return [s for i, s in enumerate(train) if i not in held_out], [s for i, s in enumerate(train) if i in held_out]


class ImageData:
    """Prepared image data: loaders for training, validation (held-out normal training images) and test."""

    family = "image"

    def __init__(self, source: "ImageSource", splits: dict[str, ClassSplit]) -> None:
        self.source = source
        self.class_names = list(splits)
        self.train_samples, self.val_samples, self.test_samples = [], [], []
        for cls, split in splits.items():
            fit, val = split_validation(split.train, source.val_fraction)
            self.train_samples += fit
            self.val_samples += val
            self.test_samples += split.test

    @property
    def model_kwargs(self) -> dict:
        """Keyword arguments every image detector is built with."""
        return {"image_size": self.source.image_size}

    def _loader(self, samples: list[Sample]) -> DataLoader:
        return DataLoader(
            ImageDataset(samples, self.source.image_size),
            batch_size=self.source.batch_size,
            num_workers=self.source.num_workers,
            pin_memory=torch.cuda.is_available(),
        )

    def train_loader(self, seed: int, rank: int = 0, num_replicas: int = 1) -> DataLoader:
        """Shuffled normal training images of every selected class; the order depends on ``seed`` only.

        Under torchrun, rank ``rank``'s share of each global batch (``util.distributed``).
        """
        return DataLoader(
            ImageDataset(self.train_samples, self.source.image_size),
            batch_sampler=ShardedBatchSampler(len(self.train_samples), self.source.batch_size, seed, rank, num_replicas),
            num_workers=self.source.num_workers,
            pin_memory=torch.cuda.is_available(),
        )

    def val_loader(self) -> DataLoader | None:
        """Held-out normal training images (validation loss), or None when ``val_fraction`` is 0."""
        return self._loader(self.val_samples) if self.val_samples else None

    def test_loader(self) -> DataLoader:
        """Every test image once, class by class, with masks and labels."""
        return self._loader(self.test_samples)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A real batch of training images ``{"img": (B, 3, S, S)}``, for FLOP counting."""
        dataset = ImageDataset(self.train_samples, self.source.image_size)
        return {"img": torch.stack([dataset[i % len(dataset)]["img"] for i in range(batch_size)])}

    def describe(self) -> str:
        """One line for logs."""
        anomalous = sum(s.label for s in self.test_samples)
        return (
            f"{self.source.describe()}: {len(self.class_names)} class{'es' if len(self.class_names) != 1 else ''} "
            f"({', '.join(self.class_names)}), {len(self.train_samples)} train / {len(self.val_samples)} val / "
            f"{len(self.test_samples)} test images ({anomalous} anomalous), {self.source.image_size} px"
        )


class ImageSource:
    """Base of every registered image dataset.

    Subclasses read their community's layout: ``available_classes()`` and ``read_class(cls)``.

    Args:
        root: dataset folder.
        classes: ``"all"``, one class name or a list; all selected classes train one model
            (the multi-class setting of MambaAD/MTAD).
        image_size: side of the square images fed to the model (px).
        batch_size: images per batch.
        val_fraction: share of each class's *normal training* images held out for the
            validation loss; the test set is never used for validation.
        num_workers: DataLoader workers.
    """

    family = "image"

    def __init__(
        self,
        root: str = "datasets",
        classes: str | list[str] = "all",
        image_size: int = 256,
        batch_size: int = 16,
        val_fraction: float = 0.1,
        num_workers: int = 0,
    ) -> None:
        self.root = Path(root)
        self.classes, self.image_size, self.batch_size = classes, image_size, batch_size
        self.val_fraction, self.num_workers = val_fraction, num_workers

    def available_classes(self) -> list[str]:
        """Every class found under ``root``, sorted."""
        raise NotImplementedError

    def read_class(self, cls: str) -> ClassSplit:
        """The samples of one class; raise ``DataError`` when its files are missing or malformed."""
        raise NotImplementedError

    def selected_classes(self) -> list[str]:
        """The classes named by ``classes``, checked against what exists under ``root``."""
        available = self.available_classes()
        if not available:
            raise DataError(f"No {type(self).__name__} classes found under {self.root}; check data.root.")
        if self.classes == "all":
            return available
        wanted = [self.classes] if isinstance(self.classes, str) else list(self.classes)
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise ConfigError(f"data.classes names {unknown} not found under {self.root}; available: {', '.join(available)}.")
        return wanted

    def prepare(self) -> ImageData:
        """Validate parameters and read every selected class."""
        for name, value in (("image_size", self.image_size), ("batch_size", self.batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name} must be a positive integer, got {value!r}.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction!r}.")
        splits = {cls: self.read_class(cls) for cls in self.selected_classes()}
        for cls, split in splits.items():
            if not split.train or not split.test:
                raise DataError(f"Class '{cls}' under {self.root} has {len(split.train)} training and {len(split.test)} test images; both must be non-empty.")
        return ImageData(self, splits)

    def describe(self) -> str:
        """One line for logs: name and where the data comes from."""
        return f"{type(self).__name__} at {self.root}"
