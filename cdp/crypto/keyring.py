"""The key material: master keys (several, for rotation), the blind-index key and versioned suppression keys.

Keys come from `CDP_MASTER_KEYS` / `CDP_BLIND_INDEX_KEY` / `CDP_SUPPRESSION_KEYS` or from a key file that is
created with mode 0600 on first run, so the embedded default needs no set-up.
"""

import base64
import datetime as dt
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cdp.errors import InvalidInput, Unavailable

KEY_BYTES = 32


@dataclass(frozen=True)
class Keyring:
    master_keys: dict[str, bytes]
    active_master_id: str
    blind_index_key: bytes
    suppression_keys: dict[int, bytes]

    def __post_init__(self) -> None:
        if self.active_master_id not in self.master_keys:
            raise Unavailable(f"active master key {self.active_master_id!r} is not in the keyring")
        for name, key in [*self.master_keys.items(), ("blind index", self.blind_index_key)]:
            if len(key) != KEY_BYTES:
                raise Unavailable(f"key {name!r} must be {KEY_BYTES} bytes, got {len(key)}")
        if not self.suppression_keys:
            raise Unavailable("at least one suppression key is required")
        for version, key in self.suppression_keys.items():
            if len(key) != KEY_BYTES:
                raise Unavailable(f"suppression key version {version} must be {KEY_BYTES} bytes, got {len(key)}")

    @property
    def active_master_key(self) -> bytes:
        return self.master_keys[self.active_master_id]

    @property
    def suppression_version(self) -> int:
        return max(self.suppression_keys)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise Unavailable(f"{what} is not valid base64") from exc


def new_master_key_id() -> str:
    return f"mk-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


def _pairs(text: str, what: str) -> list[tuple[str, bytes]]:
    pairs = []
    for position, item in enumerate(text.split(","), start=1):
        key_id, sep, value = item.strip().partition(":")
        if not sep or not key_id or len(key_id) > 64:
            raise Unavailable(f"{what} must look like `id:base64,id:base64` (entry {position} does not)")
        # Name the entry by position, not by id: a key pasted the wrong way round would put the secret here.
        pairs.append((key_id, _unb64(value, f"{what} entry {position}")))
    return pairs


def keyring_from_env(master_keys: str, blind_index_key: str | None, suppression_keys: str | None) -> Keyring:
    if not blind_index_key or not suppression_keys:
        raise Unavailable("CDP_MASTER_KEYS is set, so CDP_BLIND_INDEX_KEY and CDP_SUPPRESSION_KEYS must be set too")
    masters = _pairs(master_keys, "CDP_MASTER_KEYS")
    try:
        suppression = {int(v): k for v, k in _pairs(suppression_keys, "CDP_SUPPRESSION_KEYS")}
    except ValueError as exc:
        raise Unavailable("CDP_SUPPRESSION_KEYS versions must be whole numbers") from exc
    return Keyring(
        master_keys=dict(masters),
        active_master_id=masters[0][0],
        blind_index_key=_unb64(blind_index_key, "CDP_BLIND_INDEX_KEY"),
        suppression_keys=suppression,
    )


def _write_tmp(path: Path, document: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(document, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(name, 0o600)
    return Path(name)


def _write_private(path: Path, document: dict[str, object]) -> None:
    os.replace(_write_tmp(path, document), path)


def create_key_file(path: Path) -> bool:
    """Create the key file unless another process got there first; False when it did.

    Linking the finished temp file never overwrites an existing key file, so two
    processes starting at once end up sharing one keyring instead of each
    encrypting with a key the other cannot read.
    """
    now = dt.datetime.now(dt.UTC).isoformat()
    master_id = new_master_key_id()
    tmp = _write_tmp(
        path,
        {
            "format": 1,
            "active_master_key": master_id,
            "master_keys": [{"id": master_id, "key": _b64(secrets.token_bytes(KEY_BYTES)), "created_at": now}],
            "blind_index_key": _b64(secrets.token_bytes(KEY_BYTES)),
            "suppression_keys": [{"version": 1, "key": _b64(secrets.token_bytes(KEY_BYTES)), "created_at": now}],
        },
    )
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def _read_key_file(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Unavailable(f"key file {path} cannot be read: {type(exc).__name__}") from exc
    if not isinstance(document, dict):
        raise Unavailable(f"key file {path} is not a JSON object")
    return document


def keyring_from_file(path: Path) -> Keyring:
    doc = _read_key_file(path)
    try:
        masters = {str(m["id"]): _unb64(str(m["key"]), f"master key {m['id']}") for m in doc["master_keys"]}  # type: ignore[attr-defined]
        suppression = {
            int(s["version"]): _unb64(str(s["key"]), "suppression key")
            for s in doc["suppression_keys"]  # type: ignore[attr-defined]
        }
        return Keyring(
            master_keys=masters,
            active_master_id=str(doc["active_master_key"]),
            blind_index_key=_unb64(str(doc["blind_index_key"]), "blind index key"),
            suppression_keys=suppression,
        )
    except (KeyError, TypeError) as exc:
        raise Unavailable(f"key file {path} is missing {exc}") from exc


def add_master_key(path: Path) -> str:
    """Add a fresh master key to the key file and make it active; older keys stay until retired."""
    doc = _read_key_file(path)
    master_id = new_master_key_id()
    masters = list(doc.get("master_keys", []))  # type: ignore[call-overload]
    masters.append(
        {
            "id": master_id,
            "key": _b64(secrets.token_bytes(KEY_BYTES)),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }
    )
    doc["master_keys"] = masters
    doc["active_master_key"] = master_id
    _write_private(path, doc)
    return master_id


def retire_master_keys(path: Path, keep: set[str]) -> list[str]:
    doc = _read_key_file(path)
    masters = list(doc.get("master_keys", []))  # type: ignore[call-overload]
    if doc.get("active_master_key") not in keep:
        raise InvalidInput("the active master key cannot be retired")
    retired = [str(m["id"]) for m in masters if m["id"] not in keep]
    doc["master_keys"] = [m for m in masters if m["id"] in keep]
    _write_private(path, doc)
    return retired


def load_keyring(
    *, key_file: Path, master_keys: str | None, blind_index_key: str | None, suppression_keys: str | None
) -> tuple[Keyring, bool]:
    """The keyring, and whether a new key file was created just now (the caller tells the user where)."""
    if master_keys:
        return keyring_from_env(master_keys, blind_index_key, suppression_keys), False
    created = False
    if not key_file.exists():
        created = create_key_file(key_file)
    return keyring_from_file(key_file), created
