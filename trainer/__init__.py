"""The generic trainer, optimisers/schedulers and the two evaluators (time series, images)."""
