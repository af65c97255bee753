"""The identity map: which profile every source record resolved to (warehouses join on it)."""

import uuid
from collections.abc import Iterator

from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.crypto.envelope import vault
from cdp.profiles.models import SourceRecord
from cdp.profiles.store import source_payload, survivor_of


def _survivor(session: Session, profile_id: uuid.UUID, cache: dict[uuid.UUID, uuid.UUID]) -> uuid.UUID:
    if profile_id not in cache:
        survivor = survivor_of(session, profile_id)
        cache[profile_id] = survivor.id if survivor is not None else profile_id
    return cache[profile_id]


def iter_identity_map(session: Session, *, chunk: int = 1000) -> Iterator[tuple[str, str, uuid.UUID]]:
    """(source, external_id, live profile id) for every source record, in a stable order."""
    survivors: dict[uuid.UUID, uuid.UUID] = {}
    last: uuid.UUID | None = None
    while True:
        query = select(SourceRecord).order_by(col(SourceRecord.id)).limit(chunk)
        if last is not None:
            query = query.where(col(SourceRecord.id) > last)
        rows = list(session.scalars(query))
        if not rows:
            return
        vault(session).load_keys({r.profile_id for r in rows})
        for record in rows:
            payload = source_payload(session, record)
            if not payload:
                continue  # minimised by retention: only the blind index of its external id is left
            yield record.source, str(payload["external_id"]), _survivor(session, record.profile_id, survivors)
        last = rows[-1].id
        session.expunge_all()
