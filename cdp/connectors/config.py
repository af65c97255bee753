"""A connector's settings: the connectors file (YAML), then `CDP_CONNECTOR_<NAME>__<KEY>` variables, then the
webhook secret (`CDP_CONNECTOR_<NAME>_SECRET`). Values are wrapped so they never reach a log or a response."""

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from cdp.connectors.base import ConnectorConfig
from cdp.errors import InvalidInput
from cdp.settings import Settings

_ENV = re.compile(r"CDP_CONNECTOR_([A-Z][A-Z0-9_]*?)__([A-Z][A-Z0-9_]*)")
SECRET_KEYS = re.compile(r"(token|secret|password|api_key|key|client_secret)$")


def _file_values(path: Path | None, name: str) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"connectors file {path.name} could not be read ({type(exc).__name__})") from exc
    if not isinstance(loaded, dict):
        raise InvalidInput(f"connectors file {path.name} must map connector names to settings")
    values = loaded.get(name) or {}
    if not isinstance(values, dict):
        raise InvalidInput(f"connectors file {path.name}: {name!r} must be a mapping of settings")
    return values


def _env_value(raw: str) -> Any:
    if raw[:1] in "{[":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def connector_config(settings: Settings, name: str) -> ConnectorConfig:
    values = _file_values(settings.connectors_file, name)
    for key, raw in os.environ.items():
        match = _ENV.fullmatch(key)
        if match and match.group(1).lower() == name.replace("-", "_"):
            values[match.group(2).lower()] = _env_value(raw)
    secret = settings.connector_secrets.get(name)
    if secret is not None:
        values.setdefault("secret", secret)
    wrapped = {k: SecretStr(v) if isinstance(v, str) and SECRET_KEYS.search(k) else v for k, v in values.items()}
    return ConnectorConfig(name, wrapped)
