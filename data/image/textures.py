"""The built-in texture benchmark: MVTec-like classes generated from scikit-image's texture photographs
on first use (see ``data.image.texture_generator``) and then read like MVTec AD."""
from __future__ import annotations

from data.image.base import ClassSplit
from data.image.mvtec import MVTecSource
from data.image.texture_generator import TEXTURE_PHOTOS, TextureSpec, ensure_class
from util.errors import ConfigError
from util.registry import DATASETS


@DATASETS.register("textures")
class TexturesSource(MVTecSource):
    """Synthetic-defect texture benchmark written under ``root`` (default ``datasets/textures``).

    Args:
        generated_size: side of the generated images (px); the model input is ``image_size``.
        n_train: normal training images per class (before the validation split).
        n_test_good: normal test images per class.
        n_test_per_defect: test images per defect kind (5 kinds) per class.
        seed: generation seed; the same seed writes byte-identical files.
        root, classes, image_size, batch_size, val_fraction, num_workers: see ``ImageSource``.
    """

    def __init__(
        self,
        root: str = "datasets/textures",
        generated_size: int = 128,
        n_train: int = 60,
        n_test_good: int = 10,
        n_test_per_defect: int = 4,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(root=root, **kwargs)
        for name, value in (("generated_size", generated_size), ("n_train", n_train), ("n_test_good", n_test_good), ("n_test_per_defect", n_test_per_defect)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name} must be a positive integer, got {value!r}.")
        self.spec = TextureSpec(generated_size, n_train, n_test_good, n_test_per_defect, seed)

    def available_classes(self) -> list[str]:
        return sorted(TEXTURE_PHOTOS)

    def read_class(self, cls: str) -> ClassSplit:
        self.root.mkdir(parents=True, exist_ok=True)
        ensure_class(self.root, cls, self.spec)
        return super().read_class(cls)

    def describe(self) -> str:
        return f"built-in textures at {self.root} ({self.spec.image_px} px, seed {self.spec.seed})"
