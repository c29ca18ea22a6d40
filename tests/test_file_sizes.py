"""Files a reader can hold: no module of app code over 600 lines (migrations aside)."""

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600
# Every package of ours: the import-linter root packages, which CI checks for layers and cycles too.
APPS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]


@pytest.mark.parametrize("app", APPS)
def test_no_module_of_the_app_is_over_600_lines(app):
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
