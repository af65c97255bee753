"""ContactRecord: the canonical shape every source is mapped to before it enters the store."""

import datetime as dt
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
ConsentStatus = Literal["granted", "withdrawn", "denied", "expired"]
ConsentMethod = Literal["web_form", "api", "import", "email_tool", "verbal", "gpc_signal", "crm"]


class ConsentProof(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip: str | None = Field(None, max_length=64)
    user_agent: str | None = Field(None, max_length=512)
    page_url: str | None = Field(None, max_length=2048)
    payload_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class ConsentInput(BaseModel):
    """One consent event as a source saw it; it covers the record's email unless `channel` says phone."""

    model_config = ConfigDict(extra="forbid")

    purpose: ShortText
    status: ConsentStatus
    occurred_at: AwareDatetime
    channel: Literal["email", "phone", "any"] = "email"
    lawful_basis: Literal["consent", "legitimate_interest", "contract", "legal_obligation"] = "consent"
    method: ConsentMethod = "import"
    notice_id: str | None = Field(None, max_length=128)
    notice_version: str | None = Field(None, max_length=64)
    jurisdiction: str | None = Field(None, max_length=16)
    expires_at: AwareDatetime | None = None
    external_id: str | None = Field(None, max_length=256)
    proof: ConsentProof | None = None


class EventInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
    occurred_at: AwareDatetime
    external_id: str | None = Field(
        None, max_length=256, description="The source's event id; makes re-delivery a no-op."
    )
    properties: dict[str, Any] = Field(default_factory=dict)


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
