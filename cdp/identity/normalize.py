"""Normalising contact points so equal identifiers get equal blind indexes.

Emails: trimmed, IDN domain to ASCII, case-folded (no provider-specific dot/plus stripping).
Phones: E.164 through `phonenumbers`, with the record's country as the default region.
"""

import email_validator
import phonenumbers

ROLE_LOCAL_PARTS = frozenset(
    {
        "info",
        "sales",
        "support",
        "admin",
        "contact",
        "hello",
        "office",
        "team",
        "marketing",
        "billing",
        "accounts",
        "enquiries",
        "inquiries",
        "help",
        "noreply",
        "no-reply",
        "postmaster",
        "webmaster",
        "hr",
        "jobs",
        "careers",
        "press",
        "media",
        "service",
        "reception",
        "mail",
    }
)


class NormalizationError(ValueError):
    """The value cannot be a contact point; the message never repeats the value."""


def normalize_email(raw: str) -> str:
    try:
        checked = email_validator.validate_email(
            raw.strip(), check_deliverability=False, allow_smtputf8=True, test_environment=True
        )
    except email_validator.EmailNotValidError as exc:
        raise NormalizationError("not a valid email address") from exc
    local, _, _domain = checked.normalized.rpartition("@")
    return f"{local.casefold()}@{checked.ascii_domain.lower()}"


def normalize_phone(raw: str, default_region: str | None) -> str:
    region = default_region.upper() if default_region else None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise NormalizationError("not a parseable phone number (add a country code or the record's country)") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise NormalizationError("not a possible phone number for its region")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_role_email(normalized: str) -> bool:
    return normalized.partition("@")[0] in ROLE_LOCAL_PARTS
