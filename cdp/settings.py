"""Settings from `CDP_` environment variables (and an optional `.env`); nothing is read at import time."""

import functools
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_POLICIES_DIR = Path(__file__).resolve().parent.parent / "policies"


def _normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def compliance_url_for(data_url: str) -> str:
    """The compliance store sits beside the data store: `cdp.db` -> `cdp-compliance.db`, `db` -> `db_compliance`."""
    if data_url.startswith("sqlite"):
        if data_url in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("an in-memory SQLite data store needs an explicit CDP_COMPLIANCE_DATABASE_URL")
        head, _, filename = data_url.rpartition("/")
        stem, dot, ext = filename.rpartition(".")
        name = f"{stem}-compliance.{ext}" if dot else f"{filename}-compliance"
        return f"{head}/{name}"
    base, _, query = data_url.partition("?")
    head, _, dbname = base.rpartition("/")
    return f"{head}/{dbname}_compliance" + (f"?{query}" if query else "")


_CONNECTOR_SECRET_ENV = re.compile(r"CDP_CONNECTOR_([A-Z][A-Z0-9_]*)_SECRET")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///./cdp.db", description="SQLAlchemy URL of the data store (profiles, events, ledger, audit)."
    )
    compliance_database_url: str | None = Field(
        None,
        description="URL of the compliance store (wrapped data keys, suppression list, privacy requests). "
        "Defaults to a sibling of the data store: `cdp-compliance.db` or database `<name>_compliance`.",
    )
    key_file: Path = Field(
        Path("./cdp.keys.json"),
        description="Key file (mode 0600) created on first run when no keys come from the environment.",
    )
    master_keys: SecretStr | None = Field(
        None,
        description="Master keys as `id:base64,id:base64`; the first is active. Overrides the key file.",
    )
    blind_index_key: SecretStr | None = Field(None, description="Base64 HMAC key for blind indexes.")
    suppression_keys: SecretStr | None = Field(
        None, description="Versioned suppression HMAC keys as `version:base64,...`; the highest is current."
    )
    policies_dir: Path = Field(DEFAULT_POLICIES_DIR, description="Folder with purposes/retention/access YAML.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Root log level.")
    log_format: Literal["kv", "json"] = Field("kv", description="Log line format.")
    ingest_batch_max: int = Field(1000, ge=1, description="Most records accepted in one ingest call.")
    request_body_max_bytes: int = Field(5_000_000, ge=1024, description="Largest request body accepted.")
    page_limit_max: int = Field(200, ge=1, description="Largest page size on list endpoints.")
    sqlite_busy_timeout_ms: int = Field(30_000, ge=0, description="How long a SQLite writer waits for the lock.")
    # The PII controller named in consent receipts (ISO/IEC TS 27560 parties; Kantara CR `piiControllers`).
    controller_name: str = Field(
        "Data controller (set CDP_CONTROLLER_NAME)", min_length=1, description="Legal name of the controller."
    )
    controller_contact: str = Field("Data Protection Officer", description="Contact role or team for privacy.")
    controller_email: str = Field("", description="Privacy contact email of the controller (not a person's).")
    controller_phone: str = Field("", description="Privacy contact phone of the controller.")
    controller_address: str = Field("", description="Postal address of the controller, one line.")
    controller_url: str = Field("", description="The controller's privacy policy URL (receipt fallback).")
    controller_jurisdiction: str = Field("EU", description="Jurisdiction when neither event nor purpose names one.")
    connector_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Webhook verification secret (or public key) per connector; each also comes from "
        "`CDP_CONNECTOR_<NAME>_SECRET`. Never logged.",
    )

    connectors_file: Path | None = Field(
        None,
        description="YAML file of connector settings: `<name>: {base_url, token, list_id, field_map, ...}`; "
        "each key can also come from `CDP_CONNECTOR_<NAME>__<KEY>`, which wins. Never logged.",
    )
    batch_gate_min_rows: int = Field(
        20, ge=1, description="Sync pages and import chunks this large go through the batch quality gate."
    )
    batch_gate_min_valid_share: float = Field(
        0.5, ge=0, le=1, description="Share of a gated batch's rows that must pass validation, or nothing is stored."
    )
    sync_page_size: int = Field(100, ge=1, le=2000, description="Records asked for per page on pulls.")
    public_base_url: str | None = Field(
        None,
        description="The API's public URL (e.g. `https://cdp.example.com`); one-click unsubscribe links sent to "
        "destinations are built on it. Unset: members are pushed without an unsubscribe link.",
    )
    audience_sync_batch: int = Field(
        500, ge=1, le=10_000, description="Audience members pushed (and committed to the snapshot) per batch."
    )

    @model_validator(mode="after")
    def _connector_secrets_from_env(self) -> "Settings":
        for key, value in os.environ.items():
            match = _CONNECTOR_SECRET_ENV.fullmatch(key)
            if match and value:
                self.connector_secrets.setdefault(match.group(1).lower(), SecretStr(value))
        return self

    @field_validator("database_url", "compliance_database_url")
    @classmethod
    def _use_psycopg(cls, value: str | None) -> str | None:
        return _normalise_url(value) if value else value

    @model_validator(mode="after")
    def _fill_compliance_url(self) -> "Settings":
        if self.compliance_database_url is None:
            self.compliance_database_url = compliance_url_for(self.database_url)
        if self.compliance_database_url == self.database_url:
            raise ValueError(
                "CDP_COMPLIANCE_DATABASE_URL must differ from CDP_DATABASE_URL: a copy of the data store "
                "alone must never be decryptable after an erasure"
            )
        return self

    @property
    def compliance_url(self) -> str:
        assert self.compliance_database_url is not None
        return self.compliance_database_url


@functools.cache
def get_settings() -> Settings:
    return Settings()
