"""ContactRecord: the canonical shape every source is mapped to before it enters the store."""

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (e.g. 2026-05-01T10:00:00Z)")
    return value.astimezone(dt.UTC)


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
ConsentStatus = Literal["granted", "withdrawn", "denied", "expired", "objected"]
ConsentMethod = Literal[
    "web_form",
    "api",
    "import",
    "email_tool",
    "verbal",
    "gpc_signal",
    "crm",
    "one_click_unsubscribe",
    "double_opt_in_confirm",
    "preference_center",
    "crm_sync",
    "csv_import",
]
ConsentType = Literal["expressed", "explicitly_expressed", "implied", "soft_opt_in"]
IndicatedBy = Literal["data_subject", "guardian", "controller", "processor", "authority", "system"]
LawfulBasis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ConsentProof(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip: str | None = Field(None, max_length=64)
    user_agent: str | None = Field(None, max_length=512)
    page_url: str | None = Field(None, max_length=2048)
    payload_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    opt_out_offered: bool | None = Field(
        None, description="A simple way to refuse was offered when the details were collected (PECR reg. 22(3))."
    )


class ConsentInput(BaseModel):
    """One consent event as a source saw it; it covers the record's email unless `channel` says phone.

    Checked against the purpose catalog at ingestion (`cdp.consent.catalog`); a grant for a consent purpose
    without a notice gets the notice in force at `occurred_at`.
    """

    model_config = ConfigDict(extra="forbid")

    purpose: ShortText
    status: ConsentStatus
    occurred_at: AwareDatetime
    channel: Literal["email", "phone", "any"] = "email"
    lawful_basis: LawfulBasis = Field("consent", description="The purpose's own basis is used; if given, must match.")
    method: ConsentMethod = "import"
    consent_type: ConsentType | None = Field(None, description="ISO/IEC TS 27560 event type; None: not stated.")
    indicated_by: IndicatedBy | None = None
    notice_id: str | None = Field(None, max_length=128)
    notice_version: str | None = Field(None, max_length=64)
    notice_sha256: Sha256 | None = None
    language: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=16)
    jurisdiction: str | None = Field(None, max_length=16)
    expires_at: AwareDatetime | None = None
    external_id: str | None = Field(None, max_length=256)
    proof: ConsentProof | None = None

    def stated_lawful_basis(self) -> str | None:
        return self.lawful_basis if "lawful_basis" in self.model_fields_set else None

    def dedup_id(self, contact_index: str | None) -> str:
        """The source's consent id, or the event itself on its contact point (blind index) when there is none."""
        return self.external_id or json.dumps([contact_index, self.dedup_view()], sort_keys=True)

    def dedup_view(self) -> dict[str, Any]:
        """The fields that identify this event when the source gives no id; fields added later count only when
        set, so events stored before they existed keep their dedup key."""
        unset_new = {name for name in _LATER_FIELDS if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=unset_new)


_LATER_FIELDS = ("consent_type", "indicated_by", "notice_sha256", "language")


class EventInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
    occurred_at: AwareDatetime
    external_id: str | None = Field(
        None, max_length=256, description="The source's event id; makes re-delivery a no-op."
    )
    properties: dict[str, Any] = Field(default_factory=dict)

    def dedup_id(self) -> str:
        """The source's event id, or the event's own content when the source gives none."""
        return self.external_id or json.dumps(
            [self.type, self.occurred_at.isoformat(), self.properties], sort_keys=True
        )


class ContactRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: SourceName
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    observed_at: AwareDatetime
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    company: Text | None = None
    job_title: Text | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] | None = Field(
        None, description="ISO 3166-1 alpha-2; also the default region for phone numbers."
    )
    city: Text | None = None
    lifecycle_stage: (
        Literal["subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity", "customer", "churned"]
        | None
    ) = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    consents: list[ConsentInput] = Field(default_factory=list, max_length=100)
    events: list[EventInput] = Field(default_factory=list, max_length=1000)


GOLDEN_FIELDS = ("email", "phone", "first_name", "last_name", "company", "job_title", "country", "city")
