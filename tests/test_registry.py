"""The registry: decorator registration, building, and errors that name the fix."""
import pytest

from util.errors import ConfigError
from util.registry import Registry


@pytest.fixture()
def mixers() -> Registry:
    registry = Registry("mixer")

    @registry.register("identity")
    class Identity:
        def __init__(self, width: int = 4) -> None:
            self.width = width

    @registry.register()
    class Scaled(Identity):
        def __init__(self, factor: float = 2.0, **kwargs) -> None:
            super().__init__(**kwargs)
            self.factor = factor

    return registry


def test_build_passes_keywords(mixers):
    built = mixers.build(dict(type="identity", width=8))
    assert built.width == 8
    assert mixers.names() == ["Scaled", "identity"]


def test_keywords_follow_kwargs_to_the_base_class(mixers):
    built = mixers.build(dict(type="Scaled", factor=3.0, width=2))
    assert (built.factor, built.width) == (3.0, 2)
    with pytest.raises(ConfigError, match="Unknown key 'widht'.*Did you mean 'width'"):
        mixers.build(dict(type="Scaled", widht=2))


def test_unknown_name_lists_known_names_with_did_you_mean(mixers):
    with pytest.raises(ConfigError) as err:
        mixers.build(dict(type="identiy"))
    assert "Did you mean 'identity'" in str(err.value)
    assert "Scaled, identity" in str(err.value)


def test_missing_type_is_a_config_error(mixers):
    with pytest.raises(ConfigError, match="'type' key"):
        mixers.build(dict(width=3))


def test_duplicate_registration_is_refused(mixers):
    with pytest.raises(ValueError, match="already registered"):
        mixers.register("identity")(type("Other", (), {}))


def test_a_lookup_imports_the_registry_package_so_a_new_file_needs_no_import_line():
    """A component registers itself by living in its registry's package: nothing imports it by hand."""
    import sys
    from pathlib import Path

    from util import registry

    registries = [value for value in vars(registry).values() if isinstance(value, Registry)]
    assert all(r.package for r in registries), "every project registry names the package its components live in"
    for r in registries:
        r.names()
    repo = Path(__file__).resolve().parents[1]
    for package in {r.package for r in registries}:
        for path in (repo / package).rglob("*.py"):
            parts = path.relative_to(repo).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            assert name.endswith("__main__") or name in sys.modules, f"{name} is not imported by a lookup in its registry"


def test_registries_are_complete_without_any_import():
    """A fresh interpreter that imports only the registry lists every detector, dataset and threshold rule."""
    import subprocess
    import sys
    from pathlib import Path

    code = "from util.registry import DATASETS, DETECTORS, THRESHOLDS; print(DETECTORS.names(), DATASETS.names(), THRESHOLDS.names())"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True).stdout
    assert all(name in out for name in ("'kambaad'", "'random'", "'synthetic'", "'mvtec'", "'percentile'"))
