# Built-in texture benchmark: generated on first use under root from scikit-image's bundled
# texture photographs (brick, grass, gravel, tissue), synthetic defects with exact masks, MVTec
# layout. Works offline; small enough to train on a CPU in minutes.
data = dict(
    type="textures",
    root="datasets/textures",
    classes="all",
    generated_size=128,
    n_train=60,  # per class, before the validation split
    n_test_good=10,
    n_test_per_defect=4,  # x 5 defect kinds: cut_paste, scratch, foreign, hole, color
    seed=0,
    image_size=128,
    batch_size=16,
    val_fraction=0.1,
    num_workers=0,
)

evaluation = dict(
    _delete_=True,  # replaces the time-series evaluator settings of runtime.py
    type="image",
    gaussian_sigma=None,  # None: 4 px at 256 px (the papers), scaled with the image size (2 px at 128 px)
    max_pixels_for_metrics=20_000_000,
    save_grid=True,
)
