"""The envelope: per-subject data keys, field encryption, crypto-shredding, rotation and keyed hashes."""

import os
import uuid

import pytest
from sqlalchemy import inspect, select

from cdp.crypto.envelope import DataKeyDestroyed, Vault, rewrap_batch, unwrap_key, vault
from cdp.crypto.keyring import Keyring
from cdp.crypto.models import DataKey
from cdp.db import compliance_session, unit_of_work
from cdp.errors import IntegrityError, Unavailable

SECRET = b"ada.lovelace@analytical.example"


def _ring(masters: dict[str, bytes], active: str, *, suppression: dict[int, bytes] | None = None) -> Keyring:
    return Keyring(
        master_keys=masters,
        active_master_id=active,
        blind_index_key=b"b" * 32,
        suppression_keys=suppression or {1: b"s" * 32},
    )


@pytest.fixture
def subject(session):
    subject_id = uuid.uuid4()
    vault(session).create_key(subject_id)
    return subject_id


# --- encryption ------------------------------------------------------------------------------------------


def test_decrypt_returns_what_encrypt_sealed(session, subject):
    blob = vault(session).encrypt(subject, SECRET, context="golden")

    assert vault(session).decrypt(subject, blob, context="golden") == SECRET


def test_ciphertext_does_not_contain_the_plaintext(session, subject):
    blob = vault(session).encrypt(subject, SECRET, context="golden")

    assert SECRET not in blob
    assert b"lovelace" not in blob


def test_two_encryptions_of_the_same_value_differ(session, subject):
    first = vault(session).encrypt(subject, SECRET, context="golden")
    second = vault(session).encrypt(subject, SECRET, context="golden")

    assert first != second


def test_json_values_roundtrip(session, subject):
    value = {"email": "ada@analytical.example", "tags": ["a", "b"], "score": 1.5, "vip": True}
    blob = vault(session).encrypt_json(subject, value, context="golden")

    assert vault(session).decrypt_json(subject, blob, context="golden") == value


def test_a_flipped_byte_anywhere_in_the_ciphertext_raises_integrity_error(session, subject):
    v = vault(session)
    blob = v.encrypt(subject, SECRET, context="golden")
    not_rejected = []

    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        try:
            v.decrypt(subject, bytes(tampered), context="golden")
        except IntegrityError:
            continue
        not_rejected.append(position)

    assert not_rejected == []


@pytest.mark.parametrize(
    "keep",
    [-1, 29, 13, 1, 0],
    ids=["last-byte-cut", "minimum-length", "header-only", "format-byte-only", "empty"],
)
def test_truncated_ciphertext_raises_integrity_error(session, subject, keep):
    blob = vault(session).encrypt(subject, SECRET, context="golden")

    with pytest.raises(IntegrityError):
        vault(session).decrypt(subject, blob[:keep], context="golden")


def test_ciphertext_moved_to_another_context_raises_integrity_error(session, subject):
    blob = vault(session).encrypt(subject, SECRET, context="golden")

    with pytest.raises(IntegrityError):
        vault(session).decrypt(subject, blob, context="event.properties")


def test_ciphertext_moved_to_another_subject_raises_integrity_error(session, subject):
    other = uuid.uuid4()
    vault(session).create_key(other)
    blob = vault(session).encrypt(subject, SECRET, context="golden")

    with pytest.raises(IntegrityError):
        vault(session).decrypt(other, blob, context="golden")


def test_data_key_wrapped_for_one_subject_cannot_be_claimed_by_another(session, subject):
    """The wrapping is bound to the subject id: copying a wrapped key onto another subject's row fails."""
    stolen = compliance_session(session).get(DataKey, subject)
    copy = DataKey(subject_id=uuid.uuid4(), master_key_id=stolen.master_key_id, wrapped_key=stolen.wrapped_key)

    with pytest.raises(IntegrityError):
        unwrap_key(vault(session).keyring, copy)


# --- crypto-shredding ------------------------------------------------------------------------------------


def test_destroyed_key_makes_old_ciphertext_undecryptable_in_a_later_unit_of_work(stores):
    subject_id = uuid.uuid4()
    with unit_of_work(stores) as s:
        vault(s).create_key(subject_id)
        blob = vault(s).encrypt(subject_id, SECRET, context="golden")
    with unit_of_work(stores) as s:
        assert vault(s).destroy_key(subject_id) is True

    with unit_of_work(stores) as s, pytest.raises(DataKeyDestroyed):
        vault(s).decrypt(subject_id, blob, context="golden")


def test_destroyed_key_is_not_served_from_the_vault_cache(session, subject):
    v = vault(session)
    blob = v.encrypt(subject, SECRET, context="golden")  # the key is now cached

    v.destroy_key(subject)

    with pytest.raises(DataKeyDestroyed):
        v.decrypt(subject, blob, context="golden")


def test_destroyed_key_cannot_be_used_by_a_fresh_vault(session, subject):
    blob = vault(session).encrypt(subject, SECRET, context="golden")
    vault(session).destroy_key(subject)
    fresh = Vault(vault(session).keyring, compliance_session(session))

    with pytest.raises(DataKeyDestroyed):
        fresh.decrypt(subject, blob, context="golden")


def test_destroying_a_key_deletes_its_row_from_the_compliance_store(session, subject):
    compliance = compliance_session(session)
    compliance.flush()

    vault(session).destroy_key(subject)

    compliance.expire_all()
    assert compliance.scalars(select(DataKey).where(DataKey.subject_id == subject)).all() == []


# --- where the keys live ---------------------------------------------------------------------------------


def test_wrapped_data_keys_are_stored_in_the_compliance_store(session, subject):
    compliance = compliance_session(session)
    compliance.flush()
    compliance.expire_all()

    row = compliance.scalars(select(DataKey).where(DataKey.subject_id == subject)).one()

    assert len(row.wrapped_key) > 32  # wrapped (format + nonce + key + tag), not the raw key
    assert row.master_key_id == vault(session).keyring.active_master_id


def test_the_data_store_has_no_data_key_table(session):
    assert inspect(compliance_session(session).connection()).has_table("data_key")

    assert not inspect(session.connection()).has_table("data_key")


# --- rotation --------------------------------------------------------------------------------------------

OLD, NEW = os.urandom(32), os.urandom(32)
OLD_ONLY = _ring({"mk-old": OLD}, "mk-old")
BOTH_NEW_ACTIVE = _ring({"mk-old": OLD, "mk-new": NEW}, "mk-new")
NEW_ONLY = _ring({"mk-new": NEW}, "mk-new")


@pytest.fixture
def under_old_key(session):
    """Three subjects whose data keys are wrapped by the old master key, with one ciphertext each."""
    compliance = compliance_session(session)
    old_vault = Vault(OLD_ONLY, compliance)
    blobs = {}
    for n in range(3):
        subject_id = uuid.uuid4()
        old_vault.create_key(subject_id)
        plain = f"value-{n}".encode()
        blobs[subject_id] = (plain, old_vault.encrypt(subject_id, plain, context="golden"))
    compliance.flush()
    return compliance, blobs


def test_rewrap_moves_every_data_key_under_the_active_master_key(under_old_key):
    compliance, _ = under_old_key

    rewrapped = rewrap_batch(compliance, BOTH_NEW_ACTIVE)

    compliance.expire_all()
    assert rewrapped == 3
    assert {row.master_key_id for row in compliance.scalars(select(DataKey))} == {"mk-new"}


def test_rewrap_works_in_batches_of_the_given_limit(under_old_key):
    compliance, _ = under_old_key

    counts = [rewrap_batch(compliance, BOTH_NEW_ACTIVE, limit=2) for _ in range(3)]

    assert counts == [2, 1, 0]


def test_rewrapped_data_decrypts_with_only_the_new_master_key(under_old_key):
    compliance, blobs = under_old_key
    rewrap_batch(compliance, BOTH_NEW_ACTIVE)
    compliance.expire_all()
    new_vault = Vault(NEW_ONLY, compliance)

    decrypted = {s: new_vault.decrypt(s, blob, context="golden") for s, (_, blob) in blobs.items()}

    assert decrypted == {s: plain for s, (plain, _) in blobs.items()}


def test_rewrapped_data_no_longer_decrypts_with_only_the_old_master_key(under_old_key):
    compliance, blobs = under_old_key
    rewrap_batch(compliance, BOTH_NEW_ACTIVE)
    compliance.expire_all()
    subject_id, (_, blob) = next(iter(blobs.items()))

    with pytest.raises(Unavailable, match="not configured"):
        Vault(OLD_ONLY, compliance).decrypt(subject_id, blob, context="golden")


# --- keyed hashes ----------------------------------------------------------------------------------------


def test_blind_index_is_deterministic(session):
    other_vault = Vault(vault(session).keyring, compliance_session(session))

    first = vault(session).blind_index("email", "ada@analytical.example")
    second = other_vault.blind_index("email", "ada@analytical.example")

    assert first == second
    assert len(first) == 64


def test_blind_index_differs_per_kind(session):
    v = vault(session)

    assert v.blind_index("email", "12345") != v.blind_index("phone", "12345")


def test_blind_index_differs_per_value(session):
    v = vault(session)

    assert v.blind_index("email", "ada@example.test") != v.blind_index("email", "bob@example.test")


def test_blind_index_differs_from_every_suppression_hmac_of_the_same_value(session):
    v = vault(session)

    hmacs = v.suppression_hmacs("email", "ada@analytical.example")

    assert v.blind_index("email", "ada@analytical.example") not in hmacs.values()


def test_suppression_hmacs_has_one_hmac_per_suppression_key_version(session):
    ring = _ring({"mk": OLD}, "mk", suppression={1: b"1" * 32, 2: b"2" * 32, 5: b"5" * 32})

    hmacs = Vault(ring, compliance_session(session)).suppression_hmacs("email", "ada@analytical.example")

    assert sorted(hmacs) == [1, 2, 5]
    assert len(set(hmacs.values())) == 3
