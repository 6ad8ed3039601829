"""The scaler's floor for near-constant channels, its scopes, and the warning naming what it clamps."""
from pathlib import Path

import numpy as np
import pytest

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.scaler import DEFAULT_FLOOR, fit_scalers
from data.timeseries.smap_msl import SmapMsl
from model.detectors.baselines import ZScoreDetector
from util.errors import ConfigError

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "SMAP_MSL"


def pathological_entity(name: str, seed: int, length: int = 2000) -> Entity:
    """Channels: 0 normal, 1 near-constant (std 1e-5) that moves in test, 2 a rare one-hot,
    3 exactly 0.999 throughout training (float32), 4 a one-hot that never fires in training."""
    rng = np.random.default_rng(seed)
    train = np.zeros((length, 5), np.float32)
    train[:, 0] = rng.normal(size=length)
    train[:, 1] = 1.0 + 1e-5 * rng.normal(size=length)
    train[rng.choice(length, 2, replace=False), 2] = 1.0
    train[:, 3] = 0.999
    test = train.copy()
    test[500:600, 1] = -1.0  # the near-constant telemetry swings across its domain
    test[700:710, 2] = 1.0
    test[800:810, 3] = -1.0
    test[900:910, 4] = 1.0
    return Entity(name, train, test, np.zeros(length, np.int64))


class Pathological(TimeSeriesSource):
    def __init__(self, n_entities: int = 2, **common) -> None:
        super().__init__(window=50, **common)
        self.n_entities = n_entities

    def read(self) -> list[Entity]:
        return [pathological_entity(f"e{k}", k) for k in range(self.n_entities)]


def documented_floor(train_parts: list[np.ndarray]) -> np.ndarray:
    """``0.01 * max(range, magnitude / 10)`` per channel over all entities' training parts."""
    pooled = np.concatenate(train_parts).astype(np.float64)
    return DEFAULT_FLOOR * np.maximum(pooled.max(0) - pooled.min(0), np.abs(pooled).max(0) / 10)


@pytest.mark.parametrize("scope", ["entity", "joint"])
@pytest.mark.parametrize("kind", ["standard", "minmax"])
def test_every_scaled_value_stays_within_the_documented_bound(kind, scope, ssmad_log):
    source = Pathological(scaler=kind, scaler_scope=scope)
    raw = source.read()
    data = source.prepare()
    fits = [e.train[: len(p.train)] for e, p in zip(raw, data.entities)]
    floor = documented_floor(fits)
    low, high = np.concatenate(fits).min(0), np.concatenate(fits).max(0)
    for entity, prepared in zip(raw, data.entities):
        assert prepared.scale.dtype == np.float64 and (prepared.scale >= floor).all()
        test = entity.test.astype(np.float64)
        bound = np.where(floor > 0, np.abs(test - prepared.shift) / np.where(floor > 0, floor, 1), np.abs(test - prepared.shift))
        assert (np.abs(prepared.test) <= bound * (1 + 1e-5) + 1e-6).all()
        inside = (test >= low) & (test <= high) & (floor > 0)
        assert np.abs(prepared.test[inside]).max() <= 1 / DEFAULT_FLOOR * (1 + 1e-5)
        assert np.abs(prepared.test[:, 1]).max() < 3e4  # the near-constant channel's swing: 1e5 sigma unfloored
    assert "data.scaler_floor" in ssmad_log.text and "feature 1" in ssmad_log.text and "feature 3" in ssmad_log.text


def test_float32_rounding_of_a_constant_channel_is_not_mistaken_for_its_scale():
    """0.999 in float32 has a float32 std of ~1e-5 rounding noise; in float64 it is 0, so the floor sets the scale."""
    (scaling,) = fit_scalers([np.full((3000, 1), 0.999, np.float32)])
    assert scaling.floored[0] and scaling.scale[0] == pytest.approx(DEFAULT_FLOOR * 0.0999, rel=1e-6)
    (zeros,) = fit_scalers([np.zeros((100, 1))])
    assert zeros.scale[0] == 1.0  # 0 throughout: only centred


def test_the_floor_never_touches_a_normally_distributed_channel():
    values = np.random.default_rng(0).normal(3.0, 0.5, size=(1000, 1))
    (scaling,) = fit_scalers([values])
    assert not scaling.floored.any() and scaling.scale[0] == pytest.approx(values.std())


def test_a_channel_quiet_in_one_entity_borrows_its_scale_from_the_others():
    rng = np.random.default_rng(0)
    quiet, lively = 1.0 + 1e-5 * rng.normal(size=(500, 1)), rng.uniform(-1, 1, size=(500, 1))
    entity, joint = fit_scalers([quiet, lively], scope="entity"), fit_scalers([quiet, lively], scope="joint")
    assert entity[0].floored[0] and entity[0].scale[0] == pytest.approx(DEFAULT_FLOOR * (lively.max() - lively.min()), rel=1e-3)
    assert joint[0] is joint[1] and joint[0].scale[0] == pytest.approx(np.concatenate([quiet, lively]).std())


def test_scaler_none_and_a_zero_floor():
    values = np.random.default_rng(0).normal(size=(100, 2))
    assert np.array_equal(fit_scalers([values], "none")[0].apply(values), values.astype(np.float32))
    values[:, 1] = 1.0 + 1e-9 * np.arange(100)
    assert fit_scalers([values], floor=0.0)[0].scale[1] == pytest.approx(values[:, 1].std())


def test_many_clamped_channels_are_counted_not_all_named(ssmad_log):
    Pathological(n_entities=6, scaler_scope="entity").prepare()
    assert "12 channel(s)" in ssmad_log.text and "and 4 more" in ssmad_log.text  # 6 entities x 2 floored channels, 8 named


@pytest.mark.parametrize(
    "options, key",
    [(dict(scaler="robust"), "data.scaler"), (dict(scaler_scope="global"), "data.scaler_scope"), (dict(scaler_floor=1.5), "data.scaler_floor"), (dict(scaler_floor="0.1"), "data.scaler_floor")],
)
def test_bad_scaler_options_are_config_errors(options, key):
    with pytest.raises(ConfigError, match=key):
        Pathological(**options)


def test_the_zscore_baseline_floors_its_std_like_the_pipeline():
    series = [pathological_entity("e0", 0).train.astype(np.float64)]
    baseline = ZScoreDetector(n_features=5, window=10)
    baseline.fit_offline(series)
    (scaling,) = fit_scalers(series, scope="joint")
    np.testing.assert_allclose(baseline.std.numpy(), scaling.scale, rtol=1e-6)
    assert baseline.std[1] > 1e-3  # not the 1e-5 training std


@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/data/SMAP_MSL")
@pytest.mark.parametrize("scope", ["entity", "joint"])
@pytest.mark.parametrize("spacecraft", ["SMAP", "MSL"])
def test_real_smap_msl_test_values_respect_the_documented_bound(spacecraft, scope):
    """|z| <= (1 + d / R) / floor, where d is how far the raw value lies outside the channel's
    training range R over all channels (0 inside it)."""
    source = SmapMsl(root=str(REAL), spacecraft=spacecraft, scaler_scope=scope)
    raw = {e.name: e for e in source.read()}
    data = source.prepare()
    fits = [raw[e.name].train[: len(e.train)] for e in data.entities]
    low, high = np.min([f.min(0) for f in fits], 0), np.max([f.max(0) for f in fits], 0)
    span = np.where(high > low, high - low, np.inf)
    for entity in data.entities:
        values = raw[entity.name].test
        outside = np.maximum(low - values, 0) + np.maximum(values - high, 0)
        bound = np.where(np.isfinite(span), (1 + outside / span) / DEFAULT_FLOOR, np.abs(values - entity.shift) + 1e-9)
        assert (np.abs(entity.test) <= bound * (1 + 1e-5) + 1e-5).all(), entity.name
