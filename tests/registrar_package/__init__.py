"""A third-party registrar package as a provider would write one: named in PORTAL_REGISTRAR_PACKAGES (the test
settings), it registers its registrar when imported. It answers from a dictionary of names it holds, so tests can
drive availability, a taken name and a refusal without a registry."""

from __future__ import annotations

import datetime
import time

from provisioning.modules.base import Setting, SettingType
from provisioning.registrars.base import (
    Availability,
    DomainTaken,
    Registered,
    Registrar,
    RegistrarAction,
    RegistrarContext,
    TransientRegistrarError,
)
from provisioning.registrars.registry import register

HELD: dict[str, datetime.date] = {}  # name -> expiry date, the names this registrar holds for us
TAKEN: set[str] = {"taken.example"}  # names someone else holds
DOWN: set[str] = set()  # names whose check fails as a registry that does not answer
SLOW: dict[str, float] = {}  # names whose check takes this many seconds
SEEN_SETTINGS: list[dict] = []  # the settings each check was given


def reset() -> None:
    HELD.clear()
    DOWN.clear()
    SLOW.clear()
    SEEN_SETTINGS.clear()


@register
class ScriptedRegistrar(Registrar):
    name = "scripted_registrar"
    label = "Scripted registrar (tests)"
    settings = (
        Setting("region", "Region", default="eu"),
        Setting("password", "Password", type=SettingType.SECRET),
    )
    actions = frozenset({RegistrarAction.CHECK, RegistrarAction.REGISTER})

    def check(self, context: RegistrarContext) -> Availability:
        name = context.domain.name
        SEEN_SETTINGS.append(dict(context.settings))
        if name in SLOW:
            time.sleep(SLOW[name])
        if name in DOWN:
            raise TransientRegistrarError(f"The registry did not answer the check of {name}.")
        taken = name in TAKEN or name in HELD
        return Availability(name=name, available=not taken, reason="In use" if taken else "")

    def register(self, context: RegistrarContext) -> Registered:
        name = context.domain.name
        if name in HELD:
            return Registered(expiry_date=HELD[name], found_existing=True, message="Already ours.")
        if name in TAKEN:
            raise DomainTaken(f"2302 Object exists: {name}", client_message=f"{name} is taken.", code=2302)
        expiry = datetime.date(2030, 1, 1).replace(year=2029 + context.domain.years)
        HELD[name] = expiry
        return Registered(expiry_date=expiry, message="Registered.")
