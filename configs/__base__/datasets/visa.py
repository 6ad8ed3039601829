# VisA (https://github.com/amazon-science/spot-diff), layout <cls>/Data/Images/{Normal,Anomaly},
# <cls>/Data/Masks/Anomaly and the split file split_csv/1cls.csv (object,split,label,image,mask).
data = dict(
    type="visa",
    root="datasets/visa",
    split_csv="split_csv/1cls.csv",
    classes="all",
    image_size=256,
    batch_size=16,
    val_fraction=0.1,  # held-out *normal training* images for the validation loss; never test images
    num_workers=0,
)

evaluation = dict(
    _delete_=True,  # replaces the time-series evaluator settings of runtime.py
    type="image",
    gaussian_sigma=None,  # None: 4 px at 256 px (the papers), scaled with the image size (2 px at 128 px)
    max_pixels_for_metrics=20_000_000,  # VisA has ~2k test images: pixel metrics use every k-th pixel above this
    save_grid=True,
)
