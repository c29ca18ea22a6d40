"""Rules about how our modules use each other that import-linter cannot state.

A name that starts with an underscore is its module's own: another module that imports it (`from x import _y`)
or reaches for it (`x._y(...)`) depends on what its author meant to be free to change. The scan reads the app
code with ast, so it sees imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("billing", "core", "config", "fraud", "notifications", "orders", "provisioning", "automation")
FIRST_PARTY = (*APPS, "tests")


# Uses left to the engineer whose area they are in, each with its reason. Remove an entry when it is fixed.
KNOWN: set[str] = set()  # "path: what" of a known offence, to be fixed; none today


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _absolute(module: str, node: ast.ImportFrom, *, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def private_uses(source: str, *, module: str, is_package: bool = False) -> list[str]:
    """Each use, in this module's source, of another first-party module's private name: "line: what"."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found: list[str] = []
    imported_modules: dict[str, str] = {}  # local name -> first-party module it names
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source_module = _absolute(module, node, package=package)
            if source_module.split(".")[0] not in FIRST_PARTY or source_module == module:
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{node.lineno}: from {source_module} import {alias.name}")
                else:
                    imported_modules[alias.asname or alias.name] = f"{source_module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FIRST_PARTY:
                    local = alias.asname or alias.name.split(".")[0]
                    imported_modules[local] = alias.name if alias.asname else local
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain = []
            target = node.value
            while isinstance(target, ast.Attribute):
                chain.append(target.attr)
                target = target.value
            if isinstance(target, ast.Name) and target.id in imported_modules:
                dotted = ".".join([imported_modules[target.id], *reversed(chain)])
                if dotted != module and _is_module(dotted):  # Invoice._meta is Django's API, not a module's
                    found.append(f"{node.lineno}: {dotted}.{node.attr}")
    return found


def _app_files():
    for app in APPS:
        directory = ROOT / app
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_module_uses_a_private_name_of_another():
    offences = []
    for path in _app_files():
        for use in private_uses(path.read_text(), module=_module_name(path), is_package=path.name == "__init__.py"):
            _line, _, what = use.partition(": ")
            if f"{path.relative_to(ROOT)}: {what}" not in KNOWN:
                offences.append(f"{path.relative_to(ROOT)}:{use}")
    assert not offences, "Private names used across modules (make them public or keep them in one module):\n" + (
        "\n".join(offences)
    )


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from billing.services.invoices import _number_allocate\n", "billing.services.payments", 1),
        ("def f():\n    from billing.services.invoices import _number_allocate\n", "billing.services.payments", 1),
        ("from . import _helper\n", "billing.services.payments", 1),
        ("from .invoices import _helper\n", "billing.services.payments", 1),
        ("from billing.services import invoices\ninvoices._locked(1)\n", "billing.services.payments", 1),
        ("import billing.services.invoices\nbilling.services.invoices._locked(1)\n", "billing.admin", 1),
        ("from billing.services.invoices import invoice_create\n", "billing.services.payments", 0),
        ("from django.db.models import _private\n", "billing.services.payments", 0),  # not ours
        ("def _own():\n    pass\n_own()\n", "billing.services.payments", 0),
        ("from billing.models import Invoice\nInvoice._meta\n", "billing.selectors", 0),  # a class's, not a module's
    ],
)
def test_the_scan_finds_private_uses(source, module, expected):
    assert len(private_uses(source, module=module)) == expected
