"""KambaAD's building blocks: Mamba, KAN, attention, RMSNorm and the reconstructors."""
from __future__ import annotations

import pytest
import torch

from model.blocks.attention import AttentionMixer
from model.blocks.kan import KAN, KANLinear
from model.blocks.mamba import Mamba
from model.blocks.norm import RMSNorm
from util.errors import ConfigError
from util.registry import ENCODERS, MIXERS, RECONSTRUCTORS


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_rmsnorm_normalises_the_last_dimension():
    x = torch.randn(3, 5, 8) * 7
    y = RMSNorm(8)(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(3, 5), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_mamba_shapes_and_gradient_flow(bidirectional):
    block = Mamba(d_model=12, d_state=8, bidirectional=bidirectional)
    x = torch.randn(2, 30, 12, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    missing = [name for name, p in block.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"
    assert x.grad.abs().sum() > 0


def test_mamba_initialisation_follows_mamba_ssm():
    block = Mamba(d_model=32, d_state=16, dt_min=0.001, dt_max=0.1)
    dt = torch.nn.functional.softplus(block.ssm.dt_proj.bias)
    assert dt.min() >= 1e-4 - 1e-7 and dt.max() <= 0.1 + 1e-6
    torch.testing.assert_close(-torch.exp(block.ssm.A_log[0]), -torch.arange(1.0, 17.0))
    torch.testing.assert_close(block.ssm.D.detach(), torch.ones(64))
    assert block.ssm.dt_rank == 2  # ceil(32 / 16)


def test_mamba_is_causal_forward_and_sees_the_future_when_bidirectional():
    x = torch.randn(1, 20, 8)
    changed = x.clone()
    changed[:, 15:] += 1.0
    causal = Mamba(8, d_state=4).eval()
    torch.testing.assert_close(causal(changed)[:, :15], causal(x)[:, :15])
    both = Mamba(8, d_state=4, bidirectional=True).eval()
    assert not torch.allclose(both(changed)[:, :15], both(x)[:, :15])


def test_mamba_backends_agree():
    reference = Mamba(8, d_state=4, scan_backend="torch_ref")
    chunked = Mamba(8, d_state=4, scan_backend="torch_chunked")
    chunked.load_state_dict(reference.state_dict())
    x = torch.randn(2, 40, 8)
    torch.testing.assert_close(chunked(x), reference(x), atol=1e-5, rtol=1e-5)


def test_mamba_rejects_unknown_backend():
    with pytest.raises(ConfigError, match="scan_backend"):
        Mamba(8, scan_backend="fast")


@pytest.mark.parametrize("name, kwargs", [("mamba", {}), ("attention", {"n_heads": 2}), ("attention", {"batch_axis": True})])
def test_mixers_keep_shape(name, kwargs):
    mixer = MIXERS.build(dict(type=name, **kwargs), d_model=8)
    x = torch.randn(3, 10, 8)
    assert mixer(x).shape == x.shape


def test_attention_over_time_is_independent_of_other_windows_but_release_quirk_is_not():
    x = torch.randn(4, 10, 8)
    over_time = AttentionMixer(8, n_heads=2).eval()
    torch.testing.assert_close(over_time(x)[:1], over_time(x[:1]))
    across_batch = AttentionMixer(8, n_heads=2, batch_axis=True).eval()
    assert not torch.allclose(across_batch(x)[:1], across_batch(x[:1]))


def test_kan_linear_shapes_and_spline_basis_partition_of_unity():
    layer = KANLinear(3, 5, grid_size=5, spline_order=3)
    x = torch.rand(50, 3) * 1.8 - 0.9  # inside the grid range
    assert layer(x).shape == (50, 5)
    assert layer(torch.randn(2, 7, 3)).shape == (2, 7, 5)
    bases = layer.b_splines(x)
    assert bases.shape == (50, 3, 8)
    torch.testing.assert_close(bases.sum(-1), torch.ones(50, 3))


def test_kan_update_grid_adapts_to_data_and_keeps_outputs():
    kan = KAN([2, 4, 3], grid_size=5)
    x = torch.rand(512, 2) * 0.8 + 0.1  # data in [0.1, 0.9] of the initial [-1, 1] grid
    before = kan(x)
    kan.update_grid(x)
    grid = kan.layers[0].grid
    assert grid[:, 3].min() >= 0.05 and grid[:, -4].max() <= 0.95  # the core knots moved onto the data
    torch.testing.assert_close(kan(x), before, atol=0.05, rtol=0.05)


def test_kan_regularization_is_positive_and_differentiable():
    kan = KAN([3, 4, 2])
    reg = kan.regularization_loss()
    reg.backward()
    assert reg > 0 and kan.layers[0].spline_weight.grad is not None


@pytest.mark.parametrize("name", ["kan_window", "kan_point"])
def test_kan_encoders_map_features_to_d_model(name):
    encoder = ENCODERS.build(dict(type=name, hidden=4), n_features=3, window=12, d_model=16)
    x = torch.randn(2, 12, 3)
    assert encoder(x).shape == (2, 12, 16)


def test_kan_point_is_shared_over_time():
    encoder = ENCODERS.build(dict(type="kan_point"), n_features=3, window=12, d_model=8)
    x = torch.randn(1, 12, 3)
    torch.testing.assert_close(encoder(x)[:, 5], encoder(x[:, 5:6])[:, 0])


@pytest.mark.parametrize(
    "cfg", [dict(type="patch_ci", patch_len=8, stride=4), dict(type="patch_ci", patch_len=1, stride=8, individual=True),
            dict(type="patch_cd", patch_len=2, stride=4), dict(type="linear")]
)
def test_reconstructors_map_window_to_window(cfg):
    reconstructor = RECONSTRUCTORS.build(cfg, n_features=3, window=20)
    x = torch.randn(2, 20, 3, requires_grad=True)
    out = reconstructor(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad.abs().sum() > 0


def test_channel_independent_reconstructor_does_not_mix_channels_but_cd_does():
    x = torch.randn(1, 20, 3)
    changed = x.clone()
    changed[..., 0] += 1.0
    ci = RECONSTRUCTORS.build(dict(type="patch_ci", patch_len=4, stride=2), n_features=3, window=20, d_model=8)
    torch.testing.assert_close(ci(changed)[..., 1:], ci(x)[..., 1:])
    cd = RECONSTRUCTORS.build(dict(type="patch_cd", patch_len=4, stride=2), n_features=3, window=20, d_model=8)
    assert not torch.allclose(cd(changed)[..., 1:], cd(x)[..., 1:])


def test_patch_reconstructor_rejects_impossible_patches():
    with pytest.raises(ConfigError, match="patch_len"):
        RECONSTRUCTORS.build(dict(type="patch_ci", patch_len=40, stride=4), n_features=3, window=20)
