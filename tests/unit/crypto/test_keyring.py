"""The keyring: the key file (0600, rotated, retired), keys from the environment, and `cdp keys rotate`."""

import base64
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from cdp.audit.log import SYSTEM
from cdp.crypto.keyring import (
    add_master_key,
    create_key_file,
    keyring_from_env,
    keyring_from_file,
    load_keyring,
    retire_master_keys,
)
from cdp.crypto.models import DataKey
from cdp.db import compliance_session, unit_of_work
from cdp.errors import InvalidInput, Unavailable
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles.models import Profile
from cdp.profiles.store import read_golden
from tests.factories import contact_rows

MASTER = base64.b64encode(b"M" * 32).decode()
BLIND = base64.b64encode(b"B" * 32).decode()
SUPPRESSION = base64.b64encode(b"S" * 32).decode()


def _load(path):
    return load_keyring(key_file=path, master_keys=None, blind_index_key=None, suppression_keys=None)


# --- key file --------------------------------------------------------------------------------------------


def test_first_load_creates_the_key_file_readable_by_the_owner_only(tmp_path):
    path = tmp_path / "keys" / "cdp.keys.json"

    _, created = _load(path)

    assert created is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_second_load_reads_the_same_keys_without_creating_a_file(tmp_path):
    path = tmp_path / "cdp.keys.json"
    first, _ = _load(path)

    second, created = _load(path)

    assert created is False
    assert second == first


def test_creating_a_key_file_never_overwrites_one_that_appeared_meanwhile(tmp_path):
    path = tmp_path / "cdp.keys.json"
    assert create_key_file(path) is True
    before = path.read_bytes()

    assert create_key_file(path) is False

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cdp.keys.json"]  # no temp file left behind


def test_processes_starting_at_once_all_load_the_same_keyring(tmp_path):
    path = tmp_path / "cdp.keys.json"
    with ThreadPoolExecutor(max_workers=8) as pool:
        loaded = list(pool.map(lambda _: _load(path), range(16)))

    keyrings = [k for k, _ in loaded]
    assert all(k == keyrings[0] for k in keyrings)
    assert sum(created for _, created in loaded) == 1


def test_created_key_file_holds_full_length_random_keys(tmp_path):
    path = tmp_path / "cdp.keys.json"

    ring, _ = _load(path)

    assert {len(k) for k in ring.master_keys.values()} == {32}
    assert len(ring.blind_index_key) == 32
    assert {len(k) for k in ring.suppression_keys.values()} == {32}
    assert len({ring.active_master_key, ring.blind_index_key, *ring.suppression_keys.values()}) == 3


def test_add_master_key_makes_the_new_key_active_and_keeps_the_old(tmp_path):
    path = tmp_path / "cdp.keys.json"
    before, _ = _load(path)

    new_id = add_master_key(path)

    after = keyring_from_file(path)
    assert after.active_master_id == new_id != before.active_master_id
    assert after.master_keys[before.active_master_id] == before.active_master_key
    assert set(after.master_keys) == {before.active_master_id, new_id}


def test_rewritten_key_file_stays_owner_only(tmp_path):
    path = tmp_path / "cdp.keys.json"
    _load(path)

    add_master_key(path)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_retire_master_keys_removes_the_keys_not_kept(tmp_path):
    path = tmp_path / "cdp.keys.json"
    old = _load(path)[0].active_master_id
    new = add_master_key(path)

    retired = retire_master_keys(path, keep={new})

    assert retired == [old]
    assert set(keyring_from_file(path).master_keys) == {new}


def test_retire_master_keys_refuses_to_retire_the_active_key(tmp_path):
    path = tmp_path / "cdp.keys.json"
    old = _load(path)[0].active_master_id
    add_master_key(path)
    before = path.read_text()

    with pytest.raises(InvalidInput):
        retire_master_keys(path, keep={old})

    assert path.read_text() == before


def test_unreadable_key_file_raises_unavailable(tmp_path):
    path = tmp_path / "cdp.keys.json"
    path.write_text("{not json")

    with pytest.raises(Unavailable):
        keyring_from_file(path)


def test_key_file_without_master_keys_raises_unavailable(tmp_path):
    path = tmp_path / "cdp.keys.json"
    _load(path)
    doc = json.loads(path.read_text())
    del doc["master_keys"]
    path.write_text(json.dumps(doc))

    with pytest.raises(Unavailable):
        keyring_from_file(path)


# --- keys from the environment ---------------------------------------------------------------------------


def test_keyring_from_env_reads_master_blind_and_suppression_keys():
    ring = keyring_from_env(f"mk1:{MASTER}", BLIND, f"1:{SUPPRESSION}")

    assert ring.active_master_id == "mk1"
    assert ring.master_keys == {"mk1": b"M" * 32}
    assert ring.blind_index_key == b"B" * 32
    assert ring.suppression_keys == {1: b"S" * 32}


def test_keyring_from_env_makes_the_first_master_key_active_and_keeps_the_rest():
    other = base64.b64encode(b"O" * 32).decode()

    ring = keyring_from_env(f"mk2:{other},mk1:{MASTER}", BLIND, f"1:{SUPPRESSION}")

    assert ring.active_master_id == "mk2"
    assert set(ring.master_keys) == {"mk1", "mk2"}


def test_env_keys_take_precedence_over_the_key_file(tmp_path):
    path = tmp_path / "cdp.keys.json"

    ring, created = load_keyring(
        key_file=path, master_keys=f"mk1:{MASTER}", blind_index_key=BLIND, suppression_keys=f"1:{SUPPRESSION}"
    )

    assert ring.active_master_id == "mk1"
    assert created is False
    assert not path.exists()


SHORT = base64.b64encode(b"k" * 16).decode()
BAD_ENV = {
    "missing-blind-key": ((f"mk1:{MASTER}", None, f"1:{SUPPRESSION}"), MASTER),
    "missing-suppression-keys": ((f"mk1:{MASTER}", BLIND, None), MASTER),
    "master-not-base64": (("mk1:c2VjcmV0!!c2VjcmV0", BLIND, f"1:{SUPPRESSION}"), "c2VjcmV0!!c2VjcmV0"),
    "blind-not-base64": ((f"mk1:{MASTER}", "YmxpbmQ*YmxpbmQ", f"1:{SUPPRESSION}"), "YmxpbmQ*YmxpbmQ"),
    "suppression-not-base64": ((f"mk1:{MASTER}", BLIND, "1:c3VwcA#c3VwcA"), "c3VwcA#c3VwcA"),
    "master-without-id": ((MASTER, BLIND, f"1:{SUPPRESSION}"), MASTER),
    "master-too-short": ((f"mk1:{SHORT}", BLIND, f"1:{SUPPRESSION}"), SHORT),
    "blind-too-short": ((f"mk1:{MASTER}", SHORT, f"1:{SUPPRESSION}"), SHORT),
    "suppression-version-not-integer": ((f"mk1:{MASTER}", BLIND, f"one:{SUPPRESSION}"), SUPPRESSION),
    "suppression-without-version": ((f"mk1:{MASTER}", BLIND, SUPPRESSION), SUPPRESSION),
}


@pytest.mark.parametrize(("args", "secret"), list(BAD_ENV.values()), ids=list(BAD_ENV))
def test_malformed_env_keys_raise_unavailable_without_revealing_the_secret(args, secret):
    with pytest.raises(Unavailable) as raised:
        keyring_from_env(*args)

    assert secret not in str(raised.value)
    assert secret not in str(raised.value.__cause__ or "")


@pytest.mark.parametrize("suppression", [f"1:{SHORT}", "1:"], ids=["too-short", "empty"])
def test_suppression_key_of_the_wrong_length_raises_unavailable(suppression):
    with pytest.raises(Unavailable):
        keyring_from_env(f"mk1:{MASTER}", BLIND, suppression)


def test_swapped_id_and_key_do_not_reveal_the_secret():
    with pytest.raises(Unavailable) as raised:
        keyring_from_env(f"{MASTER}:mk1", BLIND, f"1:{SUPPRESSION}")

    assert MASTER not in str(raised.value)


# --- `cdp keys rotate` end to end ------------------------------------------------------------------------


@pytest.mark.committed
def test_keys_rotate_retire_moves_every_data_key_to_a_single_new_master_key(committed):
    rt = committed.open_runtime()
    rows = contact_rows(3)
    with unit_of_work(rt.stores) as s:
        ingest_batch(s, "crm", rows, actor=SYSTEM)
    old_master = rt.keyring.active_master_id
    rt.close()

    committed.cli("keys", "rotate", "--retire")

    ring = keyring_from_file(committed.settings.key_file)
    assert list(ring.master_keys) == [ring.active_master_id] != [old_master]
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            in_use = {k.master_key_id for k in compliance_session(s).scalars(select(DataKey))}
            emails = {read_golden(s, p)["email"] for p in s.scalars(select(Profile))}
    finally:
        rt.close()
    assert in_use == {ring.active_master_id}
    assert emails == {r["email"] for r in rows}
