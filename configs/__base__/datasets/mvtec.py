# MVTec AD (download it yourself: https://www.mvtec.com/company/research/datasets/mvtec-ad), layout
# <cls>/train/good, <cls>/test/<defect>, <cls>/ground_truth/<defect>/*_mask.png.
# classes="all" trains one model on every class (the multi-class setting of MambaAD/MTAD).
data = dict(
    type="mvtec",
    root="datasets/mvtec",
    classes="all",
    image_size=256,
    batch_size=16,
    val_fraction=0.1,  # held-out *normal training* images for the validation loss; never test images
    num_workers=0,
)

evaluation = dict(
    _delete_=True,  # replaces the time-series evaluator settings of runtime.py
    type="image",
    # the anomaly map is smoothed here, not in the detectors; None: 4 px at 256 px (the papers),
    # scaled with the image size (2 px at 128 px)
    gaussian_sigma=None,
    max_pixels_for_metrics=20_000_000,
    save_grid=True,
)
