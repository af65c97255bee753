"""One Mailchimp HTTP client for the pull and the destination: data centre from the key, basic auth, the
10-connection cap and Mailchimp's two throttle signals (CONNECTORS.md §4.4)."""

import re

import httpx

from cdp.connectors import ConnectorConfig, ConnectorNotConfigured
from cdp.connectors.http import HttpClient, default_throttle, make_client

MAX_CONNECTIONS = 10  # Mailchimp's documented cap on simultaneous connections
_DATA_CENTRE = re.compile(r"-([a-z]{2,5}[0-9]{1,3})$")


def base_url_for(api_key: str) -> str:
    """`…-us6` -> `https://us6.api.mailchimp.com`; the key itself never appears in the message."""
    match = _DATA_CENTRE.search(api_key.strip())
    if match is None:
        raise ConnectorNotConfigured(
            "the Mailchimp api_key does not end in a data centre suffix such as -us6; set base_url instead",
            connector="mailchimp",
            setting="api_key",
        )
    return f"https://{match.group(1)}.api.mailchimp.com"


def mailchimp_throttle(response: httpx.Response) -> float | None:
    """429 (+ Retry-After when given), and the bare 403 Mailchimp answers at high volume: a 403 without a
    problem body is a throttle; one with a problem body (bad key, forbidden list) is a real refusal."""
    if response.status_code == 403:
        try:
            body = response.json()
        except ValueError:
            return 0.0
        return None if isinstance(body, dict) and body.get("title") else 0.0
    return default_throttle(response)


def mailchimp_client(config: ConnectorConfig) -> HttpClient:
    api_key = str(config.require("api_key"))
    default = None if config.get("base_url") else base_url_for(api_key)
    return make_client(
        config,
        default_base_url=default,
        auth=("cdp", api_key),
        throttle=mailchimp_throttle,
        max_connections=MAX_CONNECTIONS,
    )
