"""Whether a name can be registered, asked of its TLD's registrar at checkout: a read, made directly (not through
the module queue) and cut short after PORTAL_DOMAIN_CHECK_TIMEOUT_SECONDS.

The outcome is one of four: available, taken, unknown (nothing to ask: no TLD row, a registrar that cannot check
such as Manual, a registrar switched off or not installed) and failed (the registrar raised, timed out or its
settings cannot be read). Checkout refuses a taken name and a failed check, and lets an unknown one through for the
admin to see on review (docs/DOMAINS.md)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from django.conf import settings

from core.crypto import SecretUnreadable
from provisioning.domain_selectors import RegistrarSettings, registrar_settings, tlds_for_names
from provisioning.models import Tld
from provisioning.modules.base import ModuleError, NotSupported
from provisioning.registrars import registry
from provisioning.registrars.base import Availability, DomainSnapshot, RegistrarAction, RegistrarContext

logger = logging.getLogger("provisioning.domains")

# Checks of one checkout run side by side; a registrar that hangs past the timeout keeps a thread until its own
# socket gives up, so the pool is bounded.
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="domain-check")


class AvailabilityState(enum.StrEnum):
    AVAILABLE = "available"
    TAKEN = "taken"
    UNKNOWN = "unknown"
    FAILED = "failed"


@dataclass(frozen=True)
class DomainAvailability:
    name: str
    state: AvailabilityState
    registrar: str = ""
    reason: str = ""  # the registry's words for a taken name ("In use")
    error: str = ""  # for the log and the admin: why the check failed

    @property
    def taken(self) -> bool:
        return self.state is AvailabilityState.TAKEN


def domain_availability(*, name: str) -> DomainAvailability:
    """Ask the registrar of the name's TLD whether `name` (normalised: core.domain_names) can be registered."""
    return domains_availability(names=[name])[name]


def domains_availability(*, names: Iterable[str], tlds: dict[str, Tld] | None = None) -> dict[str, DomainAvailability]:
    """domain_availability for many names: two queries for the TLDs and one for the registrars' settings whatever
    the number, the registrars asked side by side. `tlds` (name -> TLD) saves the TLD queries when the caller
    has them."""
    names = list(dict.fromkeys(names))
    tlds = tlds if tlds is not None else tlds_for_names(names=names)
    outcomes: dict[str, DomainAvailability] = {}
    to_ask: dict[str, str] = {}  # name -> registrar
    for name in names:
        tld = tlds.get(name)
        registrar_class = registry.registrar_class(tld.registrar) if tld is not None else None
        if registrar_class is None or not registrar_class.checks_availability:
            outcomes[name] = DomainAvailability(name, AvailabilityState.UNKNOWN, registrar=tld.registrar if tld else "")
        else:
            to_ask[name] = tld.registrar
    if not to_ask:
        return outcomes
    try:
        configured = registrar_settings(names=to_ask.values())
    except SecretUnreadable as error:
        logger.error("Domain check impossible: a registrar's settings are unreadable: %s", error)
        outcomes.update(
            {
                name: DomainAvailability(name, AvailabilityState.FAILED, registrar=registrar, error=str(error))
                for name, registrar in to_ask.items()
            }
        )
        return outcomes
    timeout = settings.PORTAL_DOMAIN_CHECK_TIMEOUT_SECONDS
    asked = {}
    for name, registrar in to_ask.items():
        config = configured[registrar]
        if not config.active:
            outcomes[name] = DomainAvailability(name, AvailabilityState.UNKNOWN, registrar=registrar)
            continue
        asked[name] = _POOL.submit(_check, name, config, timeout)
    for name, future in asked.items():
        registrar = to_ask[name]
        try:
            answer = future.result(timeout=timeout)
        except FutureTimeout:
            outcomes[name] = _failed(name, registrar, f"no answer within {timeout} seconds")
        except NotSupported:
            outcomes[name] = DomainAvailability(name, AvailabilityState.UNKNOWN, registrar=registrar)
        except ModuleError as error:
            outcomes[name] = _failed(name, registrar, str(error))
        except Exception as error:  # a registrar's bug must not become the client's error page
            logger.exception("Domain check of %s at %s raised", name, registrar)
            outcomes[name] = _failed(name, registrar, f"{type(error).__name__}: {error}")
        else:
            state = AvailabilityState.AVAILABLE if answer.available else AvailabilityState.TAKEN
            outcomes[name] = DomainAvailability(name, state, registrar=registrar, reason=answer.reason)
    return outcomes


def _check(name: str, config: RegistrarSettings, timeout: int) -> Availability:
    context = RegistrarContext(
        action=RegistrarAction.CHECK,
        idempotency_key=f"check:{name}",  # a read: nothing is kept under it
        settings=dict(config.values),
        domain=DomainSnapshot(domain_id=0, name=name),
        params={"timeout": timeout},
    )
    answer = registry.registrar_for(config.name).call(context)
    if not isinstance(answer, Availability):
        raise ModuleError(f"The registrar answered a check with {type(answer).__name__}.", transient=False)
    return answer


def _failed(name: str, registrar: str, why: str) -> DomainAvailability:
    logger.warning("Domain check of %s at %s failed: %s", name, registrar, why)
    return DomainAvailability(name, AvailabilityState.FAILED, registrar=registrar, error=why)
