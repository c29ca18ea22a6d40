"""Billing cycles and the date arithmetic every later step (renewal invoicing, next due dates) relies on."""

import calendar
import datetime

from django.db import models


class BillingCycle(models.TextChoices):
    ONE_TIME = "onetime", "One time"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMI_ANNUALLY = "semiannually", "Semi-annually"
    ANNUALLY = "annually", "Annually"
    BIENNIALLY = "biennially", "Biennially"
    TRIENNIALLY = "triennially", "Triennially"

    @property
    def months(self) -> int:
        return _MONTHS[self]


_MONTHS = {
    BillingCycle.ONE_TIME: 0,
    BillingCycle.MONTHLY: 1,
    BillingCycle.QUARTERLY: 3,
    BillingCycle.SEMI_ANNUALLY: 6,
    BillingCycle.ANNUALLY: 12,
    BillingCycle.BIENNIALLY: 24,
    BillingCycle.TRIENNIALLY: 36,
}


def add_months(day: datetime.date, months: int) -> datetime.date:
    """Same day of month `months` later, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def next_due_date(start: datetime.date, cycle: str) -> datetime.date | None:
    """The due date one cycle after `start`; None for one-time purchases, which never renew."""
    months = BillingCycle(cycle).months
    return add_months(start, months) if months else None
