"""The error tree every cdp domain raises; `cdp.api.problems` maps it to RFC 9457 once.

    CdpError
    ├── NotFound          404  the thing asked for does not exist (or is not visible to the caller)
    ├── Conflict          409  the request clashes with the current state
    ├── Unauthenticated   401  no credential, or one we do not know
    ├── PermissionDenied  403  a known caller without the right role
    ├── InvalidInput      422  the input is malformed; `errors` says where
    ├── TooLarge          413  the input is larger than the configured limit
    ├── UnsupportedMedia  415  the body's Content-Type is not one the endpoint reads
    ├── Unavailable       503  a dependency (database, keys) is not ready
    └── IntegrityError    500  stored data failed a cryptographic check; never returned as data

Messages and extensions carry ids, counts and field names, never personal data.
"""

from collections.abc import Mapping
from typing import ClassVar


class CdpError(Exception):
    slug: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: Mapping[str, object] = extensions


class NotFound(CdpError):
    slug = "not-found"
    title = "Not found"


class Conflict(CdpError):
    slug = "conflict"
    title = "Conflict"


class Unauthenticated(CdpError):
    slug = "unauthenticated"
    title = "Authentication required"


class PermissionDenied(CdpError):
    slug = "forbidden"
    title = "Forbidden"


class InvalidInput(CdpError):
    slug = "invalid-input"
    title = "Invalid input"


class TooLarge(CdpError):
    slug = "too-large"
    title = "Request too large"


class UnsupportedMedia(CdpError):
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class Unavailable(CdpError):
    slug = "unavailable"
    title = "Service unavailable"


class IntegrityError(CdpError):
    """Raised when ciphertext or a hash chain fails verification: tampering or key loss, never a user error."""

    slug = "integrity-error"
    title = "Stored data failed an integrity check"
