"""COMPLIANCE 1.4 and 7.32-33: deadlines are calendar rules, not a number of days."""

import datetime as dt

import pytest

from cdp.policies import Jurisdiction
from cdp.privacy.deadlines import add_business_days, add_months, deadlines_for

GDPR = Jurisdiction("EU", "gdpr")
CCPA = Jurisdiction("US-CA", "ccpa")


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2029-01-31", "2029-02-28"),  # no 31 Feb: the month's last day (a Wednesday)
        ("2028-01-31", "2028-02-29"),  # leap year (a Tuesday)
        ("2027-01-31", "2027-03-01"),  # 28 Feb 2027 is a Sunday: the next working day
        ("2026-03-15", "2026-04-15"),  # the corresponding date (a Wednesday)
        ("2026-12-10", "2027-01-11"),  # year boundary; 10 Jan 2027 is a Sunday
    ],
)
def test_gdpr_due_is_the_corresponding_date_next_month(received, due):
    assert deadlines_for(at(received), GDPR).due_at == at(due)


def test_gdpr_clock_starts_on_the_day_of_receipt_not_the_day_after():
    assert deadlines_for(at("2026-05-05"), GDPR).due_at.date() == dt.date(2026, 6, 5)


def test_a_holiday_moves_the_due_date_to_the_next_working_day():
    with_holiday = Jurisdiction("IE", "gdpr", frozenset({dt.date(2026, 4, 15)}))
    assert deadlines_for(at("2026-03-15"), with_holiday).due_at == at("2026-04-16")


def test_gdpr_extension_reaches_three_months_after_receipt():
    assert deadlines_for(at("2029-01-31"), GDPR).max_due_at == at("2029-04-30")


def test_ccpa_ack_in_ten_business_days_due_in_45_extendable_to_90():
    received = at("2026-07-01")  # a Wednesday
    d = deadlines_for(received, CCPA)
    assert d.ack_by == at("2026-07-15")
    assert d.due_at == received + dt.timedelta(days=45)
    assert d.max_due_at == received + dt.timedelta(days=90)


def test_add_months_clamps_and_business_days_skip_weekends():
    assert add_months(at("2026-08-31"), 1) == at("2026-09-30")
    assert add_months(at("2026-11-30"), 3) == at("2027-02-28")
    assert add_business_days(at("2026-12-04"), 1) == at("2026-12-07")  # Friday -> Monday
