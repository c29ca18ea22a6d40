"""The date arithmetic of billing periods: a service keeps the day of the month it was bought on."""

import datetime

import pytest

from billing.cycles import add_months, billing_day_after_move, period_after

D = datetime.date


def _starts(first: datetime.date, months: int, count: int, *, anchor_day: int | None) -> list[datetime.date]:
    starts = [first]
    while len(starts) < count:
        starts.append(period_after(starts[-1], months, anchor_day=anchor_day))
    return starts


def test_a_monthly_service_bought_on_the_31st_is_due_on_each_months_last_day_without_drifting():
    assert _starts(D(2027, 1, 31), 1, 7, anchor_day=31) == [
        D(2027, 1, 31),
        D(2027, 2, 28),
        D(2027, 3, 31),
        D(2027, 4, 30),
        D(2027, 5, 31),
        D(2027, 6, 30),
        D(2027, 7, 31),
    ]


def test_repeating_add_months_is_what_drifted():
    # The arithmetic this replaces, kept in view: Jan 31 -> Feb 28 -> Mar 28 for ever after.
    assert add_months(add_months(D(2027, 1, 31), 1), 1) == D(2027, 3, 28)


def test_the_29th_and_30th_come_back_after_february():
    assert _starts(D(2027, 1, 30), 1, 3, anchor_day=30) == [D(2027, 1, 30), D(2027, 2, 28), D(2027, 3, 30)]
    assert _starts(D(2028, 1, 29), 1, 3, anchor_day=29) == [D(2028, 1, 29), D(2028, 2, 29), D(2028, 3, 29)]
    assert _starts(D(2027, 1, 29), 1, 3, anchor_day=29) == [D(2027, 1, 29), D(2027, 2, 28), D(2027, 3, 29)]


def test_longer_cycles_keep_the_day_too():
    assert _starts(D(2026, 11, 30), 3, 4, anchor_day=30) == [
        D(2026, 11, 30),
        D(2027, 2, 28),
        D(2027, 5, 30),
        D(2027, 8, 30),
    ]
    # A domain registered on February 29 renews on the 28th, and on the 29th again in the next leap year.
    assert _starts(D(2028, 2, 29), 12, 5, anchor_day=29) == [
        D(2028, 2, 29),
        D(2029, 2, 28),
        D(2030, 2, 28),
        D(2031, 2, 28),
        D(2032, 2, 29),
    ]


@pytest.mark.parametrize(
    ("start", "anchor_day", "expected"),
    [
        (D(2027, 3, 15), 31, D(2027, 4, 15)),  # an admin moved the due date to the 15th: the 15th it stays
        (D(2027, 2, 28), 15, D(2027, 3, 28)),  # ... or to the 28th, which is not where the 15th clamps to
        (D(2027, 4, 30), 31, D(2027, 5, 31)),  # the 31st clamped to April
        (D(2027, 5, 31), None, D(2027, 6, 30)),  # no billing day known: the start's own day, clamped
        (D(2027, 12, 31), 31, D(2028, 1, 31)),  # over the year's end
    ],
)
def test_the_billing_day_applies_only_where_the_start_is_on_it(start, anchor_day, expected):
    assert period_after(start, 1, anchor_day=anchor_day) == expected


@pytest.mark.parametrize(
    ("billing_day", "to", "expected"),
    [
        (31, D(2027, 1, 30), 30),  # moved to the 30th: billed on the 30th from now on
        (31, D(2027, 2, 28), 31),  # moved to where the 31st falls in February: still the 31st
        (30, D(2028, 2, 29), 30),  # ... in a leap year too
        (31, D(2027, 2, 27), 27),  # the day before is a day of its own
        (15, D(2027, 2, 28), 28),  # the 28th is not where the 15th clamps to
        (31, D(2027, 4, 30), 31),  # the 31st clamped to April
        (30, D(2027, 5, 31), 31),  # a longer month's last day is a day of its own
        (12, D(2027, 3, 12), 12),  # the same day: nothing moves
    ],
)
def test_the_billing_day_follows_a_moved_due_date_unless_it_is_the_day_clamped(billing_day, to, expected):
    assert billing_day_after_move(billing_day, to) == expected


def test_a_moved_billing_day_comes_back_after_february():
    # Registered on the 31st, moved to January 30: the periods start on the 30th, February's last day between.
    day = billing_day_after_move(31, D(2027, 1, 30))
    assert _starts(D(2027, 1, 30), 1, 4, anchor_day=day) == [
        D(2027, 1, 30),
        D(2027, 2, 28),
        D(2027, 3, 30),
        D(2027, 4, 30),
    ]
