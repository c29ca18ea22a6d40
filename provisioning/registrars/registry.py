"""Which registrars exist: the built-in ones and those of the packages named in PORTAL_REGISTRAR_PACKAGES.

A third-party registrar is a class derived from provisioning.registrars.base.Registrar in an importable package;
the package calls `register(TheRegistrar)` when it is imported. ProvisioningConfig.ready() imports the built-ins,
then each package named in the setting (PORTAL_REGISTRAR_PACKAGES=acme_registrar).
"""

from __future__ import annotations

import importlib

from provisioning.registrars.base import Registrar

_REGISTRARS: dict[str, type[Registrar]] = {}

BUILT_IN = (
    "provisioning.registrars.manual",
    "provisioning.registrars.epp.registrar",
)


class UnknownRegistrar(LookupError):
    pass


def register(registrar_class: type[Registrar]) -> type[Registrar]:
    """Add a registrar class (also a class decorator). A second class under the same name is refused, so a package
    cannot silently replace a built-in."""
    if not registrar_class.name or not registrar_class.label:
        raise ValueError(f"{registrar_class.__qualname__} needs a name and a label to be registered.")
    existing = _REGISTRARS.get(registrar_class.name)
    if existing is not None and existing is not registrar_class:
        raise ValueError(f"A registrar named {registrar_class.name!r} is registered already ({existing.__module__}).")
    _REGISTRARS[registrar_class.name] = registrar_class
    return registrar_class


def load(packages: list[str] | tuple[str, ...] = ()) -> None:
    """Import the built-ins and the named packages (each registers its own). An unimportable package is an error
    at start, not a registrar that silently disappears."""
    for dotted in (*BUILT_IN, *packages):
        try:
            importlib.import_module(dotted)
        except ModuleNotFoundError as error:
            if dotted in BUILT_IN and error.name and (dotted == error.name or dotted.startswith(error.name + ".")):
                continue  # a built-in not written yet
            raise


def registrar_for(name: str) -> Registrar:
    try:
        return _REGISTRARS[name]()
    except KeyError:
        raise UnknownRegistrar(f"No registrar is named {name!r}.") from None


def registrar_class(name: str) -> type[Registrar] | None:
    return _REGISTRARS.get(name)


def choices() -> list[tuple[str, str]]:
    """(name, label) of every registered registrar, for a TLD's registrar field and the accept form."""
    return sorted(((name, cls.label) for name, cls in _REGISTRARS.items()), key=lambda pair: pair[1].lower())


def names() -> list[str]:
    return sorted(_REGISTRARS)
