"""Consent receipts: one consent record as ISO/IEC TS 27560 (DPV-27560) or as a Kantara Consent Receipt v1.1."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.audit.log import append
from cdp.consent.receipts import Controller, kantara_view, receipt_27560
from cdp.db import utcnow
from cdp.settings import Settings

router = APIRouter(prefix="/v1/consents", tags=["consents"])
ReceiptFormat = Literal["27560", "kantara"]


def controller_of(settings: Settings) -> Controller:
    return Controller(
        name=settings.controller_name,
        contact=settings.controller_contact,
        email=settings.controller_email,
        phone=settings.controller_phone,
        address=settings.controller_address,
        url=settings.controller_url,
        jurisdiction=settings.controller_jurisdiction,
    )


@router.get("/{record_id}/receipt", response_model=dict[str, Any])
def read_receipt(
    record_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("consents.read"))],
    format: Annotated[ReceiptFormat, Query(description="`27560` (default) or `kantara` (v1.1).")] = "27560",
) -> dict[str, Any]:
    """A receipt for one consent record, with a new receipt id per call.

    `27560`: header, processing, parties, the record's status now and every ledger event (DPV IRIs; whether
    each event has proof, never the proof). `kantara`: the Kantara v1.1 snapshot of the event in force.
    The person is named by profile id only. Schemas: `docs/schemas/`.
    """
    receipt = receipt_27560(session, record_id, now=utcnow(), controller=controller_of(runtime.settings))
    append(
        session,
        actor=principal.actor,
        action="consent.receipt",
        resource_type="consent_record",
        resource_id=record_id,
        details={
            "format": format,
            "receipt_id": receipt["header"]["receipt_id"],
            "profile_id": receipt["header"]["pii_principal_id"],
            "events": len(receipt["events"]),
        },
    )
    return kantara_view(receipt) if format == "kantara" else receipt
