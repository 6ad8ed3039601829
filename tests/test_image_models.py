"""MambaAD and MTAD: their blocks (SS2D, LSS, MTRec, linear attention) and the two detectors."""
import pytest
import torch
import torch.nn.functional as F

from model.blocks.linear_attention import LinearAttention
from model.blocks.lss import LSS
from model.blocks.mtrec import MTRec, sincos_position_embedding, window_partition, window_reverse
from model.blocks.ss2d import SS2D
from model.detectors.feature_reconstruction import FusionBottleneck
from model.detectors.mambaad import lss_drop_path_rates
from model.ops.selective_scan import selective_scan
from util.config import load
from util.errors import ConfigError
from util.registry import DETECTORS, LOSSES

ENCODER = dict(type="timm", name="resnet18", pretrained=False, checkpoint=None)
TINY = {
    "mambaad": dict(type="mambaad", encoder=ENCODER, channels=(32, 24, 16, 8), depths=(1, 2, 1, 1), lss_per_level=(1, 2, 1, 1), d_state=4),
    "mtad": dict(type="mtad", encoder=ENCODER, channels=(32, 24, 16, 8), depths=(1, 2, 1, 1), window=4, heads=4, mlp_ratio=2, d_state=4),
}


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


def test_ss2d_equals_one_scan_per_direction_merged():
    """The batched scan (directions as groups) equals scanning each direction on its own."""
    block = SS2D(8, size=(4, 6), curve="zigzag", directions=4, d_state=4).double()
    x = torch.randn(2, 4, 6, 8, dtype=torch.float64)
    xs, z = block.in_proj(x).chunk(2, dim=-1)
    xs = F.silu(block.conv(xs.permute(0, 3, 1, 2)))
    sequences = block.scan.serialize(xs)
    d, n, r = block.d_inner, block.d_state, block.dt_rank
    outputs = []
    for k in range(4):
        u = sequences[:, k]
        dt, B, C = torch.einsum("bdl,cd->bcl", u, block.x_proj_weight[k]).split([r, n, n], dim=1)
        part = slice(k * d, (k + 1) * d)
        outputs.append(selective_scan(
            u, torch.einsum("brl,dr->bdl", dt, block.dt_proj_weight[k]), -torch.exp(block.A_log[part]), B, C,
            block.D[part], delta_bias=block.dt_bias[part], delta_softplus=True, backend="torch_ref",
        ))
    y = block.scan.merge(torch.stack(outputs, 1))
    expected = block.out_proj(block.out_norm(y.permute(0, 2, 3, 1)) * F.silu(z))
    torch.testing.assert_close(block(x), expected)


def test_ss2d_depends_on_the_scan_curve():
    x = torch.randn(1, 4, 4, 8)
    outputs = []
    for curve in ("sweep", "hilbert"):
        torch.manual_seed(1)
        outputs.append(SS2D(8, size=(4, 4), curve=curve, directions=1, d_state=4)(x))
    assert not torch.allclose(*outputs)


def test_lss_keeps_the_shape_and_trains_every_parameter():
    block = LSS(8, size=(4, 6), depth=2, curve="hilbert", directions=8, d_state=4)
    x = torch.randn(2, 8, 4, 6)
    y = block(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert all(p.grad is not None for p in block.parameters())


def test_lss_normalises_each_image_on_its_own():
    """Instance norm in the local paths: an image's output does not depend on the rest of the batch,
    in training as at test time (BatchNorm would mix the classes of a multi-class batch)."""
    block = LSS(8, size=(4, 4), depth=1, curve="hilbert", directions=2, d_state=4).train()
    x = torch.randn(3, 8, 4, 4)
    torch.testing.assert_close(block(x)[:1], block(x[:1]))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in block.modules())


def test_linear_attention_equals_its_quadratic_form():
    attention = LinearAttention(8, heads=2).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    q, k, v = attention.qkv(x).view(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    kernel = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-2, -1)  # (B, h, L, L), positive
    out = (kernel / kernel.sum(-1, keepdim=True)) @ v
    expected = attention.proj(out.transpose(1, 2).reshape(2, 5, 8))
    torch.testing.assert_close(attention(x), expected, rtol=1e-6, atol=1e-6)


def test_windows_round_trip_and_positions_differ():
    x = torch.randn(2, 3, 8, 12)
    windows = window_partition(x, 4)
    assert windows.shape == (12, 16, 3)
    torch.testing.assert_close(window_reverse(windows, 4, 8, 12), x)
    torch.testing.assert_close(windows[1].T.reshape(3, 4, 4), x[0, :, :4, 4:8])  # second window of the first row
    positions = sincos_position_embedding(4, 4, 10)
    assert positions.shape == (16, 10)
    assert torch.cdist(positions, positions).add(torch.eye(16)).min() > 0


@pytest.mark.parametrize("size", [(4, 4), (5, 7)])
def test_mtrec_pads_to_whole_windows_and_keeps_the_shape(size):
    block = MTRec(8, window=4, direction=5, heads=2, mlp_ratio=2, d_state=4)
    x = torch.randn(2, 8, *size, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert block.state_dict().keys().isdisjoint({"order", "inverse", "position"})


@pytest.mark.parametrize("name", ["mambaad", "mtad"])
def test_detector_trains_the_decoder_only_and_scores_maps(name):
    detector = DETECTORS.build(TINY[name], image_size=64)
    detector.train()
    assert not detector.encoder.training  # frozen encoder keeps its BatchNorm statistics
    batch = {"img": torch.randn(2, 3, 64, 64)}
    out = detector(batch)
    assert [tuple(e.shape) for e in out["enc"]] == [tuple(d.shape) for d in out["dec"]] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4)]
    losses = detector.loss(batch)
    losses["loss"].backward()
    assert set(losses) == {"loss", "scale0", "scale1", "scale2"}
    assert all(p.grad is None for p in detector.encoder.parameters())
    assert all(p.grad is not None for p in detector.decoder.parameters())
    detector.eval()
    amap = detector.score(batch)
    assert amap.shape == (2, 64, 64)
    assert (amap >= -1e-6).all() and (amap <= 2 + 1e-6).all()
    assert not any(k.endswith(("orders", "inverse", "order", "position")) for k in detector.state_dict())


@pytest.mark.parametrize("name", ["mambaad", "mtad"])
def test_detector_reconstruction_improves_with_training(name):
    detector = DETECTORS.build({**TINY[name], "drop_path": 0.0} if name == "mambaad" else TINY[name], image_size=64)
    optimiser = torch.optim.AdamW([p for p in detector.parameters() if p.requires_grad], lr=5e-3)
    batch = {"img": torch.randn(4, 3, 64, 64)}
    detector.train()
    first = detector.loss(batch)["loss"].item()
    for _ in range(15):
        optimiser.zero_grad()
        detector.loss(batch)["loss"].backward()
        optimiser.step()
    assert detector.loss(batch)["loss"].item() < 0.7 * first


def test_the_default_loss_is_the_papers_l2_at_weight_5_summed_over_scales():
    detector = DETECTORS.build(TINY["mambaad"], image_size=64)
    batch = {"img": torch.randn(2, 3, 64, 64)}
    torch.manual_seed(1)
    out = detector(batch)
    torch.manual_seed(1)  # the same stochastic-depth draws
    losses = detector.loss(batch)
    expected = 5 * sum(F.mse_loss(d, e) for e, d in zip(out["enc"], out["dec"]))
    torch.testing.assert_close(losses["loss"], expected)


def test_fusion_adds_the_levels_fpn_style_then_compresses_with_bottleneck_blocks():
    fusion = FusionBottleneck([64, 128, 256], [4, 8, 16], 512)
    assert len(fusion.embed) == 3 and sum(p.numel() for p in fusion.parameters()) == pytest.approx(1.46e6, rel=0.01)
    features = [torch.randn(2, c, s, s, requires_grad=True) for c, s in ((64, 16), (128, 8), (256, 4))]
    fused = fusion(features)
    assert fused.shape == (2, 512, 2, 2)
    fused.sum().backward()
    assert all(f.grad.abs().sum() > 0 for f in features)  # every level reaches the embedding


def test_stochastic_depth_is_one_rate_per_lss_falling_from_the_coarsest_level():
    """As released: 0.2 at the 8x8 level down to about 0 at 64x64 (paper depths, 256 px)."""
    rates = lss_drop_path_rates((3, 4, 6, 3), (1, 2, 2, 1), 0.2)
    assert [len(level) for level in rates] == [1, 2, 2, 1]
    assert sum(rates, []) == pytest.approx([0.2, 0.16, 0.2 * 11 / 15, 0.2 * 8 / 15, 0.2 * 7 / 15, 0.2 * 2 / 15])
    detector = DETECTORS.build({**TINY["mambaad"], "drop_path": 0.3}, image_size=64)  # depths 1, 2, 1, 1
    built = [[{round(getattr(hss.drop_path, "p", 0.0), 6) for hss in lss.global_path} for lss in level] for level in detector.decoder.levels]
    assert built == [[{0.3}], [{0.225}, {0.15}], [{0.075}], [{0.0}]]


def test_feature_cos_is_zero_for_a_perfect_reconstruction():
    enc = [torch.randn(2, 4, 3, 3), torch.randn(2, 8, 2, 2)]
    cos = LOSSES.build(dict(type="feature_cos"))
    assert cos({"enc": enc, "dec": [2 * e for e in enc]}, {})["loss"].abs() < 1e-6
    assert cos({"enc": enc, "dec": [-e for e in enc]}, {})["loss"].item() == pytest.approx(4.0)


def test_bad_sizes_and_widths_are_config_errors():
    with pytest.raises(ConfigError, match="image_size=48"):
        DETECTORS.build(TINY["mambaad"], image_size=48)
    with pytest.raises(ConfigError, match="4 entries"):
        DETECTORS.build({**TINY["mtad"], "channels": (32, 16)}, image_size=64)
    with pytest.raises(ConfigError, match="model.scan"):
        DETECTORS.build({**TINY["mambaad"], "scan": dict(curves="hilbert")}, image_size=64)


def paper_config_detector(path: str):
    """The detector of a paper config with random encoder weights (no download), built on CPU."""
    cfg = load(path, ["model.encoder.pretrained=False"])
    return DETECTORS.build(cfg["model"], image_size=cfg["data"]["image_size"])


def millions(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


@pytest.mark.parametrize("dataset", ["mvtec", "visa"])
def test_paper_size_mambaad_has_the_papers_25_7m_parameters(dataset):
    detector = paper_config_detector(f"configs/mambaad/mambaad_{dataset}.py")
    assert millions(detector) == pytest.approx(25.7, rel=0.01)
    assert millions(detector.encoder) == pytest.approx(8.17, abs=0.005)  # ResNet34 stages 1-3, frozen
    assert millions(detector.bottleneck) == pytest.approx(1.46, abs=0.005)  # FPN fusion + 3 bottleneck blocks
    assert millions(detector.decoder) == pytest.approx(15.99, abs=0.005)


@pytest.mark.parametrize("dataset", ["mvtec", "visa"])
def test_paper_size_mtad_is_the_papers_model_with_its_open_choices(dataset):
    """The paper reports 42.6M; its text fixes everything here but the MLP ratio, the attention
    heads and Mamba's expansion, which take the usual 4, 8 and 2. That gives 45.6M (+7%). The
    block's two MLPs hold 2 x 2 x ratio x dim^2 parameters, 18.6M in all; ratio 3.35 would hit
    42.6M, a value the paper does not state (docs/detectors.md)."""
    detector = paper_config_detector(f"configs/mtad/mtad_{dataset}.py")
    mambaad = paper_config_detector(f"configs/mambaad/mambaad_{dataset}.py")
    assert millions(detector.encoder) == millions(mambaad.encoder) and millions(detector.bottleneck) == millions(mambaad.bottleneck)
    assert millions(detector) == pytest.approx(45.60, abs=0.005)
    mlp = sum(p.numel() for name, p in detector.decoder.named_parameters() if ".mixers.1." in name or ".mixers.3." in name) / 1e6
    assert mlp == pytest.approx(18.58, abs=0.01)
