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


def period_after(start: datetime.date, months: int, *, anchor_day: int | None = None) -> datetime.date:
    """Where the period after the one starting on `start` starts: `months` later, on the item's billing day,
    clamped to the month's last day.

    The billing day is `anchor_day` (the item's billing day: the day of the month it was registered on, or the
    one an admin moved its due date to) when `start` is that day, or that day clamped to a short month;
    otherwise it is `start`'s own day (a due date set some other way). So a service bought on January 31 is due
    on February 28 and then on March 31 again, not on the 28th for ever after, as repeating `add_months` would
    make it."""
    last_day = calendar.monthrange(start.year, start.month)[1]
    day = anchor_day if anchor_day and start.day == min(anchor_day, last_day) else start.day
    first = add_months(start.replace(day=1), months)
    return first.replace(day=min(day, calendar.monthrange(first.year, first.month)[1]))


def billing_day_after_move(billing_day: int, to: datetime.date) -> int:
    """The billing day once an admin moves the due date to `to`: `to`'s day, unless `to` is the current billing
    day clamped to a short month. A service billed on the 31st whose due date is moved to February 28 keeps
    the 31st (it comes back on March 31); moved to February 27, or to the 30th of a 31-day month, it is billed
    on that day. (A 30th that is the 31st clamped, April 30, keeps the 31st: to bill such a service on the 30th,
    move it to the 29th first.)"""
    return billing_day if to.day == min(billing_day, calendar.monthrange(to.year, to.month)[1]) else to.day
