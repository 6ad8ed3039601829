# Shared defaults of every run. Override any key on the command line: trainer.epochs=5 seed=1
seed = 0
device = "auto"  # "auto" picks CUDA when present, else CPU; or "cpu", "cuda", "cuda:1"
work_dir = None  # None: runs/<config-name>/<timestamp>/; a path: the run folder exactly there
checkpoint = None  # -m test/predict: a checkpoint file or run folder to evaluate
num_threads = None  # compute threads (matrix products and the CPU scan share them); None: the cores, less one per DataLoader worker
entity_mode = "joint"  # several entities: "joint" (one model over all) or "separate" (one model each, runs/<...>/entities/<name>/)
deterministic = False  # True: deterministic kernels only, no cuDNN autotuning (bit-identical CUDA reruns, slower; docs/usage.md)
cpu_config = None  # a config path: the documented CPU alternative, named when a CPU run is projected past 3 h

# -m predict: score a new series with a trained run (checkpoint=RUN); `data.path=x` is accepted for `predict.path=x`.
predict = dict(
    path=None,  # a .csv (one column per feature, optional timestamp column) or a .npy (time, features)
    timestamp_column=None,  # CSV column with timestamps (None: the run's timestamp column, else one named timestamp/time/date/datetime)
    entity=None,  # the entity whose training scaler and threshold apply (None: the run's only entity)
    chunk_size=100_000,  # rows read and scored at a time
    output=None,  # folder for scores.csv and the plot (None: a new <run>/predict/<file name>/)
)

trainer = dict(
    type="base",
    epochs=10,
    max_steps=None,  # stop after this many optimiser steps in total (smoke tests)
    optimizer=dict(type="adam", lr=1e-3, weight_decay=0.0),
    scheduler=dict(type="none"),
    grad_clip=None,  # max gradient norm, or None
    amp=False,  # mixed precision; only ever used on CUDA
    compile=False,  # torch.compile the training loss (pays off for long runs only)
    patience=3,  # early stopping on the validation loss (a split of the training data)
    select="val_loss",  # ckpt_best.pth: lowest validation loss, or "last" (final epoch, no early stopping)
    resume=False,  # continue from ckpt_last.pth in work_dir
    log_every=20,  # TensorBoard scalars every N steps
    progress=True,  # tqdm progress bars
)

evaluation = dict(
    type="timeseries",
    # Honest default: the 99th percentile of validation scores (training data only).
    threshold=dict(type="percentile", q=99.0),
    protocol="honest",  # "legacy": anomaly-ratio threshold over train+test scores, PA-F1 headline
    legacy_anomaly_ratio=1.0,  # percent of points flagged under the legacy protocol
    vus_window=100,  # buffer of Range-AUC / VUS (TSB-AD's slidingWindow default)
    entity_scaling=None,  # "val": each entity's scores scaled by its validation scores (median, IQR)
    # "labelled": score from the features the dataset's labels describe (data.label_features; SMAP/MSL:
    # the telemetry, column 0), with the all-feature score reported next to it; "all": every feature.
    score_features="labelled",
    baselines=True,  # also score random and z-score baselines on the same test set
    plots=True,
)
