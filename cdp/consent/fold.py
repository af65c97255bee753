"""The state fold: the one rule that turns a subject's consent events into its status (COMPLIANCE 6.3).

Pure: no database, no clock. A subject is one (profile, contact point, purpose). The rules:

(a) Events are applied in (occurred_at, precedence) order, precedence objected > withdrawn > denied >
    expired > granted, so the latest event wins and a tie goes to the restrictive one; among equals the
    first-party, then the proven event counts. Method and event id break any remaining tie, so the result
    never depends on the order events arrived in.
(b) A `granted` with no proof from an import or sync method (crm_sync, csv_import, import, crm) never
    overrides a withdrawal or refusal that was first-party or proven: a stale "subscribed" flag re-synced
    from a CRM must not re-enable a contact (COMPLIANCE finding 8). It is kept in the ledger, flagged with
    `ignored_reason`.
(c) `expired` is derived at read time: a grant lapses at its own `expires_at` or at occurred_at plus the
    purpose's `consent_validity`, whichever is sooner (`effective_status`).
(d) `objected` (Art. 21(2)) is lifted only by a later first-party grant with proof; until then every other
    event leaves the subject objected, and other grants are flagged `ignored_reason`.
(e) A `soft_opt_in` grant (PECR reg. 22(3)) after any withdrawal, refusal or objection of the subject is
    ignored: an opt-out ends the soft opt-in for good, and only a later express grant (expressed or
    explicitly_expressed) that the fold applies makes the subject eligible for a soft opt-in again
    (COMPLIANCE 1.2, 7.10). Whether a soft opt-in may be recorded at all (purpose flag, linked sale, opt-out
    offered) is checked before it reaches the ledger (`cdp.consent.catalog`, `cdp.consent.ledger`).
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cdp.policies import Duration

# Methods that replay another system's view of a consent; `crm` and `import` are the older names.
IMPORT_METHODS = frozenset({"import", "crm", "crm_sync", "csv_import"})
PRECEDENCE = {"granted": 0, "expired": 1, "denied": 2, "withdrawn": 3, "objected": 4}
OBJECTION_STANDS = "objection_needs_first_party_grant_with_proof"
UNPROVEN_IMPORT = "unproven_import_cannot_override_withdrawal"
SOFT_OPT_IN_ENDED = "soft_opt_in_ended_by_opt_out"
OPT_OUTS = frozenset({"withdrawn", "denied", "objected"})
EXPRESS_TYPES = frozenset({"expressed", "explicitly_expressed"})


@dataclass(frozen=True)
class Fact:
    """What the fold needs of one ledger event."""

    id: uuid.UUID
    status: str
    occurred_at: dt.datetime
    method: str
    has_proof: bool = False
    expires_at: dt.datetime | None = None
    consent_type: str | None = None

    @property
    def express(self) -> bool:
        return self.consent_type in EXPRESS_TYPES

    @property
    def first_party(self) -> bool:
        return self.method not in IMPORT_METHODS

    @property
    def strong(self) -> bool:
        """A restriction that an unproven import cannot undo: first-party, or backed by proof."""
        return self.first_party or self.has_proof


@dataclass(frozen=True)
class Folded:
    status: str
    event_id: uuid.UUID
    occurred_at: dt.datetime
    expires_at: dt.datetime | None  # when a `granted` status lapses; None for other statuses or no validity
    ignored: Mapping[uuid.UUID, str] = field(default_factory=dict)


def sort_key(fact: Fact) -> tuple[dt.datetime, int, bool, bool, str, str]:
    # Among equal times and statuses the stronger event (first-party, then proven) is applied last and counts;
    # the method, then the id, make the order total without depending on arrival.
    return (fact.occurred_at, PRECEDENCE[fact.status], fact.first_party, fact.has_proof, fact.method, str(fact.id))


def grant_expires_at(fact: Fact, validity: Duration | None) -> dt.datetime | None:
    """The sooner of the event's own expiry and the purpose's validity counted from occurred_at."""
    candidates = [t for t in (fact.expires_at, validity.after(fact.occurred_at) if validity else None) if t]
    return min(candidates) if candidates else None


def _ignore_reason(current: Fact, grant: Fact, *, opted_out: bool, strongly_refused: bool) -> str | None:
    if current.status == "objected" and not (grant.first_party and grant.has_proof):
        return OBJECTION_STANDS
    if strongly_refused and not grant.strong:
        return UNPROVEN_IMPORT
    if opted_out and grant.consent_type == "soft_opt_in":
        return SOFT_OPT_IN_ENDED
    return None


def fold(facts: Iterable[Fact], *, validity: Duration | None = None) -> Folded | None:
    """The subject's status after all `facts` (None when there are none)."""
    current: Fact | None = None
    ignored: dict[uuid.UUID, str] = {}
    opted_out = False  # rule (e): an opt-out so far, not yet followed by an applied express grant
    # rule (b): a strong withdrawal/refusal not yet followed by an applied strong grant; a weaker restriction in
    # between (an unproven import's withdrawal) must not let a later unproven import grant through.
    strongly_refused = False
    for fact in sorted(facts, key=sort_key):
        if fact.status in OPT_OUTS:
            opted_out = True
        if current is not None:
            if fact.status == "granted":
                reason = _ignore_reason(current, fact, opted_out=opted_out, strongly_refused=strongly_refused)
                if reason is not None:
                    ignored[fact.id] = reason
                    continue
            elif current.status == "objected":
                continue  # an objection is the strongest statement; a later restriction adds nothing
        if fact.status == "granted" and fact.express:
            opted_out = False
        if fact.status in ("withdrawn", "denied") and fact.strong:
            strongly_refused = True
        elif fact.status == "granted" and fact.strong:
            strongly_refused = False
        current = fact
    if current is None:
        return None
    expires = grant_expires_at(current, validity) if current.status == "granted" else None
    return Folded(current.status, current.id, current.occurred_at, expires, ignored)


def effective_status(status: str, expires_at: dt.datetime | None, now: dt.datetime) -> str:
    """The status a reader sees at `now`: a grant past its expiry reads as `expired`."""
    if status == "granted" and expires_at is not None and expires_at <= now:
        return "expired"
    return status


def fold_as_of(facts: Iterable[Fact], at: dt.datetime, *, validity: Duration | None = None) -> Folded | None:
    """The fold over what had happened by `at` (occurred_at <= at)."""
    return fold((f for f in facts if f.occurred_at <= at), validity=validity)
