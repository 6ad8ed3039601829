# The declared ablation of issue 23 (item 4) for `tools/ablate.py`: which variants of KambaAD's own-data
# config (configs/kambaad/kambaad_csv.py: KAN on the window, attention with 4 heads, Mamba with d_state 16,
# d_conv 4, expand 2, d_model 64, one layer, the shared-head patch_ci reconstructor with patches of 8 at
# stride 4) to compare with the full model, as dotted overrides applied on top of that file.
#
# They mirror configs/kambaad/ablations/*.py, which are relative to the paper-size kambaad_smap.py; here
# every variant keeps kambaad_csv.py's sizes and settings except what its name says. A list value (the
# blocks) replaces the whole list; `model.reconstructor.type` swaps the reconstructor and keeps its
# patch_len and stride, as the ablation files' merge does. `tests/test_ablate.py` checks that every
# variant loads and its overrides round-trip.
#
# Size matching: dropping a stage also drops parameters, so a loss could be capacity, not the part. Each
# size-matched variant is the plain one widened by its d_model alone (the one width that scales what
# is left) to the full model's parameter count on a 25-feature series (the tuning files' width: SMAP,
# 1 telemetry + 24 command channels) at the config's window of 100, within SIZE_TOLERANCE
# (`tests/test_ablate.py` asserts it). At other widths the match moves: the reconstructor-only model's
# shared head does not grow with the features, the full model does (at 55 features, MSL's width,
# 923,412 against 1,169,307).

# The blocks of kambaad_csv.py (the test checks they are the config's own).
KAN = dict(type="kan_window")
ATTENTION = dict(type="attention", n_heads=4)
MAMBA = dict(type="mamba", d_state=16, d_conv=4, expand=2)

SIZE_TOLERANCE = 0.10  # a size-matched variant's parameters may differ from the full model's by this share

VARIANTS = {
    # the reference every variant is paired with: kambaad_csv.py as committed (925,437 parameters at 25 features)
    "full": {},
    # the KAN per time step ([F, 64, d_model] on each step) instead of one KAN on the flattened window:
    # does seeing the window at once matter? (270,397 parameters)
    "kan_point": {"model.blocks": [dict(type="kan_point"), ATTENTION, MAMBA]},
    # the encoder layers alone, their Linear(d_model -> F) is the reconstruction (764,761)
    "encoder_only": {"model.use_reconstructor": False},
    # d_model 80 instead of 64: 919,065 parameters against the full model's 925,437 (-0.7 %; 76 gives 880,073)
    "encoder_only_size_matched": {"model.use_reconstructor": False, "model.d_model": 80},
    # the patch reconstructor alone on the raw window (160,676)
    "reconstructor_only": {"model.use_encoder": False},
    # d_model 368 instead of 64: 923,412 parameters against 925,437 (-0.2 %; 372 gives 933,448)
    "reconstructor_only_size_matched": {"model.use_encoder": False, "model.d_model": 368},
    # channel-dependent reconstruction: the shared head, then a Linear mixing the channels (926,087)
    "cd_reconstruction": {"model.reconstructor.type": "patch_cd"},
    # the order of the parts: Mamba before attention (925,437, the same parts)
    "order_kan_mamba_attention": {"model.blocks": [KAN, MAMBA, ATTENTION]},
    # the KAN last, mapping d_model -> d_model after a Linear(F -> d_model) (1,241,597)
    "order_attention_mamba_kan": {"model.blocks": [ATTENTION, MAMBA, KAN]},
    # one part left out each; without the KAN a Linear(F -> d_model) comes first (213,373)
    "no_kan": {"model.blocks": [ATTENTION, MAMBA]},
    "no_attention": {"model.blocks": [KAN, MAMBA]},  # 908,733
    "no_mamba": {"model.blocks": [KAN, ATTENTION]},  # 892,733
}
