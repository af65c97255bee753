"""Per-person data keys (AES-256-GCM) wrapped by the active master key, and the vault that uses them.

Every piece of personal data is encrypted under the data key of its subject (a profile, or a quarantine
row). Destroying that key in the compliance store crypto-shreds every copy of the ciphertext, including
copies in backups of the data store.
"""

import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.crypto.keyring import KEY_BYTES, Keyring
from cdp.crypto.models import DataKey
from cdp.db import compliance_session, utcnow
from cdp.errors import IntegrityError, NotFound, Unavailable

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
KEYRING_INFO_KEY = "keyring"
_VAULT_INFO_KEY = "cdp.vault"


class DataKeyDestroyed(NotFound):
    slug = "data-key-destroyed"
    title = "The subject's data key no longer exists"


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
        raise IntegrityError(f"{what}: ciphertext is truncated or of an unknown format")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
    except InvalidTag as exc:
        raise IntegrityError(f"{what}: ciphertext failed authentication (tampered, or the wrong key)") from exc


def _wrap_aad(subject_id: uuid.UUID) -> bytes:
    return b"cdp:data-key:" + subject_id.bytes


def wrap_key(keyring: Keyring, subject_id: uuid.UUID, data_key: bytes) -> bytes:
    return _seal(keyring.active_master_key, data_key, _wrap_aad(subject_id))


def unwrap_key(keyring: Keyring, row: DataKey) -> bytes:
    master = keyring.master_keys.get(row.master_key_id)
    if master is None:
        raise Unavailable(
            f"master key {row.master_key_id!r} is not configured; it wraps the data key of {row.subject_id}"
        )
    return _open(master, row.wrapped_key, _wrap_aad(row.subject_id), f"data key {row.subject_id}")


class Vault:
    """Encrypts and decrypts one unit of work's personal data; caches unwrapped keys for its lifetime."""

    def __init__(self, keyring: Keyring, compliance: Session) -> None:
        self.keyring = keyring
        self.compliance = compliance
        self._keys: dict[uuid.UUID, bytes] = {}
        self._blind: dict[tuple[str, str], str] = {}

    def create_key(self, subject_id: uuid.UUID) -> None:
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        self.compliance.add(
            DataKey(
                subject_id=subject_id,
                master_key_id=self.keyring.active_master_id,
                wrapped_key=wrap_key(self.keyring, subject_id, data_key),
            )
        )
        self._keys[subject_id] = data_key

    def create_keys(self, subject_ids: Sequence[uuid.UUID]) -> None:
        """`create_key` for many subjects with one executemany (bulk import)."""
        rows = []
        for subject_id in subject_ids:
            data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
            rows.append(
                {
                    "subject_id": subject_id,
                    "master_key_id": self.keyring.active_master_id,
                    "wrapped_key": wrap_key(self.keyring, subject_id, data_key),
                    "created_at": utcnow(),
                    "rotated_at": None,
                }
            )
            self._keys[subject_id] = data_key
        if rows:
            self.compliance.execute(insert(DataKey), rows)

    def key_for(self, subject_id: uuid.UUID) -> bytes:
        cached = self._keys.get(subject_id)
        if cached is not None:
            return cached
        row = self.compliance.get(DataKey, subject_id)
        if row is None:
            raise DataKeyDestroyed(f"no data key for subject {subject_id}: it was erased or never existed")
        data_key = unwrap_key(self.keyring, row)
        self._keys[subject_id] = data_key
        return data_key

    def load_keys(self, subject_ids: set[uuid.UUID]) -> None:
        """Unwrap many keys with one query (list endpoints and exports read many subjects)."""
        missing = [s for s in subject_ids if s not in self._keys]
        if not missing:
            return
        for row in self.compliance.scalars(select(DataKey).where(col(DataKey.subject_id).in_(missing))):
            self._keys[row.subject_id] = unwrap_key(self.keyring, row)

    def has_key(self, subject_id: uuid.UUID) -> bool:
        return subject_id in self._keys or self.compliance.get(DataKey, subject_id) is not None

    def destroy_key(self, subject_id: uuid.UUID) -> bool:
        self._keys.pop(subject_id, None)
        result = self.compliance.execute(delete(DataKey).where(col(DataKey.subject_id) == subject_id))
        return bool(getattr(result, "rowcount", 0))

    def encrypt(self, subject_id: uuid.UUID, plaintext: bytes, *, context: str) -> bytes:
        return _seal(self.key_for(subject_id), plaintext, _field_aad(subject_id, context))

    def decrypt(self, subject_id: uuid.UUID, blob: bytes, *, context: str) -> bytes:
        return _open(self.key_for(subject_id), blob, _field_aad(subject_id, context), context)

    def encrypt_json(self, subject_id: uuid.UUID, value: Any, *, context: str) -> bytes:
        return self.encrypt(subject_id, json.dumps(value, separators=(",", ":"), default=str).encode(), context=context)

    def decrypt_json(self, subject_id: uuid.UUID, blob: bytes, *, context: str) -> Any:
        return json.loads(self.decrypt(subject_id, blob, context=context))

    def blind_index(self, kind: str, normalized: str) -> str:
        # Memoised for the unit of work: resolving a batch asks for the same identifiers and keys many times.
        found = self._blind.get((kind, normalized))
        if found is None:
            if len(self._blind) > 500_000:
                self._blind.clear()
            found = hmac.new(
                self.keyring.blind_index_key, f"{kind}\x1f{normalized}".encode(), hashlib.sha256
            ).hexdigest()
            self._blind[(kind, normalized)] = found
        return found

    def suppression_hmacs(self, kind: str, normalized: str) -> dict[int, str]:
        """One HMAC per suppression key version: an HMAC cannot be recomputed once the plaintext is gone."""
        message = f"{kind}\x1f{normalized}".encode()
        return {
            version: hmac.new(key, message, hashlib.sha256).hexdigest()
            for version, key in self.keyring.suppression_keys.items()
        }


def _field_aad(subject_id: uuid.UUID, context: str) -> bytes:
    # Binding the context stops a ciphertext being moved to another column or another subject's row.
    return b"cdp:field:" + context.encode() + b":" + subject_id.bytes


def vault(session: Session) -> Vault:
    """The vault of this unit of work (one per session, so the key cache dies with the transaction)."""
    existing = session.info.get(_VAULT_INFO_KEY)
    if isinstance(existing, Vault):
        return existing
    keyring = session.info.get(KEYRING_INFO_KEY)
    if not isinstance(keyring, Keyring):
        raise RuntimeError("session has no keyring: open it with cdp.db.unit_of_work(stores)")
    created = Vault(keyring, compliance_session(session))
    session.info[_VAULT_INFO_KEY] = created
    return created


def rewrap_batch(compliance: Session, keyring: Keyring, *, limit: int = 500) -> int:
    """Rewrap up to `limit` data keys that are not under the active master key; returns how many."""
    rows = compliance.scalars(
        select(DataKey).where(DataKey.master_key_id != keyring.active_master_id).limit(limit)
    ).all()
    now = utcnow()
    for row in rows:
        data_key = unwrap_key(keyring, row)
        row.wrapped_key = wrap_key(keyring, row.subject_id, data_key)
        row.master_key_id = keyring.active_master_id
        row.rotated_at = now
    compliance.flush()
    return len(rows)


def master_keys_in_use(compliance: Session) -> set[str]:
    return set(compliance.scalars(select(DataKey.master_key_id).distinct()))
