"""Export-file presets (CONNECTORS.md §9): how a tool's CSV export becomes ContactRecords, bound to the file's
header row (labels matched case-insensitively). `cdp import FILE --preset NAME` reads through
`cdp.ingest.tabular.read_rows` like any other CSV; a preset only names the columns and adds the consents and
events a row's status means.

An import row is not consent unless a column says so:
- `mailchimp-subscribed`: `granted` for the marketing purpose at `CONFIRM_TIME` (the double opt-in
  confirmation) or else `OPTIN_TIME`, with `CONFIRM_IP`/`OPTIN_IP` as proof; a row with neither time is a
  profile without consent. Event `email_subscribed`.
- `mailchimp-unsubscribed`: `withdrawn` at `UNSUB_TIME` (by the controller when Mailchimp says an admin did
  it); event `email_unsubscribed`. No new consent, whatever else the row says.
- `mailchimp-cleaned`: the address bounced or complained: event `email_undeliverable` at `CLEAN_TIME`.
- `hubspot-contacts`: contact fields only. "Marketing contact status" is HubSpot billing, not consent; a
  column "Unsubscribed from all email" set to true is a `withdrawn` at import time.

Mailchimp rows are keyed like the pull and the webhooks (`member:<EUID>`, and the same ledger ids), so an
export imported before a pull records each fact once. Free-text columns (`NOTES`, `UNSUB_REASON_OTHER`) and
location guesses are not imported.
"""

import csv
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdp.errors import InvalidInput
from cdp.ingest.tabular import RowPlan
from connectors.mailchimp.members import episode, ledger_key
from connectors.mailchimp.members import external_id as mailchimp_member_id

MAILCHIMP_COMMON = (
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
    "LAST_CHANGED",
    "LEID",
    "EUID",
    "NOTES",
    "TAGS",
)
MAILCHIMP_KIND_COLUMNS = {
    "subscribed": ("LAST_CHANGED",),
    "unsubscribed": ("UNSUB_TIME",),
    "cleaned": ("CLEAN_TIME",),
}
MAILCHIMP_EXTRA = (
    "UNSUB_TIME",
    "UNSUB_CAMPAIGN_TITLE",
    "UNSUB_CAMPAIGN_ID",
    "UNSUB_REASON",
    "UNSUB_REASON_OTHER",
    "CLEAN_TIME",
    "CLEAN_CAMPAIGN_TITLE",
    "CLEAN_CAMPAIGN_ID",
)
MAILCHIMP_FIELDS = {
    "email": ("Email Address",),
    "first_name": ("First Name",),
    "last_name": ("Last Name",),
    "phone": ("Phone Number", "Phone"),
    "company": ("Company",),
}
HUBSPOT_ID = ("Record ID", "Contact ID", "Contact id")
HUBSPOT_FIELDS = {
    "email": ("Email",),
    "first_name": ("First Name",),
    "last_name": ("Last Name",),
    "phone": ("Phone Number", "Mobile Phone Number"),
    "company": ("Company Name", "Associated Company"),
    "job_title": ("Job Title",),
    "city": ("City",),
}
HUBSPOT_OPTOUT = ("Unsubscribed from all email",)
TRUE = frozenset({"true", "yes", "1"})


def _find(header: Sequence[str], *labels: str) -> str | None:
    folded = {h.strip().casefold(): h for h in header}
    for label in labels:
        if label.casefold() in folded:
            return folded[label.casefold()]
    return None


def _snake(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_")


def _mailchimp_time(value: Any) -> str | None:
    """Export times are naive `YYYY-MM-DD HH:MM:SS` in UTC (§0.10); an unreadable one is passed on as given,
    so the row is quarantined with a date-time reason rather than imported without its time."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return value
    return parsed.isoformat()


def _tags(value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return []
    return [t.strip() for t in next(csv.reader([value]), []) if t.strip()]


def _episode(opted_in_at: str | None) -> str:
    """The subscription a row belongs to, as the pull names it (its opt-in confirmation time)."""
    try:
        return episode(dt.datetime.fromisoformat(opted_in_at) if opted_in_at else None)
    except ValueError:
        return "unreadable"


@dataclass(frozen=True)
class Preset:
    name: str
    source: str
    description: str
    planner: Callable[[Sequence[str], str], RowPlan]

    def bind(self, header: Sequence[str], *, purpose: str = "email_marketing") -> RowPlan:
        return self.planner(header, purpose)


def _fields(header: Sequence[str], fields: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return {name: column for name, labels in fields.items() if (column := _find(header, *labels))}


def _mailchimp(kind: str) -> Callable[[Sequence[str], str], RowPlan]:
    def plan(header: Sequence[str], purpose: str) -> RowPlan:
        required = ("Email Address", *MAILCHIMP_KIND_COLUMNS[kind])
        missing = [label for label in required if _find(header, label) is None]
        if missing:
            raise InvalidInput(
                f"not a Mailchimp {kind} export: the header row has no {', '.join(missing)} column"
                f" (presets: mailchimp-subscribed, mailchimp-unsubscribed, mailchimp-cleaned)"
            )
        col: dict[str, str | None] = {c: _find(header, c) for c in (*MAILCHIMP_COMMON, *MAILCHIMP_EXTRA)}
        fields = _fields(header, MAILCHIMP_FIELDS)
        consumed = frozenset(c for c in col.values() if c)
        id_column = col["EUID"] or fields["email"]

        def cell(row: Mapping[str, Any], name: str) -> str:
            column = col.get(name)
            value = row.get(column) if column else None
            return value.strip() if isinstance(value, str) else ""

        def enrich(row: Mapping[str, Any], record: dict[str, Any]) -> dict[str, Any]:
            email = record.get("email")
            if not isinstance(email, str) or not email:
                record.pop("external_id", None)  # quarantined: a Mailchimp row is its address
                return record
            member_id = mailchimp_member_id(cell(row, "EUID"), email)
            record["external_id"] = member_id
            record["attributes"] = {f"mailchimp_{_snake(k)}": v for k, v in record.get("attributes", {}).items()}
            record["attributes"]["mailchimp_status"] = kind
            if tags := _tags(cell(row, "TAGS")):
                record["attributes"]["mailchimp_tags"] = tags
            record["events"], record["consents"] = [], []
            opted_in_at = _mailchimp_time(cell(row, "CONFIRM_TIME")) or _mailchimp_time(cell(row, "OPTIN_TIME"))
            this_episode = _episode(opted_in_at)
            if kind == "subscribed":
                at = opted_in_at
                ip = cell(row, "CONFIRM_IP") if cell(row, "CONFIRM_TIME") else cell(row, "OPTIN_IP")
                changed = _mailchimp_time(cell(row, "LAST_CHANGED"))
                if changed:
                    record["observed_at"] = changed
                if at:
                    grant: dict[str, Any] = {
                        "purpose": purpose,
                        "status": "granted",
                        "occurred_at": at,
                        "channel": "email",
                        "method": "csv_import",
                        "consent_type": "expressed",
                        "indicated_by": "data_subject",
                        "external_id": ledger_key(member_id, f"{purpose}:granted", this_episode),
                    }
                    if ip:
                        grant["proof"] = {"ip": ip[:64]}
                    record["consents"].append(grant)
                    _event(record, "email_subscribed", ledger_key(member_id, "email_subscribed", this_episode), at, {})
            else:
                time_column = "UNSUB_TIME" if kind == "unsubscribed" else "CLEAN_TIME"
                at = _mailchimp_time(cell(row, time_column)) or record["observed_at"]
                record["observed_at"] = at
                campaign = cell(row, "UNSUB_CAMPAIGN_ID" if kind == "unsubscribed" else "CLEAN_CAMPAIGN_ID")
                properties = {"campaign_id": campaign} if campaign else {}
                if kind == "unsubscribed":
                    by_admin = "admin" in cell(row, "UNSUB_REASON").lower()
                    record["consents"].append(
                        {
                            "purpose": purpose,
                            "status": "withdrawn",
                            "occurred_at": at,
                            "channel": "email",
                            "method": "csv_import",
                            "indicated_by": "controller" if by_admin else "data_subject",
                            "external_id": ledger_key(member_id, f"{purpose}:withdrawn", this_episode),
                        }
                    )
                    _event(
                        record,
                        "email_unsubscribed",
                        ledger_key(member_id, "email_unsubscribed", this_episode),
                        at,
                        properties,
                    )
                else:
                    _event(
                        record,
                        "email_undeliverable",
                        ledger_key(member_id, "email_undeliverable", this_episode),
                        at,
                        properties,
                    )
            return record

        return RowPlan(id_column=id_column, mapping=fields, consumed=consumed, enrich=enrich)

    return plan


def _event(record: dict[str, Any], type_: str, key: str, at: str, properties: dict[str, str]) -> None:
    record["events"].append({"type": type_, "occurred_at": at, "external_id": key, "properties": properties})


def _hubspot(header: Sequence[str], purpose: str) -> RowPlan:
    id_column = _find(header, *HUBSPOT_ID)
    if id_column is None:
        raise InvalidInput(
            "not a HubSpot contacts export: the header row has no 'Record ID' (or older 'Contact ID') column"
        )
    fields = _fields(header, HUBSPOT_FIELDS)
    optout = _find(header, *HUBSPOT_OPTOUT)

    def enrich(row: Mapping[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        record["attributes"] = {f"hubspot_{_snake(k)}": v for k, v in record.get("attributes", {}).items()}
        flag = row.get(optout) if optout else None
        if isinstance(flag, str) and flag.strip().lower() in TRUE and record.get("email"):
            # The export has no time for the opt-out: it is known as of the import.
            record["consents"] = [
                {
                    "purpose": purpose,
                    "status": "withdrawn",
                    "occurred_at": record["observed_at"],
                    "channel": "email",
                    "method": "csv_import",
                    "indicated_by": "data_subject",
                    "external_id": f"hubspot:{row.get(id_column)}:{purpose}:unsubscribed-from-all-email",
                }
            ]
        return record

    return RowPlan(id_column=id_column, mapping=fields, consumed=frozenset({optout} if optout else ()), enrich=enrich)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("hubspot-contacts", "hubspot", "HubSpot CRM contacts export (Record ID, labels)", _hubspot),
        Preset(
            "mailchimp-subscribed", "mailchimp", "Mailchimp audience export: subscribed_*.csv", _mailchimp("subscribed")
        ),
        Preset(
            "mailchimp-unsubscribed",
            "mailchimp",
            "Mailchimp audience export: unsubscribed_*.csv",
            _mailchimp("unsubscribed"),
        ),
        Preset("mailchimp-cleaned", "mailchimp", "Mailchimp audience export: cleaned_*.csv", _mailchimp("cleaned")),
    )
}


def get_preset(name: str) -> Preset:
    preset = PRESETS.get(name)
    if preset is None:
        raise InvalidInput(f"no import preset {name!r}; presets: {', '.join(sorted(PRESETS))}")
    return preset
