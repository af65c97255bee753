"""The purpose catalog (`policies/purposes.yaml`): why we process data, on which basis, what people were told."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from cdp.api.deps import Principal, RuntimeDep, require
from cdp.api.pagination import Page
from cdp.policies import Purpose

router = APIRouter(prefix="/v1/purposes", tags=["purposes"])


class NoticeRead(BaseModel):
    id: str
    version: str
    effective_from: dt.date
    url: str | None
    text: str | None
    sha256: str | None
    language: str


class PurposeRead(BaseModel):
    id: str
    title: str
    lawful_basis: str
    channels: list[str]
    consent_required: bool
    consent_types_accepted: list[str]
    consent_validity: str | None  # ISO 8601 duration
    direct_marketing: bool
    sale_or_share: bool
    profiling: bool
    soft_opt_in_allowed: bool
    retention: str | None
    recipients: list[str]
    data_categories: list[str]
    jurisdictions: list[str]
    notices: list[NoticeRead]

    @classmethod
    def of(cls, p: Purpose) -> "PurposeRead":
        return cls(
            id=p.id,
            title=p.title,
            lawful_basis=p.lawful_basis,
            channels=list(p.channels),
            consent_required=p.consent_required,
            consent_types_accepted=list(p.consent_types_accepted),
            consent_validity=str(p.consent_validity) if p.consent_validity else None,
            direct_marketing=p.direct_marketing,
            sale_or_share=p.sale_or_share,
            profiling=p.profiling,
            soft_opt_in_allowed=p.soft_opt_in_allowed,
            retention=p.retention,
            recipients=list(p.recipients),
            data_categories=list(p.data_categories),
            jurisdictions=list(p.jurisdictions),
            notices=[NoticeRead.model_validate(n, from_attributes=True) for n in p.notices],
        )


@router.get("", response_model=Page[PurposeRead])
def list_purposes(runtime: RuntimeDep, _: Annotated[Principal, Depends(require("purposes.read"))]) -> Page[PurposeRead]:
    """Every purpose in the catalog, in file order. Holds no personal data."""
    return Page[PurposeRead](data=[PurposeRead.of(p) for p in runtime.policies.purposes.values()])
