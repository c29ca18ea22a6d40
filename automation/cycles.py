"""The billing cycles the lead-days setting knows. Billing owns its cycles (billing.cycles.BillingCycle) and, since
automation sits below billing and imports nothing from it, billing registers them here from its ready(): each
cycle's value, in billing's order, and whether it renews (a one-time purchase does not). Nothing is checked
against a list typed out twice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class BillingCycles:
    every: tuple[str, ...] = ()  # every cycle, in billing's order
    renewing: tuple[str, ...] = ()  # the cycles that renew, in the same order

    @property
    def never_renewing(self) -> tuple[str, ...]:
        return tuple(cycle for cycle in self.every if cycle not in self.renewing)


_registered = BillingCycles()


def billing_cycles_register(cycles: Iterable[tuple[str, bool]]) -> None:
    """Tell the automation settings the billing cycles: (value, renews) for each, in the order they are shown."""
    global _registered
    cycles = list(cycles)
    _registered = BillingCycles(
        every=tuple(value for value, _ in cycles), renewing=tuple(value for value, renews in cycles if renews)
    )


def billing_cycles() -> BillingCycles:
    return _registered
