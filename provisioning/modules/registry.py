"""Which modules exist: the built-in ones and those of the packages named in PORTAL_MODULE_PACKAGES.

A third-party module is a class derived from provisioning.modules.base.Module in an importable package; the
package calls `register(TheModule)` when it is imported. ProvisioningConfig.ready() imports the built-ins and then
each package named in the setting, so a provider adds a module without forking (PORTAL_MODULE_PACKAGES=acme_panel).
"""

from __future__ import annotations

import importlib

from provisioning.modules.base import Module

_MODULES: dict[str, type[Module]] = {}

BUILT_IN = (
    "provisioning.modules.manual",
    "provisioning.modules.postgresql",
    "provisioning.modules.powerdns",
    "provisioning.modules.cpanel",
)


class UnknownModule(LookupError):
    pass


def register(module_class: type[Module]) -> type[Module]:
    """Add a module class (also usable as a class decorator). A second class under the same name is refused, so a
    package cannot silently replace a built-in."""
    if not module_class.name or not module_class.label:
        raise ValueError(f"{module_class.__qualname__} needs a name and a label to be registered.")
    existing = _MODULES.get(module_class.name)
    if existing is not None and existing is not module_class:
        raise ValueError(f"A module named {module_class.name!r} is registered already ({existing.__module__}).")
    _MODULES[module_class.name] = module_class
    return module_class


def load(packages: list[str] | tuple[str, ...] = ()) -> None:
    """Import the built-in modules and the named packages (each registers its own). An unimportable package is
    an error at start, not a module that silently disappears."""
    for dotted in (*BUILT_IN, *packages):
        try:
            importlib.import_module(dotted)
        except ModuleNotFoundError as error:
            if dotted in BUILT_IN and error.name == dotted:
                continue  # a built-in not written yet (the registry is built module by module)
            raise


def module_for(name: str) -> Module:
    try:
        return _MODULES[name]()
    except KeyError:
        raise UnknownModule(f"No provisioning module is named {name!r}.") from None


def module_class(name: str) -> type[Module] | None:
    return _MODULES.get(name)


def choices() -> list[tuple[str, str]]:
    """(name, label) of every registered module, for the product's and the server's module field."""
    return sorted(((name, cls.label) for name, cls in _MODULES.items()), key=lambda pair: pair[1].lower())


def names() -> list[str]:
    return sorted(_MODULES)
