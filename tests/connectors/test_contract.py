"""The connector SDK contract: secrets from settings/env (never shown), the registry, the replay window."""

import datetime as dt
from pathlib import Path

import pytest
from pydantic import SecretStr

from cdp.connectors import BadSignature, check_timestamp, connector_secret, register, webhook_sources
from cdp.settings import Settings

URLS = {"database_url": "sqlite:///./x.db", "key_file": Path("./k.json")}


def test_secret_from_env_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_CONNECTOR_TYPEFORM_SECRET", "s3cret-value")
    monkeypatch.setenv("CDP_CONNECTOR_HUB_SPOT_SECRET", "other")
    settings = Settings(**URLS)  # type: ignore[arg-type]
    assert connector_secret(settings, "typeform") == "s3cret-value"
    assert connector_secret(settings, "hub_spot") == "other"
    assert connector_secret(settings, "sendgrid") is None
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in settings.model_dump_json()


def test_explicit_setting_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_CONNECTOR_TYPEFORM_SECRET", "from-env")
    settings = Settings(**URLS, connector_secrets={"typeform": SecretStr("explicit")})  # type: ignore[arg-type]
    assert connector_secret(settings, "typeform") == "explicit"


def test_registry_holds_the_builtin_tools() -> None:
    assert {"typeform", "sendgrid", "mailchimp"} <= set(webhook_sources())


def test_register_refuses_non_sources_and_duplicates() -> None:
    with pytest.raises(TypeError):
        register(object())  # type: ignore[arg-type]

    class Impostor:
        name = "typeform"

        def verify(self, headers: object, raw_body: bytes, now: dt.datetime, *, secret: str | None) -> None: ...

        def parse(self, raw_body: bytes, headers: object) -> list[dict[str, object]]:
            return []

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor())  # type: ignore[arg-type]


def test_replay_window() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    check_timestamp(now - dt.timedelta(seconds=300), now)
    with pytest.raises(BadSignature):
        check_timestamp(now - dt.timedelta(seconds=301), now)
