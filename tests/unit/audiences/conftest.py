import json
from pathlib import Path

import pytest

from tests.connectors.fakes import LIST_ID, FakeMailchimp, FakeReceiver, FakeSendGrid


def _with_connectors(settings, tmp_path: Path, values: dict) -> object:
    conf = tmp_path / "connectors.yaml"
    conf.write_text(json.dumps(values))
    return settings.model_copy(update={"connectors_file": conf, "public_base_url": "https://cdp.example.test"})


FAST = {"retry_base_seconds": 0, "retry_attempts": 3, "max_wait_seconds": 5}


@pytest.fixture
def mailchimp(httpserver, settings, tmp_path):
    fake = FakeMailchimp().install(httpserver)
    values = {"base_url": httpserver.url_for("/3.0/"), "api_key": "k-us19", "list_id": LIST_ID, **FAST}
    return fake, _with_connectors(settings, tmp_path, {"mailchimp": values})


@pytest.fixture
def sendgrid(httpserver, settings, tmp_path):
    fake = FakeSendGrid().install(httpserver)
    values = {"base_url": httpserver.url_for("/"), "api_key": "SG.test", "list_id": "ca7a3796", **FAST}
    return fake, _with_connectors(settings, tmp_path, {"sendgrid": values})


@pytest.fixture
def receiver(httpserver, settings, tmp_path):
    fake = FakeReceiver().install(httpserver)
    values = {"base_url": httpserver.url_for("/hooks/cdp"), "secret": "whsec-test", "batch_size": 2, **FAST}
    return fake, _with_connectors(settings, tmp_path, {"webhook": values})
