"""Windows as views, and every test point scored exactly once."""
import numpy as np
import pytest
import torch

from data.timeseries.windows import WindowDataset, fold_window_scores, identity_collate, window_starts
from util.errors import DataError


@pytest.mark.parametrize("length, window, stride", [(100, 10, 10), (103, 10, 10), (50, 50, 7), (57, 8, 3)])
def test_windows_cover_every_point_and_end_at_the_series_end(length, window, stride):
    starts = window_starts(length, window, stride)
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s : s + window] = True
    assert covered.all() and starts[-1] == length - window


def test_folding_gives_one_score_per_point_equal_to_the_point_score():
    length, window = 103, 10
    truth = np.random.default_rng(0).random(length)
    starts = window_starts(length, window, window)
    per_window = np.stack([truth[s : s + window] for s in starts])
    folded = fold_window_scores(per_window, starts, length)
    assert folded.shape == (length,)
    np.testing.assert_allclose(folded, truth)


def test_series_shorter_than_window_is_a_clear_error():
    with pytest.raises(DataError, match="shorter than the window"):
        window_starts(5, 10, 1)


def test_batched_windows_match_slices_and_never_cross_series():
    a = np.arange(20, dtype=np.float32).reshape(10, 2)
    b = 100 + np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = WindowDataset([a, b], window=4, stride=1)
    assert len(ds) == 7 + 3
    batch = identity_collate(ds.__getitems__(list(range(len(ds)))))["x"]
    for i in range(len(ds)):
        assert torch.equal(batch[i], ds[i]["x"])
    crosses = [(w[:, 0] >= 100).any() and (w[:, 0] < 100).any() for w in batch]
    assert not any(crosses)


def test_dataset_memory_does_not_grow_with_window_count():
    series = np.zeros((5000, 3), np.float32)
    ds = WindowDataset([series], window=100, stride=1)
    assert ds.data.numel() == series.size  # one copy of the series, windows are views
    assert ds._views.untyped_storage().data_ptr() == ds.data.untyped_storage().data_ptr()
