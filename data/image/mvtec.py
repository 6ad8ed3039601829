"""MVTec AD layout: ``<cls>/train/good/*.png``, ``<cls>/test/<defect>/*.png``,
``<cls>/ground_truth/<defect>/<stem>_mask.png`` (no masks for ``test/good``)."""
from __future__ import annotations

from pathlib import Path

from data.image.base import ClassSplit, ImageSource, Sample
from util.errors import DataError
from util.registry import DATASETS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(folder: Path) -> list[Path]:
    """Image files of one folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


@DATASETS.register("mvtec")
class MVTecSource(ImageSource):
    """MVTec AD (or any dataset written in its layout). See ``ImageSource`` for the parameters."""

    def available_classes(self) -> list[str]:
        if not self.root.is_dir():
            raise DataError(f"MVTec root {self.root} does not exist; set data.root to the folder holding the class folders.")
        return sorted(p.name for p in self.root.iterdir() if (p / "train" / "good").is_dir())

    def read_class(self, cls: str) -> ClassSplit:
        folder = self.root / cls
        train = [Sample(p, cls, 0) for p in list_images(folder / "train" / "good")]
        test = []
        defects = sorted(p.name for p in (folder / "test").iterdir() if p.is_dir()) if (folder / "test").is_dir() else []
        for defect in defects:
            for path in list_images(folder / "test" / defect):
                if defect == "good":
                    test.append(Sample(path, cls, 0))
                    continue
                mask = folder / "ground_truth" / defect / f"{path.stem}_mask.png"
                if not mask.is_file():
                    raise DataError(f"Missing ground-truth mask {mask} for test image {path}.")
                test.append(Sample(path, cls, 1, mask, defect))
        return ClassSplit(train, test)
