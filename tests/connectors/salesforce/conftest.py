"""A seeded local Salesforce for the sync tests: the research fixtures' Contacts, Lead, Individual and consents."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.connectors.helpers import fixture
from tests.connectors.salesforce.fake import TOKEN, FakeSalesforce

PURPOSES = {"0ZSgL0000000XyZWAU": "email_marketing", "0ZSgL0000000XzAWAU": "sms_marketing"}
ADA, GRACE, ALAN = "003gL00000AbCdEQAV", "003gL00000AbCdFQAV", "003gL00000AbCdGQAV"
GONE = "003gL00000AbCdHQAV"
KATHERINE = "00QgL000001XyZaUAK"
INDIVIDUAL = "0PKgL000000AbCdWAK"


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


def seed(fake: FakeSalesforce) -> None:
    for name in ("salesforce_query_contacts.json", "salesforce_query_contacts_next.json"):
        for record in fixture(name)["records"]:
            fake.put("Contact", _row(record))
    # The Bulk CSV fixture's deleted person, still live at the first sync (deleted later in some tests).
    fake.put(
        "Contact",
        {
            "Id": GONE,
            "FirstName": "Deleted",
            "LastName": "Person",
            "Email": "gone@example.com",
            "HasOptedOutOfEmail": False,
            "DoNotCall": False,
            "IsDeleted": False,
            "CreatedDate": "2026-11-01T08:00:00.000+0000",
            "SystemModstamp": "2026-11-18T08:00:00.000+0000",
        },
    )
    for record in fixture("salesforce_query_leads.json")["records"]:
        fake.put("Lead", _row(record))
    fake.put("Individual", _row(fixture("salesforce_individual.json")))
    for record in fixture("salesforce_contact_point_type_consent.json")["records"]:
        fake.put("ContactPointTypeConsent", _row(record))


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    server = FakeSalesforce().start()
    seed(server)
    yield server
    server.stop()


def settings_for(fake: FakeSalesforce, **extra: Any) -> dict[str, Any]:
    return {
        "instance_url": fake.url,
        "access_token": TOKEN,
        "retry_attempts": 3,
        "retry_base_seconds": 0,
        "bulk_poll_seconds": 0,
        "lag_seconds": 0,
        "data_use_purposes": PURPOSES,
        **extra,
    }
