"""The CI check that fails on import cycles (.ci/import_cycles.py) finds the cycles it is there to find."""

import importlib.util
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parent.parent / ".ci" / "import_cycles.py"


@pytest.fixture
def check():
    spec = importlib.util.spec_from_file_location("import_cycles", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    (root / name).mkdir()
    for module, source in modules.items():
        (root / name / f"{module}.py").write_text(source)


@pytest.fixture
def packages(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith(("ringed", "straight"))]:
        del sys.modules[name]


def test_a_cycle_through_an_import_inside_a_function_is_found_and_named(check, packages):
    _package(
        packages,
        "ringed",
        {
            "__init__": "",
            "invoices": "from ringed import payments\n",
            "payments": "def pay():\n    from ringed.ledger import book\n",
            "ledger": "from ringed.invoices import x\n",
            "alone": "from ringed import invoices\n",
        },
    )
    found = check.cycles(["ringed"])
    assert len(found) == 1
    text = "\n".join(found[0])
    assert "ringed.payments imports ringed.ledger (line 2: from ringed.ledger import book)" in text
    assert "ringed.alone" not in text
    assert check.main(["ringed"]) == 1


def test_imports_that_run_one_way_pass(check, packages, capsys):
    _package(
        packages,
        "straight",
        {
            "__init__": "",
            "views": "from straight import services\n",
            "services": "from straight import models\n",
            "models": "",
        },
    )
    assert check.cycles(["straight"]) == []
    assert check.main(["straight"]) == 0
    assert "no import cycle in straight" in capsys.readouterr().out
