"""Packaging checks: only eligo.* is importable, each subpackage maps to its folder."""

import importlib
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PACKAGES = {
    "eligo": "eligo",
    "eligo.rtl": "rtl",
    "eligo.model": "model",
    "eligo.tb": "tb",
    "eligo.golden": "golden",
    "eligo.synth": "synth",
}


@pytest.mark.parametrize("name,folder", sorted(PACKAGES.items()))
def test_subpackage_maps_to_folder(name, folder):
    mod = importlib.import_module(name)
    path = Path(mod.__file__).resolve()
    assert path == REPO / folder / "__init__.py", f"{name} imported from {path}"


def test_version():
    import eligo

    assert eligo.__version__ == "0.1.0"


@pytest.mark.parametrize("name", ["rtl", "model", "golden", "synth"])
def test_no_top_level_subpackages(name):
    assert importlib.util.find_spec(name) is None, (
        f"top-level `{name}` is importable; is the repo root on sys.path? "
        "run pytest as `python -P -m pytest` (or `make test`)"
    )
