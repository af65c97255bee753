"""Wiring shared by the API and the CLI: settings -> keyring, policies and the two stores."""

from dataclasses import dataclass
from pathlib import Path

from cdp.crypto.envelope import KEYRING_INFO_KEY
from cdp.crypto.keyring import Keyring, load_keyring
from cdp.db import Stores, open_stores
from cdp.policies import POLICIES_INFO_KEY, Policies, load_policies
from cdp.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    stores: Stores
    keyring: Keyring
    policies: Policies
    created_key_file: Path | None = None

    def close(self) -> None:
        self.stores.dispose()


def load_settings_keyring(settings: Settings) -> tuple[Keyring, Path | None]:
    keyring, created = load_keyring(
        key_file=settings.key_file,
        master_keys=settings.master_keys.get_secret_value() if settings.master_keys else None,
        blind_index_key=settings.blind_index_key.get_secret_value() if settings.blind_index_key else None,
        suppression_keys=settings.suppression_keys.get_secret_value() if settings.suppression_keys else None,
    )
    return keyring, settings.key_file.resolve() if created else None


def open_runtime(settings: Settings, *, stores: Stores | None = None) -> Runtime:
    policies = load_policies(settings.policies_dir)
    keyring, created = load_settings_keyring(settings)
    if stores is None:
        stores = open_stores(
            settings.database_url,
            settings.compliance_url,
            info={KEYRING_INFO_KEY: keyring, POLICIES_INFO_KEY: policies},
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        )
    else:
        stores.info = {**stores.info, KEYRING_INFO_KEY: keyring, POLICIES_INFO_KEY: policies}
    return Runtime(settings=settings, stores=stores, keyring=keyring, policies=policies, created_key_file=created)
