"""Config files: _base_ inheritance, overrides, validation and the resolved dump."""
from pathlib import Path

import pytest

from util.config import dumps, load
from util.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    runtime = (REPO / "configs/__base__/runtime.py").read_text()
    write(tmp_path / "__base__/runtime.py", runtime)
    write(tmp_path / "__base__/data.py", 'data = dict(type="synthetic", n_features=3, window=32, batch_size=8)\n')
    return write(
        tmp_path / "exp/ae.py",
        '_base_ = ["../__base__/runtime.py", "../__base__/data.py"]\n'
        'model = dict(type="dense_ae", hidden=(32, 8), loss=dict(type="mse"))\n'
        "data = dict(window=16)\n"
        "trainer = dict(epochs=2, optimizer=dict(lr=0.01))\n",
    )


def test_inheritance_merges_dicts_and_child_wins(config):
    cfg = load(config)
    assert cfg["data"] == dict(type="synthetic", n_features=3, window=16, batch_size=8)
    assert cfg["trainer"]["epochs"] == 2
    assert cfg["trainer"]["optimizer"] == dict(type="adam", lr=0.01, weight_decay=0.0)
    assert cfg["trainer"]["patience"] == 3  # untouched base value


def test_overrides_parse_literals_and_nested_keys(config):
    cfg = load(config, ["trainer.epochs=5", "trainer.optimizer.lr=1e-4", "trainer.resume=true", "model.hidden=[64, 4]", "work_dir=runs/x"])
    assert cfg["trainer"]["epochs"] == 5 and cfg["trainer"]["optimizer"]["lr"] == 1e-4
    assert cfg["trainer"]["resume"] is True
    assert cfg["model"]["hidden"] == [64, 4]
    assert cfg["work_dir"] == "runs/x"


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.epoch=3", "Unknown key 'epoch' for 'trainer'.*Did you mean 'epochs'"),
        ("trainer.epochs=three", "'trainer.epochs' expects a int"),
        ("trainer.resume=1", "'trainer.resume' expects a bool"),
        ("sed=1", "Unknown config key 'sed'.*Did you mean 'seed'"),
        ("trainer.epochs", "not of the form key=value"),
        ("model.type=dense_autoencoder", "Unknown detector 'dense_autoencoder'.*Did you mean 'dense_ae'"),
        ("model.hiden=3", "Unknown key 'hiden'.*Did you mean 'hidden'"),
    ],
)
def test_bad_overrides_name_the_key(config, override, message):
    with pytest.raises(ConfigError, match=message):
        load(config, [override])


def test_switching_a_component_type_drops_keys_the_new_one_does_not_take(config):
    cfg = load(config, ["data.type=csv", "data.test_path=my.csv"])
    assert "n_features" not in cfg["data"]
    assert cfg["data"]["test_path"] == "my.csv" and cfg["data"]["window"] == 16


def test_missing_file_and_missing_sections(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.py")
    with pytest.raises(ConfigError, match="no 'model' section"):
        load(write(tmp_path / "empty.py", "seed = 1\n"))


def test_configs_hold_only_data(tmp_path):
    with pytest.raises(ConfigError, match="only dicts"):
        load(write(tmp_path / "bad.py", "import math\nmodel = dict(type='x', f=math.sqrt)\n"))


def test_inheritance_loop_is_reported(tmp_path):
    write(tmp_path / "a.py", '_base_ = ["b.py"]\n')
    write(tmp_path / "b.py", '_base_ = ["a.py"]\n')
    with pytest.raises(ConfigError, match="loops"):
        load(tmp_path / "a.py")


def test_resolved_dump_loads_back_identically(config, tmp_path):
    cfg = load(config, ["trainer.epochs=7"])
    again = load(write(tmp_path / "resolved.py", dumps(cfg)))
    assert again == cfg


def test_delete_marker_in_a_base_replaces_what_an_earlier_base_set(tmp_path):
    write(tmp_path / "a.py", 'evaluation = dict(type="timeseries", protocol="honest")\nmodel = dict(type="x")\n')
    write(tmp_path / "b.py", 'evaluation = dict(_delete_=True, type="image")\n')
    write(tmp_path / "c.py", '_base_ = ["a.py", "b.py"]\nevaluation = dict(gaussian_sigma=2)\n')
    from util.config import _load_file, _strip_delete_markers

    cfg = _strip_delete_markers(_load_file(tmp_path / "c.py", chain=()))
    assert cfg["evaluation"] == dict(type="image", gaussian_sigma=2)


def test_a_name_key_accepts_a_list_of_names(config):
    cfg = load(config, ["data.type=smap", "data.entities=['A-1', 'A-2']"])
    assert cfg["data"]["entities"] == ["A-1", "A-2"]


def test_an_unquoted_bracketed_list_is_a_list_of_values(config):
    """``[A-1, B-2]`` as typed in a shell: the items are strings (or literals), not one string."""
    cfg = load(config, ["data.type=smap", "data.entities=[A-1, B-2,3]"])
    assert cfg["data"]["entities"] == ["A-1", "B-2", 3]


@pytest.mark.parametrize(
    "overrides, key, value",
    [
        (["data.scaler=none"], ("data", "scaler"), "none"),  # takes a string only: the word as typed
        (["data.scaler='none'"], ("data", "scaler"), "none"),
        (["work_dir=123"], ("work_dir",), "123"),  # a path, not a number
        (["checkpoint=5"], ("checkpoint",), "5"),
        (["data.type=csv", "data.test_path=2024"], ("data", "test_path"), "2024"),
        (["data.type=csv", "data.timestamp_column=none"], ("data", "timestamp_column"), None),  # str | None: None
        (["data.type=csv", "data.delimiter=true"], ("data", "delimiter"), "true"),
        (["trainer.max_steps=none"], ("trainer", "max_steps"), None),
        (["predict.entity=1"], ("predict", "entity"), "1"),
        (["trainer.epochs=3"], ("trainer", "epochs"), 3),
    ],
)
def test_override_values_fit_the_type_the_key_takes(config, overrides, key, value):
    node = load(config, overrides)
    for part in key:
        node = node[part]
    assert node == value and type(node) is type(value)


def test_none_for_a_key_that_cannot_be_none_is_an_error(config):
    with pytest.raises(ConfigError, match="'data.window' cannot be None; it takes int"):
        load(config, ["data.window=none"])
