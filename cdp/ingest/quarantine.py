"""Rejected rows: kept encrypted under their own data key (erasable like a person), with reasons."""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from cdp.crypto.envelope import vault
from cdp.ingest.models import Quarantine

QUARANTINE_PAYLOAD = "quarantine.payload"


def quarantine_row(session: Session, *, source: str, row: object, reasons: list[dict[str, Any]]) -> Quarantine:
    row_id = uuid.uuid4()
    v = vault(session)
    v.create_key(row_id)
    entry = Quarantine(
        id=row_id,
        source=source,
        reasons=reasons,
        payload=v.encrypt_json(row_id, row, context=QUARANTINE_PAYLOAD),
    )
    session.add(entry)
    session.flush()
    return entry
