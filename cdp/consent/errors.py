"""Errors of the consent ledger. Details name catalog values (purpose ids, accepted types), never input text."""

import uuid
from typing import Any

from cdp.errors import InvalidInput, NotFound


class InvalidConsent(InvalidInput):
    """A consent event the purpose catalog does not allow; `code` and `field` say which rule and where."""

    slug = "invalid-consent"
    title = "Consent event not allowed by the purpose catalog"

    def __init__(
        self, detail: str, *, code: str, field: str, quiet_detail: str | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail, code=code, field=field, **extensions)
        self.code = code
        self.field = field
        # The same message without any input value, for places that must never echo input (quarantine reasons).
        self.quiet_detail = quiet_detail or detail


class ContactPointNotFound(NotFound):
    slug = "contact-point-not-found"
    title = "Contact point not found on this profile"


class ConsentRecordNotFound(NotFound):
    slug = "consent-record-not-found"
    title = "Consent record not found"

    def __init__(self, record_id: uuid.UUID) -> None:
        super().__init__(f"no consent record {record_id}", record_id=str(record_id))
