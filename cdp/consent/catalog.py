"""Checking a consent event against the purpose catalog (`policies/purposes.yaml`).

Used by the API before it records an event and by ingestion before it accepts a row, so both paths refuse the
same things: an unknown purpose, a consent type or channel the purpose does not accept, a notice the catalog
does not hold, and a consent-purpose grant without a notice in force. A `soft_opt_in` grant (PECR reg. 22(3))
needs a purpose with `soft_opt_in_allowed`, a linked sale or negotiation event and a recorded opt-out offer; the
ledger then checks the linked event itself. `notice_required` (the API) also wants the notice stated in full.
"""

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cdp.consent.errors import InvalidConsent
from cdp.policies import POLICIES_INFO_KEY, Notice, Purpose

# Methods that only ever restrict: an unsubscribe link or a GPC signal cannot grant anything.
_RESTRICT_ONLY = {"one_click_unsubscribe": ("withdrawn", "objected"), "gpc_signal": ("denied", "objected")}
_GRANT_ONLY = {"double_opt_in_confirm": ("granted",)}
_PURPOSE_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")


def purposes_of(session: Session) -> Mapping[str, Purpose]:
    """The loaded purpose catalog (empty when no policies are loaded: every purpose is then unknown)."""
    purposes = getattr(session.info.get(POLICIES_INFO_KEY), "purposes", None)
    return purposes if isinstance(purposes, Mapping) else {}


def channel_covered(purpose: Purpose, channel: str) -> bool:
    """`channel` is the contact point's kind (email, phone) or `any` for a consent tied to no contact point."""
    if channel == "any":
        return "any" in purpose.channels
    if channel == "phone":
        return purpose.covers("phone") or purpose.covers("sms")
    return purpose.covers(channel)


@dataclass(frozen=True)
class Checked:
    purpose: Purpose
    notice: Notice | None  # the catalog notice the event refers to (given, or the one in force)


def check_consent(
    purposes: Mapping[str, Purpose],
    *,
    purpose: str,
    status: str,
    channel: str,
    method: str,
    occurred_at: dt.datetime,
    consent_type: str | None = None,
    notice_id: str | None = None,
    notice_version: str | None = None,
    notice_sha256: str | None = None,
    linked_event_id: uuid.UUID | None = None,
    opt_out_offered: bool = False,
    notice_required: bool = False,
) -> Checked:
    found = purposes.get(purpose)
    if found is None:
        known = ", ".join(sorted(purposes)) or "none"
        named = f"purpose {purpose!r}" if _PURPOSE_ID.fullmatch(purpose) else "the purpose"
        raise InvalidConsent(
            f"{named} is not in the purpose catalog (known purposes: {known})",
            code="unknown_purpose",
            field="purpose",
            quiet_detail=f"the purpose is not in the purpose catalog (known purposes: {known})",
        )
    if not channel_covered(found, channel):
        raise InvalidConsent(
            f"purpose {found.id!r} covers {', '.join(found.channels)}, not a {channel} contact point",
            code="channel_not_covered",
            field="channel",
        )
    allowed = _RESTRICT_ONLY.get(method) or _GRANT_ONLY.get(method)
    if allowed is not None and status not in allowed:
        raise InvalidConsent(
            f"method {method} can only record {' or '.join(allowed)}", code="method_status_mismatch", field="method"
        )
    _check_soft_opt_in(found, status, consent_type, linked_event_id, opt_out_offered)
    if status == "granted" and consent_type is not None and consent_type not in found.consent_types_accepted:
        raise InvalidConsent(
            f"purpose {found.id!r} accepts consent types {', '.join(found.consent_types_accepted)}, not {consent_type}",
            code="consent_type_not_accepted",
            field="consent_type",
        )
    if notice_required and status == "granted" and (found.consent_required or found.lawful_basis == "consent"):
        _notice_stated(found, notice_id, notice_version, notice_sha256)
    notice = _notice(found, status, occurred_at, notice_id, notice_version, notice_sha256)
    if notice_required and notice_sha256 is not None and notice is not None and notice.sha256 is None:
        raise InvalidConsent(
            f"the catalog holds no sha256 for that notice of purpose {found.id!r} to check notice_sha256 against",
            code="notice_hash_unknown",
            field="notice_sha256",
        )
    return Checked(found, notice)


def _check_soft_opt_in(
    purpose: Purpose, status: str, consent_type: str | None, linked: uuid.UUID | None, opt_out_offered: bool
) -> None:
    soft = status == "granted" and consent_type == "soft_opt_in"
    if not soft:
        if linked is not None:
            raise InvalidConsent(
                "linked_event_id is only for a soft_opt_in grant (the sale or negotiation it rests on)",
                code="link_not_allowed",
                field="linked_event_id",
            )
        return
    if not purpose.soft_opt_in_allowed:
        raise InvalidConsent(
            f"purpose {purpose.id!r} does not allow the soft opt-in (soft_opt_in_allowed is false)",
            code="soft_opt_in_not_allowed",
            field="consent_type",
        )
    if linked is None:
        raise InvalidConsent(
            "a soft_opt_in grant needs linked_event_id: the sale or negotiation event the details were obtained in",
            code="soft_opt_in_needs_sale",
            field="linked_event_id",
        )
    if not opt_out_offered:
        raise InvalidConsent(
            "a soft_opt_in grant needs proof.opt_out_offered: true (a simple way to refuse was offered)",
            code="soft_opt_in_needs_opt_out_offer",
            field="proof.opt_out_offered",
        )


def _notice_stated(purpose: Purpose, notice_id: str | None, version: str | None, sha256: str | None) -> None:
    """Criterion 1: a grant of a consent purpose states exactly what the person was told."""
    for name, value in (("notice_id", notice_id), ("notice_version", version), ("notice_sha256", sha256)):
        if value is None:
            raise InvalidConsent(
                f"a grant of consent purpose {purpose.id!r} needs `{name}` (what the person was told)",
                code="missing_notice",
                field=name,
            )


def _notice(
    purpose: Purpose,
    status: str,
    occurred_at: dt.datetime,
    notice_id: str | None,
    version: str | None,
    sha256: str | None,
) -> Notice | None:
    if notice_id is None and version is not None:
        raise InvalidConsent("a notice version needs its notice id", code="unknown_notice", field="notice_id")
    if notice_id is None:
        needs = status == "granted" and purpose.consent_required
        in_force = purpose.notice_at(occurred_at.date()) if needs else None
        if needs and in_force is None:
            raise InvalidConsent(
                f"no notice of purpose {purpose.id!r} was in force at occurred_at; give notice_id and notice_version",
                code="no_notice_in_force",
                field="notice_id",
            )
        return in_force
    same_id = [n for n in purpose.notices if n.id == notice_id]
    match: Notice | None
    if version is None:
        candidates = [n for n in same_id if n.effective_from <= occurred_at.date()]
        match = max(candidates, key=lambda n: n.effective_from) if candidates else None
    else:
        match = next((n for n in same_id if n.version == version), None)
    if match is None:
        raise InvalidConsent(
            f"notice id and version are not among the notices of purpose {purpose.id!r} in the catalog",
            code="unknown_notice",
            field="notice_version" if same_id else "notice_id",
        )
    if match.effective_from > occurred_at.date():
        raise InvalidConsent(
            f"that notice of purpose {purpose.id!r} took effect after occurred_at",
            code="notice_not_in_force",
            field="notice_version",
        )
    if sha256 is not None and match.sha256 is not None and sha256 != match.sha256:
        raise InvalidConsent(
            "notice_sha256 differs from the catalog's hash of that notice",
            code="notice_hash_mismatch",
            field="notice_sha256",
        )
    return match
