"""Per-row validation: a raw row becomes a ContactRecord with normalized contact points, or a list of reasons.

Reasons carry the field path, an error type and a message that never repeats the input value.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cdp.consent.catalog import check_consent
from cdp.consent.errors import InvalidConsent
from cdp.identity.normalize import NormalizationError, normalize_email, normalize_phone
from cdp.ingest.records import GOLDEN_FIELDS, ContactRecord
from cdp.policies import Purpose

Reason = dict[str, Any]


@dataclass(frozen=True)
class ValidRow:
    record: ContactRecord
    email: str | None
    phone: str | None
    # Contact points that could not be used; the raw values stay in the (encrypted) source payload.
    warnings: tuple[Reason, ...] = ()


# Pydantic messages for these types quote part of the input; replace them with our own words.
_ECHOING_TYPES = {
    "uuid_parsing": "not a valid UUID",
    "uuid_type": "not a valid UUID",
    "url_parsing": "not a valid URL",
    "json_invalid": "not valid JSON",
    "datetime_from_date_parsing": "not a valid date-time",
    "datetime_parsing": "not a valid date-time (use ISO 8601 with a time zone)",
    "date_parsing": "not a valid date",
    "extra_forbidden": "unexpected field",
}
UNKNOWN_FIELD = "(unexpected field)"


def safe_message(err: Mapping[str, Any]) -> str:
    return _ECHOING_TYPES.get(str(err.get("type", "")), str(err.get("msg", "")))


def safe_loc(loc: Sequence[Any], error_type: str) -> list[str]:
    """The error location, with an unexpected key's *name* hidden too: a key can be personal data."""
    parts = [str(p) for p in loc]
    if error_type == "extra_forbidden" and parts:
        parts[-1] = UNKNOWN_FIELD
    return parts


def _reasons(exc: ValidationError) -> list[Reason]:
    return [
        {
            "field": ".".join(safe_loc(err["loc"], err["type"])) or "(record)",
            "type": err["type"],
            "message": safe_message(err),
        }
        for err in exc.errors(include_input=False, include_url=False, include_context=False)
    ]


def _consent_reasons(record: ContactRecord, purposes: Mapping[str, Purpose]) -> list[Reason]:
    reasons: list[Reason] = []
    for i, consent in enumerate(record.consents):
        try:
            check_consent(
                purposes,
                purpose=consent.purpose,
                status=consent.status,
                channel=consent.channel,
                method=consent.method,
                occurred_at=consent.occurred_at,
                consent_type=consent.consent_type,
                notice_id=consent.notice_id,
                notice_version=consent.notice_version,
                notice_sha256=consent.notice_sha256,
            )
            stated, found = consent.stated_lawful_basis(), purposes[consent.purpose]
            if stated is not None and stated != found.lawful_basis:
                raise InvalidConsent(
                    f"purpose {found.id!r} rests on {found.lawful_basis}, not {stated}",
                    code="lawful_basis_mismatch",
                    field="lawful_basis",
                )
        except InvalidConsent as exc:
            reasons.append({"field": f"consents.{i}.{exc.field}", "type": exc.code, "message": exc.quiet_detail})
    return reasons


def validate_row(source: str, row: object, *, purposes: Mapping[str, Purpose] | None = None) -> ValidRow | list[Reason]:
    """`purposes`: the catalog consents are checked against (`ingest_batch` always passes it)."""
    if not isinstance(row, dict):
        return [{"field": "(record)", "type": "not_an_object", "message": "each record must be a JSON object"}]
    given = row.get("source")
    if given is not None and given != source:
        return [{"field": "source", "type": "source_mismatch", "message": "record source differs from the endpoint's"}]
    try:
        record = ContactRecord.model_validate({**row, "source": source})
    except ValidationError as exc:
        return _reasons(exc)
    reasons: list[Reason] = []
    unusable: list[Reason] = []
    email = phone = None
    if record.email:
        try:
            email = normalize_email(record.email)
        except NormalizationError as exc:
            unusable.append({"field": "email", "type": "invalid_email", "message": str(exc)})
    if record.phone:
        try:
            phone = normalize_phone(record.phone, record.country)
        except NormalizationError as exc:
            unusable.append({"field": "phone", "type": "invalid_phone", "message": str(exc)})
    if unusable and not (email or phone):
        # Every contact point given is unusable: keep the row aside rather than store a contact we cannot reach.
        reasons.extend(unusable)
    # A notice (no contact data: events or consents about a contact its source already sent) covers the contact
    # points stored for that record; ingestion drops the consents it cannot attach.
    notice = not any(getattr(record, name) is not None for name in GOLDEN_FIELDS) and not (
        record.lifecycle_stage or record.attributes
    )
    for i, consent in enumerate(record.consents):
        for channel, value in (("email", email), ("phone", phone)):
            if consent.channel == channel and not value and not notice:
                reasons.append(
                    {
                        "field": f"consents.{i}.channel",
                        "type": "no_contact_point",
                        "message": f"{channel} consent without a usable {channel}",
                    }
                )
    if purposes is not None:
        reasons.extend(_consent_reasons(record, purposes))
    if reasons:
        return reasons
    return ValidRow(record=record, email=email, phone=phone, warnings=tuple(unusable))
