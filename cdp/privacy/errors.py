"""Errors of the privacy-request lifecycle."""

import uuid

from cdp.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class RequestNotFound(NotFound):
    slug = "privacy-request-not-found"
    title = "Privacy request not found"

    def __init__(self, request_id: uuid.UUID) -> None:
        super().__init__(f"no privacy request {request_id}", request_id=str(request_id))


class AmbiguousSubject(Conflict):
    """Art. 15(4): a shared identifier (a household phone, an info@ address) must not hand one person another's
    data. The DPO picks the profile and files the request by `profile_id`."""

    slug = "ambiguous-subject"
    title = "The subject matches more than one profile"


class RequestStateConflict(Conflict):
    slug = "privacy-request-state"
    title = "The privacy request is not in a state that allows this"


class SecondApproverRequired(PermissionDenied):
    slug = "second-approver-required"
    title = "A different key must approve this request"


class InvalidRequest(InvalidInput):
    slug = "invalid-privacy-request"
    title = "Invalid privacy request"
