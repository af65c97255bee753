"""`cdp audiences` end to end on a committed database and a local Mailchimp: create, preview, sync, erase the
person (removal queued, Art. 19), push the removal."""

import json

from cdp.audiences.removals import queue_removals
from cdp.audit.log import SYSTEM
from cdp.db import unit_of_work
from cdp.ingest.pipeline import ingest_batch
from cdp.privacy.erasure import erase_profile
from tests.api.helpers import GRANTED_EMAIL_MARKETING
from tests.connectors.fakes import LIST_ID, FakeMailchimp, md5
from tests.factories import contact_row


def test_audiences_cli_creates_previews_syncs_and_pushes_removals(committed, httpserver, tmp_path):
    fake = FakeMailchimp().install(httpserver)
    conf = tmp_path / "connectors.yaml"
    values = {"base_url": httpserver.url_for("/3.0/"), "api_key": "k-us19", "list_id": LIST_ID}
    conf.write_text(json.dumps({"mailchimp": {**values, "retry_base_seconds": 0}}))
    committed.env["CDP_CONNECTORS_FILE"] = str(conf)
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            rows = [
                contact_row(email="ann@example.test", consents=[GRANTED_EMAIL_MARKETING]),
                contact_row(email="no.consent@example.test"),
            ]
            ann = ingest_batch(s, "crm", rows, actor=SYSTEM).results[0].profile_id
    finally:
        rt.close()

    committed.cli("audiences", "create", "newsletter", "--purpose", "email_marketing", "--destination", "mailchimp")
    assert "newsletter" in committed.cli("audiences", "list").stdout
    dry = committed.cli("audiences", "sync", "newsletter", "--dry-run").stdout
    assert "would add 1, update 0, remove 0" in dry and fake.received == []
    done = committed.cli("audiences", "sync", "newsletter").stdout
    assert "added 1" in done
    assert [m["email_address"] for m in fake.received[0].body["members"]] == ["ann@example.test"]
    assert "synced 1" in committed.cli("audiences", "list").stdout

    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            assert queue_removals(s, ann, erase=True, reason="erasure") == ["mailchimp"]
            erase_profile(s, ann, actor=SYSTEM, reason="test")
    finally:
        rt.close()
    assert "pending" in committed.cli("audiences", "removals", "--list").stdout
    out = committed.cli("audiences", "removals").stdout
    assert "1 done" in out
    assert fake.received[-1].path == f"/3.0/lists/{LIST_ID}/members/{md5('ann@example.test')}/actions/delete-permanent"
    assert committed.cli("audiences", "removals", "--list").stdout.strip() == ""
    assert "error:" in committed.cli("audiences", "sync", "nope", check=False).stderr
