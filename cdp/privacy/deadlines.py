"""Deadline arithmetic for privacy requests (COMPLIANCE 1.4): calendar rules, not a fixed number of days.

GDPR/UK: the clock starts on the day of receipt and runs to the corresponding date of the next month, or that
month's last day when the date does not exist; a weekend or holiday moves it to the next working day. An
extension (Art. 12(3)) adds two further months. CCPA (11 CCR 7021): acknowledge within 10 business days,
respond within 45 calendar days, 90 at most.
"""

import calendar
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from cdp.policies import Jurisdiction


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    """The same date `months` later, clamped to that month's last day (31 Jan + 1 month = 28/29 Feb)."""
    total = when.month - 1 + months
    year, month = when.year + total // 12, total % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def is_working_day(day: dt.date, holidays: Collection[dt.date] = ()) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_working_day(when: dt.datetime, holidays: Collection[dt.date] = ()) -> dt.datetime:
    while not is_working_day(when.date(), holidays):
        when += dt.timedelta(days=1)
    return when


def add_business_days(when: dt.datetime, days: int, holidays: Collection[dt.date] = ()) -> dt.datetime:
    while days > 0:
        when += dt.timedelta(days=1)
        if is_working_day(when.date(), holidays):
            days -= 1
    return when


@dataclass(frozen=True)
class Deadlines:
    due_at: dt.datetime
    max_due_at: dt.datetime  # what an extension moves the deadline to
    ack_by: dt.datetime | None = None


def deadlines_for(received: dt.datetime, jurisdiction: Jurisdiction) -> Deadlines:
    holidays = jurisdiction.holidays
    if jurisdiction.rule == "ccpa":
        return Deadlines(
            due_at=received + dt.timedelta(days=45),
            max_due_at=received + dt.timedelta(days=90),
            ack_by=add_business_days(received, 10, holidays),
        )
    return Deadlines(
        due_at=next_working_day(add_months(received, 1), holidays),
        max_due_at=next_working_day(add_months(received, 3), holidays),
    )
