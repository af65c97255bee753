"""Imports every domain's tables so Alembic sees one metadata; defines no table itself."""

from sqlmodel import SQLModel

from cdp.audiences.models import Audience, AudienceMembershipSnapshot, DestinationRemoval
from cdp.audit.models import AuditEntry
from cdp.auth.models import ApiKey
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.models import DataKey
from cdp.identity.models import MatchKey, MergeEvent, MergeVeto
from cdp.ingest.models import ConnectorState, Quarantine
from cdp.privacy.models import PrivacyRequest
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from cdp.retention.models import LegalHold
from cdp.suppression.models import Suppression

metadata = SQLModel.metadata

__all__ = [
    "ApiKey",
    "Audience",
    "AudienceMembershipSnapshot",
    "AuditEntry",
    "ConnectorState",
    "ConsentEvent",
    "ConsentState",
    "DataKey",
    "DestinationRemoval",
    "Event",
    "Identity",
    "LegalHold",
    "MatchKey",
    "MergeEvent",
    "MergeVeto",
    "PrivacyRequest",
    "Profile",
    "Quarantine",
    "SourceRecord",
    "Suppression",
    "metadata",
]
