"""The generic trainer, optimisers/schedulers and the two evaluators (time series, images)."""
from trainer import base, image_evaluator, optim, ts_evaluator  # noqa: F401  (registration)
