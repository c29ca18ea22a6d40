"""Test modules share helpers only through public places: tests/factories.py, a conftest fixture or a public
helper module under tests/. A private helper (`_name`) imported from another test module is a copy of a builder
waiting to drift, and a test module imported by another one runs its module-level setup twice."""

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command

TESTS = Path(__file__).resolve().parent


def _imports_from_tests() -> list[tuple[str, str, str]]:
    """(where, module, name) for every `from tests... import name` (absolute or relative) under tests/."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        package = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == "tests" or module.startswith("tests."):
                where = f"{path.relative_to(TESTS.parent)}:{node.lineno}"
                found.extend((where, module, alias.name) for alias in node.names)
    return found


def test_no_test_module_imports_a_private_name_from_another_module_under_tests():
    private = [
        f"{where}: from {module} import {name}" for where, module, name in _imports_from_tests() if name[0] == "_"
    ]
    assert not private, "share it through tests/factories.py, a conftest fixture or a public helper module:\n" + (
        "\n".join(private)
    )


def test_no_test_module_imports_from_another_test_module():
    from_tests = [
        f"{where}: from {module} import {name}"
        for where, module, name in _imports_from_tests()
        if module.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert not from_tests, "move what they share out of the test module:\n" + "\n".join(from_tests)


def test_the_scan_sees_absolute_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "tests" / "billing"
    package.mkdir(parents=True)
    (package / "test_x.py").write_text(
        "from tests.provisioning.test_y import _service\nfrom .test_z import helper\nfrom ..factories import X\n"
    )
    monkeypatch.setattr(f"{__name__}.TESTS", tmp_path / "tests")
    assert sorted(_imports_from_tests()) == [
        ("tests/billing/test_x.py:1", "tests.provisioning.test_y", "_service"),
        ("tests/billing/test_x.py:2", "tests.billing.test_z", "helper"),
        ("tests/billing/test_x.py:3", "tests.factories", "X"),
    ]


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: count
        for model in apps.get_models()
        if model._meta.label not in ("contenttypes.ContentType", "auth.Permission")
        and (count := model._base_manager.count())
    }


@pytest.mark.django_db(transaction=True)
def test_a_flush_leaves_the_rows_the_data_migrations_seed():
    """A transactional test ends with this flush; whatever test runs next on the worker finds the seeded rows."""
    seeded = _row_counts()
    assert {"billing.GatewayConfig", "fraud.FraudRule", "django_celery_beat.PeriodicTask"} <= set(seeded)
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)  # as TransactionTestCase does
    assert _row_counts() == seeded
