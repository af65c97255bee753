"""Salesforce rows (REST JSON or Bulk 2.0 CSV) -> ContactRecords, consents and privacy signals (CONNECTORS.md
§1.3, §3).

- Contact / Lead: the record's own fields; `HasOptedOutOfEmail` -> `withdrawn` on the email address,
  `DoNotCall` -> `withdrawn` on the phone (only when the record has that contact point: a consent without one
  would quarantine the whole record). A `false` flag is never read as consent.
- A deleted row (`IsDeleted` via `queryAll`, or the getDeleted feed) -> only the external id and a
  `crm_deleted` event: the source link is marked, nothing is erased (SDK convention, §1.3).
- Individual: Don't Market -> `objected` (the ledger fans it out to every direct-marketing purpose), Don't
  Profile / Don't Track / Don't Geo-track -> `objected` on the mapped purposes; Forget -> erasure request,
  Export Individual's Data -> access request, Don't Process -> restriction request (`SourceSignal`s).
- ContactPointTypeConsent: `OptIn` -> `granted`, `OptOut` -> `withdrawn` for the cdp purpose mapped to its
  `DataUsePurposeId` (or `DataUsePurpose.Name`), on the email or phone by `ContactPointType`; the capture proof
  (`CaptureDate`, `CaptureSource`, `EffectiveFrom/To`, `DoubleConsentCaptureDate`) is kept verbatim in a
  `crm_consent_captured` timeline event, tied to the consent by the SHA-256 of the consent row.

Salesforce says when a record last changed (`SystemModstamp`), not when a flag was set, so a flag's event is
dated and keyed by that stamp: a record touched again while opted out records the withdrawal again (a
no-op on an already withdrawn purpose), which is the safe side: a withdrawal is never missed when a flag is
cleared and set again.
"""

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp.connectors.base import ConnectorConfig, SignalType, SourceSignal

SOURCE = "salesforce"
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")

BOOLEAN_FIELDS = frozenset(
    {
        "HasOptedOutOfEmail",
        "HasOptedOutOfFax",
        "DoNotCall",
        "IsDeleted",
        "IsConverted",
        "IsEmailBounced",
        "HasOptedOutSolicit",
        "HasOptedOutProcessing",
        "HasOptedOutProfiling",
        "HasOptedOutTracking",
        "HasOptedOutGeoTracking",
        "ShouldForget",
        "SendIndividualData",
        "CanStorePiiElsewhere",
    }
)

GOLDEN = frozenset({"email", "phone", "first_name", "last_name", "company", "job_title", "country", "city"})

# Individual flag -> (option key, default "purpose[:channel]" list)
# Don't Market's targets are alternatives: the ledger fans one direct-marketing objection out to every
# direct-marketing purpose and contact point, so the first target the record has a contact point for is enough.
ALTERNATIVE_TARGETS = frozenset({"HasOptedOutSolicit"})
OBJECTION_FLAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "HasOptedOutSolicit": ("dont_market_purposes", ("email_marketing:email", "sms_marketing:phone")),
    "HasOptedOutProfiling": ("dont_profile_purposes", ("profiling:any",)),
    "HasOptedOutTracking": ("dont_track_purposes", ("analytics:any",)),
    "HasOptedOutGeoTracking": ("dont_geo_track_purposes", ()),
}
SIGNAL_FLAGS: dict[str, SignalType] = {
    "ShouldForget": "erasure",
    "SendIndividualData": "access",
    "HasOptedOutProcessing": "restriction",
}
CONSENT_STATUS = {"OptIn": "granted", "OptOut": "withdrawn"}  # Seen / NotSeen say nothing about consent
CONTACT_POINT_CHANNEL = {"Email": "email", "Phone": "phone"}


def salesforce_id(value: object) -> str:
    """An Id fit to embed in SOQL (`Id > '…'`, `IN (…)`): 15 or 18 alphanumerics, nothing else."""
    if not isinstance(value, str) or not SALESFORCE_ID.fullmatch(value):
        raise ValueError("Salesforce returned a row without a valid Id")
    return value


def parse_time(value: str) -> dt.datetime:
    """`2026-11-20T09:15:02.000+0000` (REST) or `…000Z` (Bulk CSV) -> an aware UTC datetime."""
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def soql_time(value: dt.datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC); milliseconds only when there are any."""
    value = value.astimezone(dt.UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(value: str) -> str:
    return parse_time(value).isoformat()


def csv_row(row: Mapping[str, str]) -> dict[str, Any]:
    """A Bulk 2.0 CSV row in the REST shape: an empty cell is null, `true`/`false` are booleans (§3.3)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value == "" or value is None:
            out[key] = None
        elif key in BOOLEAN_FIELDS:
            out[key] = value.lower() == "true"
        else:
            out[key] = value
    return out


def _targets(values: Iterable[str], default_channel: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for value in values:
        purpose, _, channel = str(value).partition(":")
        out.append((purpose, channel or default_channel))
    return out


def _purposes(config: ConnectorConfig, key: str, default: Iterable[str], default_channel: str) -> list[tuple[str, str]]:
    value = config.get(key)
    return _targets(default if value is None else value, default_channel)


@dataclass(frozen=True)
class Options:
    """Which cdp purposes each Salesforce flag and DataUsePurpose stands for (connector settings)."""

    email_opt_out: list[tuple[str, str]] = field(default_factory=lambda: [("email_marketing", "email")])
    do_not_call: list[tuple[str, str]] = field(default_factory=lambda: [("sms_marketing", "phone")])
    objections: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {flag: _targets(default, "any") for flag, (_, default) in OBJECTION_FLAGS.items()}
    )
    data_use_purposes: dict[str, str] = field(default_factory=dict)
    field_map: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: ConnectorConfig) -> "Options":
        return cls(
            email_opt_out=_purposes(config, "email_opt_out_purposes", ("email_marketing",), "email"),
            do_not_call=_purposes(config, "do_not_call_purposes", ("sms_marketing",), "phone"),
            objections={
                flag: _purposes(config, key, default, "any") for flag, (key, default) in OBJECTION_FLAGS.items()
            },
            data_use_purposes={str(k): str(v) for k, v in (config.get("data_use_purposes") or {}).items()},
            field_map={str(k): str(v) for k, v in (config.get("field_map") or {}).items()},
        )


def deleted_record(record_id: str, at: str, sobject: str, merged_into: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"object": sobject}
    if merged_into:
        properties["merged_into"] = merged_into
    occurred = iso(at)
    return {
        "source": SOURCE,
        "external_id": record_id,
        "observed_at": occurred,
        "events": [
            {
                "type": "crm_deleted",
                "occurred_at": occurred,
                "external_id": f"{SOURCE}:{record_id}:deleted",
                "properties": properties,
            }
        ],
    }


def _withdrawal(record_id: str, flag: str, purpose: str, channel: str, at: str, stamp: str) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "status": "withdrawn",
        "occurred_at": at,
        "channel": channel,
        "method": "crm_sync",
        "external_id": f"{SOURCE}:{record_id}:{flag}:{purpose}:{stamp}",
    }


def has_channel(record: Mapping[str, Any], channel: str) -> bool:
    return channel == "any" or bool(record.get(channel))


def map_person(sobject: str, row: Mapping[str, Any], options: Options) -> dict[str, Any]:
    """A live Contact or Lead row -> a ContactRecord dict."""
    record_id = salesforce_id(row.get("Id"))
    stamp = str(row["SystemModstamp"])
    at = iso(stamp)
    record: dict[str, Any] = {
        "source": SOURCE,
        "external_id": record_id,
        "observed_at": at,
        "email": row.get("Email") or None,
        "phone": row.get("Phone") or row.get("MobilePhone") or None,
        "first_name": row.get("FirstName") or None,
        "last_name": row.get("LastName") or None,
        "consents": [],
        "events": [],
    }
    attributes: dict[str, Any] = {"salesforce_object": sobject}
    if sobject == "Lead":
        record["company"] = row.get("Company") or None
        if not row.get("IsConverted"):
            record["lifecycle_stage"] = "lead"  # a converted lead's person is now a Contact: no stage from it
        for key, name in (("Status", "lead_status"), ("LeadSource", "lead_source")):
            if row.get(key):
                attributes[f"salesforce_{name}"] = row[key]
        if row.get("IsConverted") and row.get("ConvertedContactId"):
            # A converted lead became a Contact (§3.1): say which, so the two source records can be linked.
            attributes["salesforce_converted_contact_id"] = row["ConvertedContactId"]
            record["events"].append(
                {
                    "type": "crm_lead_converted",
                    "occurred_at": iso(row["ConvertedDate"]) if row.get("ConvertedDate") else at,
                    "external_id": f"{SOURCE}:{record_id}:converted",
                    "properties": {"contact_id": row["ConvertedContactId"]},
                }
            )
    if row.get("AccountId"):
        attributes["salesforce_account_id"] = row["AccountId"]
    if row.get("IndividualId"):
        attributes["salesforce_individual_id"] = row["IndividualId"]
    for sf_field, target in options.field_map.items():
        value = row.get(sf_field)
        if value in (None, ""):
            continue
        if target in GOLDEN:
            record[target] = value
        else:
            attributes[target] = value
    record["attributes"] = attributes
    if row.get("HasOptedOutOfEmail"):
        for purpose, channel in options.email_opt_out:
            if has_channel(record, channel):
                record["consents"].append(_withdrawal(record_id, "HasOptedOutOfEmail", purpose, channel, at, stamp))
    if row.get("DoNotCall"):
        for purpose, channel in options.do_not_call:
            if has_channel(record, channel):
                record["consents"].append(_withdrawal(record_id, "DoNotCall", purpose, channel, at, stamp))
    if row.get("IsEmailBounced") and row.get("EmailBouncedDate"):
        bounced = str(row["EmailBouncedDate"])
        record["events"].append(
            {
                "type": "email_undeliverable",
                "occurred_at": iso(bounced),
                "external_id": f"{SOURCE}:{record_id}:bounced:{bounced}",
                "properties": {"object": sobject},
            }
        )
    return record


def individual_consents(
    individual: Mapping[str, Any], record: Mapping[str, Any], options: Options
) -> list[dict[str, Any]]:
    """The objections an Individual's opt-out flags raise, for one of its Contacts or Leads."""
    individual_id = salesforce_id(individual.get("Id"))
    stamp = str(individual["SystemModstamp"])
    out: list[dict[str, Any]] = []
    for flag in OBJECTION_FLAGS:
        if not individual.get(flag):
            continue
        for purpose, channel in options.objections[flag]:
            if has_channel(record, channel):
                out.append(
                    {
                        "purpose": purpose,
                        "status": "objected",
                        "occurred_at": iso(stamp),
                        "channel": channel,
                        "method": "crm_sync",
                        # Keyed by the Individual: one objection whichever of its records carries it.
                        "external_id": f"{SOURCE}:{individual_id}:{flag}:{purpose}:{stamp}",
                    }
                )
                if flag in ALTERNATIVE_TARGETS:
                    break
    return out


def individual_relevant(individual: Mapping[str, Any], options: Options) -> bool:
    """Whether the Individual has a flag cdp records something for."""
    return any(individual.get(flag) for flag in SIGNAL_FLAGS) or any(
        individual.get(flag) and options.objections[flag] for flag in OBJECTION_FLAGS
    )


def individual_signals(individual: Mapping[str, Any], record_id: str) -> list[SourceSignal]:
    """Forget / Export / Don't Process -> erasure / access / restriction requests about `record_id`'s person.

    One request per Individual and flag: a flag left set does not open a new request on every later change."""
    individual_id = salesforce_id(individual.get("Id"))
    at = parse_time(str(individual["SystemModstamp"]))
    return [
        SourceSignal(
            kind,
            SOURCE,
            record_id,
            at,
            f"Individual:{individual_id}:{flag}",
            notes=f"Salesforce Individual.{flag}",
        )
        for flag, kind in SIGNAL_FLAGS.items()
        if individual.get(flag)
    ]


def _payload_sha256(row: Mapping[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in row.items() if k != "attributes"}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def consent_purpose(row: Mapping[str, Any], options: Options) -> str | None:
    purpose_id = row.get("DataUsePurposeId")
    if purpose_id and purpose_id in options.data_use_purposes:
        return options.data_use_purposes[str(purpose_id)]
    related = row.get("DataUsePurpose")
    name = related.get("Name") if isinstance(related, Mapping) else row.get("DataUsePurpose.Name")
    if name and name in options.data_use_purposes:
        return options.data_use_purposes[str(name)]
    return None


def type_consent_relevant(row: Mapping[str, Any], options: Options, *, point: bool = False) -> bool:
    """Whether a ContactPointTypeConsent (or, `point`, a ContactPointConsent) says something cdp records: a mapped
    purpose, OptIn/OptOut, an email or phone."""
    return (
        str(row.get("PrivacyConsentStatus")) in CONSENT_STATUS
        and (point or str(row.get("ContactPointType")) in CONTACT_POINT_CHANNEL)
        and consent_purpose(row, options) is not None
    )


def type_consent(
    row: Mapping[str, Any], record: Mapping[str, Any], options: Options, *, channel: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A ContactPointTypeConsent -> (consent, evidence event) for one of its party's records, or None when it
    says nothing cdp can record (unmapped purpose, Seen/NotSeen, a channel the record lacks). A
    ContactPointConsent passes the `channel` of its contact point."""
    status = CONSENT_STATUS.get(str(row.get("PrivacyConsentStatus")))
    channel = channel or CONTACT_POINT_CHANNEL.get(str(row.get("ContactPointType")))
    purpose = consent_purpose(row, options)
    if status is None or channel is None or purpose is None or not has_channel(record, channel):
        return None
    consent_id = salesforce_id(row.get("Id"))
    stamp = str(row["SystemModstamp"])
    occurred = iso(str(row.get("CaptureDate") or row.get("EffectiveFrom") or stamp))
    digest = _payload_sha256(row)
    consent: dict[str, Any] = {
        "purpose": purpose,
        "status": status,
        "occurred_at": occurred,
        "channel": channel,
        "method": "crm_sync",
        "external_id": f"{SOURCE}:{consent_id}:{stamp}",
        "proof": {"payload_sha256": digest},
    }
    if status == "granted" and row.get("EffectiveTo"):
        consent["expires_at"] = iso(str(row["EffectiveTo"]))
    evidence = {
        "type": "crm_consent_captured",
        "occurred_at": occurred,
        "external_id": f"{SOURCE}:{consent_id}:{stamp}:evidence",
        "properties": {
            "salesforce_id": consent_id,
            "purpose": purpose,
            "payload_sha256": digest,
            **{
                key: row.get(key)
                for key in (
                    "PrivacyConsentStatus",
                    "ContactPointType",
                    "ContactPointId",
                    "DataUsePurposeId",
                    "CaptureDate",
                    "CaptureSource",
                    "CaptureContactPointType",
                    "EffectiveFrom",
                    "EffectiveTo",
                    "DoubleConsentCaptureDate",
                )
            },
        },
    }
    return consent, evidence


def point_record(point: Mapping[str, Any], sobject: str, at: str) -> dict[str, Any] | None:
    """A ContactPointEmail / ContactPointPhone as its own source record (its address, its Individual): the
    consent given through that one address lands on it, and resolution links it to the person by the address."""
    channel, value = (
        ("email", point.get("EmailAddress"))
        if sobject == "ContactPointEmail"
        else (
            "phone",
            point.get("TelephoneNumber"),
        )
    )
    if not value:
        return None
    attributes: dict[str, Any] = {"salesforce_object": sobject}
    if point.get("ParentId"):
        attributes["salesforce_individual_id"] = point["ParentId"]
    return {
        "source": SOURCE,
        "external_id": salesforce_id(point.get("Id")),
        "observed_at": iso(at),
        channel: value,
        "attributes": attributes,
        "consents": [],
        "events": [],
    }
