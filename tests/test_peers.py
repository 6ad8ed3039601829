"""Peer detectors: Anomaly Transformer, MAAT, DCdetector -- their losses' gradient structure,
attention masks, association shapes, forward/loss/score contracts and their configs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from loss.minimax import step_discrepancy, stop_gradient_terms
from model.blocks.anomaly_attention import AnomalyAttention, block_diagonal_mask
from model.blocks.revin import RevIN
from util import config
from util.errors import ConfigError
from util.registry import DETECTORS

REPO = Path(__file__).resolve().parents[1]
PEER_CONFIGS = sorted(p for folder in ("anomaly_transformer", "maat", "dcdetector") for p in (REPO / "configs" / folder).rglob("*.py"))
TINY = dict(d_model=16, n_heads=2, e_layers=2, d_ff=16)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def tiny(kind: str, n_features: int = 3, window: int = 20, **overrides):
    sizes = dict(d_model=16, n_heads=2, e_layers=2) if kind == "dcdetector" else TINY
    return DETECTORS.build(dict(type=kind, **sizes, **overrides), n_features=n_features, window=window)


def grads(value: torch.Tensor, params: list[torch.Tensor]) -> list[float]:
    """Total absolute gradient of ``value`` w.r.t. each parameter (0 when unused)."""
    found = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
    return [0.0 if g is None else g.abs().sum().item() for g in found]


def test_minimax_phases_reach_disjoint_parameters():
    detector = tiny("anomaly_transformer")
    out = detector({"x": torch.randn(4, 20, 3)})
    series_term, prior_term = stop_gradient_terms(out["series"], out["prior"])
    k = detector.criterion.k
    attention = detector.layers[-1].attention  # the last layer: nothing downstream mixes the paths
    sigma, qk = attention.sigma.weight, [attention.qk.query.weight, attention.qk.key.weight]
    phase1_sigma, *phase1_qk = grads(-k * series_term, [sigma, *qk])
    phase2_sigma, *phase2_qk = grads(k * prior_term, [sigma, *qk])
    assert phase1_sigma == 0.0 and all(g > 0 for g in phase1_qk)
    assert phase2_sigma > 0 and all(g == 0.0 for g in phase2_qk)


def test_minimax_single_backward_equals_two_phase_backwards():
    detector = tiny("anomaly_transformer")
    batch = {"x": torch.randn(4, 20, 3)}
    params = [p for p in detector.parameters() if p.requires_grad]
    out = detector(batch)
    rec = (out["recon"] - batch["x"]).pow(2).mean()
    series_term, prior_term = stop_gradient_terms(out["series"], out["prior"])
    k = detector.criterion.k
    def grad_of(value: torch.Tensor, retain: bool = False) -> list[torch.Tensor]:
        found = torch.autograd.grad(value, params, retain_graph=retain, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, found)]

    two_pass = [a + b for a, b in zip(grad_of(rec - k * series_term, retain=True), grad_of(rec + k * prior_term))]
    result = detector.criterion(detector(batch), batch)
    one_pass = grad_of(result["loss"])
    for a, b in zip(one_pass, two_pass):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(result["loss"].detach(), 2 * result["rec"], rtol=1e-5, atol=1e-6)


def test_sparse_mask_is_block_diagonal_and_series_respects_it():
    mask = block_diagonal_mask(7, 3)
    expected = torch.zeros(7, 7, dtype=torch.bool)
    for start in (0, 3, 6):
        expected[start:start + 3, start:start + 3] = True
    assert torch.equal(mask, expected)
    attention = AnomalyAttention(8, n_heads=2, block_size=3)
    _, series, prior, sigma = attention(torch.randn(2, 7, 8))
    assert torch.all(series[..., ~expected] == 0)
    torch.testing.assert_close(series.sum(-1), torch.ones(2, 2, 7))
    torch.testing.assert_close(prior.sum(-1), torch.ones(2, 2, 7))
    assert sigma.shape == (2, 2, 7) and torch.all(sigma > 0) and torch.all(sigma < 2.0 + 1e-4)
    _, causal_series, _, _ = AnomalyAttention(8, n_heads=2, causal=True)(torch.randn(2, 7, 8))
    assert torch.all(causal_series.triu(1) == 0)


@pytest.mark.parametrize("affine", [False, True])
def test_revin_normalises_each_series_and_reverses(affine):
    revin = RevIN(3, affine=affine)
    if affine:
        torch.nn.init.uniform_(revin.weight, 0.5, 2.0)
        torch.nn.init.normal_(revin.bias)
    x = 5.0 + 3.0 * torch.randn(2, 50, 3)
    normed = revin(x)
    if not affine:
        torch.testing.assert_close(normed.mean(1), torch.zeros(2, 3), atol=1e-5, rtol=0)
        torch.testing.assert_close(normed.std(1, unbiased=False), torch.ones(2, 3), atol=1e-4, rtol=0)
    torch.testing.assert_close(revin.denormalise(normed), x, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("patch_sizes,window", [((1,), 30), ((2, 5), 30), ((3, 5, 10), 60)])
def test_dcdetector_branch_shapes(patch_sizes, window):
    detector = tiny("dcdetector", n_features=2, window=window, patch_sizes=patch_sizes)
    x = torch.randn(3, window, 2)
    series = x.transpose(1, 2).reshape(6, window)
    for index, p in enumerate(patch_sizes):
        between, inside = detector.branch_maps(series, index)
        assert len(between) == len(inside) == 2
        assert between[0].shape == (6, 2, window // p, window // p)
        assert inside[0].shape == (6, 2, p, p)
    out = detector({"x": x})
    assert len(out["patch_wise"]) == len(out["in_patch"]) == 2 * len(patch_sizes)
    for maps in (out["patch_wise"], out["in_patch"]):
        for m in maps:
            assert m.shape == (3, 2, window, window)
            torch.testing.assert_close(m.sum(-1), torch.ones(3, 2, window))


def test_dcdetector_in_patch_map_is_tiled_and_patch_map_repeated():
    detector = tiny("dcdetector", n_features=1, window=12, patch_sizes=(3,))
    out = detector({"x": torch.randn(2, 12, 1)})
    inside, between = out["in_patch"][0], out["patch_wise"][0]
    torch.testing.assert_close(inside[..., :3, :3], inside[..., 3:6, 6:9])  # tiled every p steps
    torch.testing.assert_close(between[..., 0, :], between[..., 2, :])  # steps of one patch share a row
    torch.testing.assert_close(between[..., 0, 0], between[..., 0, 2])  # and a key patch spreads over p keys


def test_dcdetector_rejects_patch_size_not_dividing_window():
    with pytest.raises(ConfigError, match="model.patch_sizes"):
        tiny("dcdetector", window=30, patch_sizes=(4,))


@pytest.mark.parametrize("kind", ["anomaly_transformer", "maat", "dcdetector"])
def test_forward_loss_backward_score_contract(kind):
    detector = tiny(kind, window=20, **({"patch_sizes": (2, 5)} if kind == "dcdetector" else {}))
    x = torch.randn(4, 20, 3)
    out = detector({"x": x})
    if kind != "dcdetector":
        assert out["recon"].shape == x.shape
        assert len(out["series"]) == len(out["prior"]) == 2 and out["series"][0].shape == (4, 2, 20, 20)
    result = detector.loss({"x": x})
    assert result["loss"].ndim == 0 and torch.isfinite(result["loss"])
    result["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in detector.parameters())
    with torch.no_grad():
        score = detector.eval().score({"x": x})
    assert score.shape == (4, 20) and torch.all(torch.isfinite(score)) and torch.all(score >= 0)


def test_maat_compat_modes_and_explicit_switches():
    paper = tiny("maat", block_size=5)
    assert len(paper.mambas) == 2 and paper.layers[0].attention.block_size == 5 and not paper.layers[0].attention.causal
    release = tiny("maat", compat="release")
    assert len(release.mambas) == 1 and release.layers[0].attention.block_size is None and release.layers[0].attention.causal
    mixed = tiny("maat", compat="release", causal_mask=False, sparse_attention=True, block_size=7)
    assert mixed.layers[0].attention.block_size == 7 and not mixed.layers[0].attention.causal and len(mixed.mambas) == 1
    with pytest.raises(ConfigError, match="compat"):
        tiny("maat", compat="authors")


@pytest.mark.parametrize("kind", ["anomaly_transformer", "maat"])
def test_association_score_temperature_follows_compat(kind):
    """Paper (Eq. 6): softmax of -discrepancy; release: of -50 * discrepancy; explicit values win."""
    x = torch.randn(2, 20, 3)
    paper, release = tiny(kind), tiny(kind, compat="release")
    assert (paper.temperature, release.temperature, tiny(kind, temperature=7.0).temperature) == (1.0, 50.0, 7.0)
    release.load_state_dict(paper.state_dict(), strict=False)
    with torch.no_grad():
        out = paper.eval()({"x": x})
        error = (out["recon"] - x).pow(2).mean(-1)
        discrepancy = step_discrepancy(out["series"], out["prior"])
        torch.testing.assert_close(paper.score({"x": x}), torch.softmax(-discrepancy, -1) * error)
    with pytest.raises(ConfigError, match="compat"):
        tiny(kind, compat="authors")


def test_dcdetector_paper_score_is_the_discrepancy_release_its_softmax():
    detector, x = tiny("dcdetector", patch_sizes=[2, 5]).eval(), torch.randn(2, 20, 3)
    with torch.no_grad():
        out = detector({"x": x})
        discrepancy = step_discrepancy(out["patch_wise"], out["in_patch"])
        torch.testing.assert_close(detector.score({"x": x}), discrepancy)
        detector.compat = "release"
        torch.testing.assert_close(detector.score({"x": x}), torch.softmax(-50.0 * discrepancy, -1))
    with pytest.raises(ConfigError, match="compat"):
        tiny("dcdetector", patch_sizes=[2, 5], compat="authors")


def test_anomaly_transformer_loss_falls_on_a_tiny_batch():
    detector = tiny("anomaly_transformer")
    batch = {"x": torch.sin(torch.linspace(0, 12, 20))[None, :, None].repeat(4, 1, 3) + 0.1 * torch.randn(4, 20, 3)}
    optimizer = torch.optim.Adam(detector.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        result = detector.loss(batch)
        result["loss"].backward()
        optimizer.step()
        losses.append(result["rec"].item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("path", PEER_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_builds_and_trains_one_step(path):
    cfg = config.load(path)
    model_cfg = dict(cfg["model"], d_model=16, **({"d_ff": 16} if "d_ff" in cfg["model"] else {}))
    window = cfg["data"]["window"]
    detector = DETECTORS.build(model_cfg, n_features=2, window=window)
    result = detector.loss({"x": torch.randn(2, window, 2)})
    result["loss"].backward()
    assert torch.isfinite(result["loss"])
    if "legacy_anomaly_ratio" in cfg["evaluation"] and not path.stem.endswith("synthetic"):
        assert 0 < cfg["evaluation"]["legacy_anomaly_ratio"] < 5
