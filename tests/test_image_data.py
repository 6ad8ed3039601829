"""Image datasets read the real MVTec AD and VisA layouts; the texture benchmark is deterministic with exact masks."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from data.image.base import IMAGENET_MEAN, IMAGENET_STD
from data.image.defects import DEFECT_KINDS, make_defect
from data.image.texture_generator import MARKER, TextureSpec, class_rng, ensure_class, load_photo, random_crop, split_bands
from util.errors import ConfigError, DataError
from util.registry import DATASETS

SIZE = 32
DEFECT_BOX = (10, 5, 30, 20)  # left, top, right, bottom of the defect in the 40x30 originals


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def photo(value: int, shape=(30, 40)) -> np.ndarray:
    """A flat RGB image (H, W, 3) of one grey value."""
    return np.full((*shape, 3), value, dtype=np.uint8)


def box_mask(value: int = 255) -> np.ndarray:
    mask = np.zeros((30, 40), dtype=np.uint8)
    left, top, right, bottom = DEFECT_BOX
    mask[top:bottom, left:right] = value
    return mask


def expected_mask() -> np.ndarray:
    """The defect box after the loader's nearest-neighbour resize, as {0, 1}."""
    return (np.asarray(Image.fromarray(box_mask()).resize((SIZE, SIZE), Image.NEAREST)) > 0).astype(np.float32)


@pytest.fixture
def mvtec_root(tmp_path):
    """Two classes in the MVTec AD layout: 10 normal train, 2 normal test, 3 'crack' test images each."""
    for cls in ("bottle", "cable"):
        for i in range(10):
            write_png(tmp_path / cls / "train" / "good" / f"{i:03d}.png", photo(100 + i))
        for i in range(2):
            write_png(tmp_path / cls / "test" / "good" / f"{i:03d}.png", photo(50))
        for i in range(3):
            write_png(tmp_path / cls / "test" / "crack" / f"{i:03d}.png", photo(200))
            write_png(tmp_path / cls / "ground_truth" / "crack" / f"{i:03d}_mask.png", box_mask())
    return tmp_path


def build(type_: str, root, **kwargs):
    return DATASETS.build(dict(type=type_, root=str(root), image_size=SIZE, batch_size=4, **kwargs)).prepare()


def all_batches(loader):
    return list(loader)


def test_mvtec_test_loader_yields_images_masks_labels(mvtec_root):
    data = build("mvtec", mvtec_root)
    assert data.family == "image" and data.class_names == ["bottle", "cable"]
    assert data.model_kwargs == {"image_size": SIZE}
    batches = all_batches(data.test_loader())
    assert batches[0]["img"].shape == (4, 3, SIZE, SIZE) and batches[0]["img"].dtype == torch.float32
    assert batches[0]["mask"].shape == (4, 1, SIZE, SIZE)
    labels = torch.cat([b["label"] for b in batches])
    paths = sum((b["path"] for b in batches), [])
    classes = sum((b["cls"] for b in batches), [])
    assert len(paths) == 10 and labels.sum() == 6
    assert classes == ["bottle"] * 5 + ["cable"] * 5
    masks = torch.cat([b["mask"] for b in batches])
    for path, label, mask in zip(paths, labels, masks):
        if label:
            assert "crack" in path
            np.testing.assert_array_equal(mask[0].numpy(), expected_mask())
        else:
            assert mask.sum() == 0


def test_images_are_imagenet_normalised(mvtec_root):
    data = build("mvtec", mvtec_root, classes="bottle")
    dataset = data.test_loader().dataset
    img = dataset[[s.defect for s in dataset.samples].index("good")]["img"]  # flat grey 50
    expected = (50 / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(img[:, 0, 0], expected)
    assert data.example_batch(3)["img"].shape == (3, 3, SIZE, SIZE)


def test_validation_is_held_out_from_training_images_only(mvtec_root):
    data = build("mvtec", mvtec_root, val_fraction=0.2)
    train = {p for b in data.train_loader(seed=0) for p in b["path"]}
    val = {p for b in data.val_loader() for p in b["path"]}
    test = {p for b in data.test_loader() for p in b["path"]}
    assert len(train) == 16 and len(val) == 4 and not train & val
    assert all("/train/good/" in p for p in train | val) and not (train | val) & test
    assert build("mvtec", mvtec_root, val_fraction=0.0).val_loader() is None


def test_training_order_depends_on_the_seed_only(mvtec_root):
    data = build("mvtec", mvtec_root)
    order = lambda seed: [p for b in data.train_loader(seed) for p in b["path"]]  # noqa: E731
    assert order(3) == order(3) and order(3) != order(4)


def test_class_selection(mvtec_root):
    assert build("mvtec", mvtec_root, classes="cable").class_names == ["cable"]
    assert build("mvtec", mvtec_root, classes=["cable", "bottle"]).class_names == ["cable", "bottle"]
    with pytest.raises(ConfigError, match="screw"):
        build("mvtec", mvtec_root, classes="screw")


def test_missing_mask_and_missing_root_are_data_errors(mvtec_root, tmp_path):
    (mvtec_root / "cable" / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(DataError, match="001_mask.png"):
        build("mvtec", mvtec_root)
    with pytest.raises(DataError, match="does not exist"):
        build("mvtec", tmp_path / "nowhere")


@pytest.fixture
def visa_root(tmp_path):
    """One VisA class: 6 normal train, 2 normal test, 2 anomalous test JPEGs, masks holding region ids."""
    rows = []
    for i in range(8):
        rel = f"candle/Data/Images/Normal/{i:04d}.JPG"
        write_png(tmp_path / rel, photo(120))
        rows.append(["candle", "train" if i < 6 else "test", "normal", rel, ""])
    for i in range(2):
        rel, mask = f"candle/Data/Images/Anomaly/{i:03d}.JPG", f"candle/Data/Masks/Anomaly/{i:03d}.png"
        write_png(tmp_path / rel, photo(220))
        write_png(tmp_path / mask, box_mask(value=i + 1))  # VisA masks store small region ids, not 255
        rows.append(["candle", "test", "anomaly", rel, mask])
    (tmp_path / "split_csv").mkdir()
    with open(tmp_path / "split_csv" / "1cls.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["object", "split", "label", "image", "mask"])
        writer.writerows(rows)
    return tmp_path


def test_visa_follows_the_split_file(visa_root):
    data = build("visa", visa_root, val_fraction=0.0)
    assert data.class_names == ["candle"]
    assert len(data.train_loader(0).dataset) == 6
    batches = all_batches(data.test_loader())
    labels = torch.cat([b["label"] for b in batches])
    masks = torch.cat([b["mask"] for b in batches])
    assert labels.tolist() == [0, 0, 1, 1]
    for label, mask in zip(labels, masks):
        np.testing.assert_array_equal(mask[0].numpy(), expected_mask() if label else np.zeros((SIZE, SIZE)))


def test_visa_rejects_a_split_file_with_other_columns(visa_root):
    (visa_root / "split_csv" / "1cls.csv").write_text("object,split,image\ncandle,train,x.JPG\n")
    with pytest.raises(DataError, match="columns"):
        build("visa", visa_root)


SMALL = TextureSpec(image_px=32, n_train=3, n_test_good=2, n_test_per_defect=1, seed=0)


def tree_bytes(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_texture_generation_is_deterministic_and_idempotent(tmp_path):
    assert ensure_class(tmp_path / "a", "brick", SMALL) is True
    assert ensure_class(tmp_path / "b", "brick", SMALL) is True
    first = tree_bytes(tmp_path / "a")
    assert first == tree_bytes(tmp_path / "b")
    assert len([k for k in first if k.endswith("_mask.png")]) == len(DEFECT_KINDS)
    assert json.loads((tmp_path / "a" / "brick" / MARKER).read_text())["seed"] == 0
    assert ensure_class(tmp_path / "a", "brick", SMALL) is False  # already there: nothing rewritten
    reseeded = TextureSpec(**{**SMALL.__dict__, "seed": 1})
    assert ensure_class(tmp_path / "a", "brick", reseeded) is True
    assert tree_bytes(tmp_path / "a") != first


def test_texture_generation_never_overwrites_foreign_files(tmp_path):
    (tmp_path / "brick").mkdir()
    (tmp_path / "brick" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not written by the texture generator"):
        ensure_class(tmp_path, "brick", SMALL)


def test_texture_train_and_test_crops_come_from_disjoint_bands():
    photo_array = load_photo("gravel")
    train_band, test_band = split_bands(photo_array)
    assert train_band.shape[1] + test_band.shape[1] == photo_array.shape[1]
    np.testing.assert_array_equal(np.concatenate([train_band, test_band], axis=1), photo_array)


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_defect_masks_are_exact(kind):
    rng = class_rng("grass", 7)
    band = split_bands(load_photo("grass"))[1]
    clean, donor = random_crop(band, 128, rng), random_crop(band, 128, rng)
    foreign = random_crop(split_bands(load_photo("tissue"))[1], 128, rng)
    for _ in range(5):
        image, mask = make_defect(kind, clean, rng, donor, foreign)
        changed = (image != clean).any(axis=-1)
        assert image.shape == clean.shape and image.dtype == np.uint8
        assert not changed[~mask].any(), "pixels outside the mask must be untouched"
        assert changed[mask].mean() > 0.9, "nearly every mask pixel must differ from the clean crop"
        assert 0.003 < mask.mean() < 0.15


def test_textures_dataset_reads_what_it_generated(tmp_path):
    data = build("textures", tmp_path / "tex", classes=["brick", "tissue"], generated_size=32, n_train=4, n_test_good=2, n_test_per_defect=1)
    assert data.class_names == ["brick", "tissue"]
    assert (tmp_path / "tex" / "tissue" / "ground_truth" / "hole" / "000_mask.png").is_file()
    batches = all_batches(data.test_loader())
    labels = torch.cat([b["label"] for b in batches])
    masks = torch.cat([b["mask"] for b in batches])
    assert len(labels) == 2 * (2 + len(DEFECT_KINDS)) and labels.sum() == 2 * len(DEFECT_KINDS)
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    assert (masks.flatten(1).amax(1) == labels.float()).all()
