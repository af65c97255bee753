"""The one way out: only consented, active, unsuppressed contact points reach a destination, withdrawals are
removed on the next sync, and a sync that stopped part-way resumes without pushing anyone twice."""

import json

import pytest
from sqlmodel import select

from cdp.audiences.definitions import create_audience
from cdp.audiences.membership import member_count
from cdp.audiences.models import Audience, AudienceMembershipSnapshot
from cdp.audiences.removals import task_refs
from cdp.audiences.sync import sync
from cdp.audiences.unsubscribe import one_click_unsubscribe, unsubscribe_token
from cdp.audit.log import SYSTEM
from cdp.audit.models import AuditEntry
from cdp.connectors.http import ConnectorFailed
from cdp.db import unit_of_work
from cdp.ingest.pipeline import ingest_batch
from cdp.privacy.erasure import erase_profile
from cdp.profiles.models import Identity, Profile
from cdp.suppression.check import add_suppression
from tests.connectors.fakes import LIST_ID, md5
from tests.factories import contact_row

GRANT = {"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}
WITHDRAW = {"purpose": "email_marketing", "status": "withdrawn", "occurred_at": "2026-02-01T00:00:00Z"}


def person(s, email, consents=(GRANT,)):
    row = contact_row(email=email, consents=list(consents))
    return ingest_batch(s, "crm", [row], actor=SYSTEM).results[0].profile_id


def email_identity(s, profile_id):
    return s.scalars(select(Identity).where(Identity.profile_id == profile_id, Identity.kind == "email")).one()


def pushed_emails(fake):
    return [m["email_address"] for r in fake.calls("POST", f"/3.0/lists/{LIST_ID}") for m in r.body["members"]]


@pytest.fixture
def audience(stores):
    with unit_of_work(stores) as s:
        return create_audience(
            s, name="newsletter", purpose="email_marketing", destination="mailchimp", definition={}, actor=SYSTEM
        ).id


def test_only_consented_active_unsuppressed_people_are_exported(stores, mailchimp, audience):
    fake, settings = mailchimp
    with unit_of_work(stores) as s:
        person(s, "ann@example.test")
        person(s, "bob@example.test")
        person(s, "never.asked@example.test", consents=())
        person(s, "withdrew@example.test", consents=(GRANT, WITHDRAW))
        s.get(Profile, person(s, "restricted@example.test")).status = "restricted"
        person(s, "suppressed@example.test")
        add_suppression(s, kind="email", value="suppressed@example.test", reason="objection")
        erase_profile(s, person(s, "erased@example.test"), actor=SYSTEM, reason="test")

    report = sync(stores, audience, settings=settings, actor=SYSTEM)

    assert sorted(pushed_emails(fake)) == ["ann@example.test", "bob@example.test"]
    everything = json.dumps([r.body for r in fake.received])
    for absent in ("never.asked", "withdrew", "restricted", "suppressed", "erased"):
        assert absent not in everything
    assert (report.added, report.removed, report.failed, report.status) == (2, 0, 0, "completed")
    body = fake.calls("POST", f"/3.0/lists/{LIST_ID}")[0].body
    assert body["update_existing"] is True
    assert body["members"][0]["status"] == "subscribed"
    assert body["members"][0]["timestamp_opt"] == "2026-01-01 00:00:00"
    with unit_of_work(stores) as s:
        assert member_count(s, s.get(Audience, audience)) == 2


def test_an_unchanged_audience_pushes_nothing_the_second_time(stores, mailchimp, audience):
    fake, settings = mailchimp
    with unit_of_work(stores) as s:
        person(s, "ann@example.test")
    sync(stores, audience, settings=settings, actor=SYSTEM)
    fake.received.clear()
    report = sync(stores, audience, settings=settings, actor=SYSTEM)
    assert fake.received == []
    assert (report.unchanged, report.added, report.batches) == (1, 0, 0)


def test_a_withdrawal_is_removed_on_the_next_sync(stores, mailchimp, audience):
    fake, settings = mailchimp
    with unit_of_work(stores) as s:
        ann = person(s, "ann@example.test")
        person(s, "bob@example.test")
    sync(stores, audience, settings=settings, actor=SYSTEM)
    with unit_of_work(stores) as s:
        token = unsubscribe_token(s, email_identity(s, ann).id, "email_marketing")
        assert one_click_unsubscribe(s, token, actor=SYSTEM) is True
    fake.received.clear()

    report = sync(stores, audience, settings=settings, actor=SYSTEM)

    assert [(r.method, r.path) for r in fake.received] == [
        ("DELETE", f"/3.0/lists/{LIST_ID}/members/{md5('ann@example.test')}")
    ]
    assert (report.removed, report.added) == (1, 0)
    with unit_of_work(stores) as s:
        assert [r.profile_id for r in s.scalars(select(AudienceMembershipSnapshot))] != [ann]
        assert len(s.scalars(select(AudienceMembershipSnapshot)).all()) == 1


def test_restriction_after_a_sync_takes_the_person_off(stores, mailchimp, audience):
    fake, settings = mailchimp
    with unit_of_work(stores) as s:
        ann = person(s, "ann@example.test")
    sync(stores, audience, settings=settings, actor=SYSTEM)
    with unit_of_work(stores) as s:
        s.get(Profile, ann).status = "restricted"
    report = sync(stores, audience, settings=settings, actor=SYSTEM)
    assert report.removed == 1
    assert fake.members == {}


def test_a_sync_stopped_by_a_failing_destination_resumes_without_pushing_twice(stores, mailchimp, audience):
    fake, settings = mailchimp
    emails = [f"p{i}@example.test" for i in range(5)]
    with unit_of_work(stores) as s:
        for e in emails:
            person(s, e)
    batches = []

    def fail_after_two(kind, n):
        batches.append(n)
        if n == 2:
            fake.fail_next(503, times=3)  # the next batch exhausts its retries

    with pytest.raises(ConnectorFailed):
        sync(stores, audience, settings=settings, actor=SYSTEM, batch_size=2, after_batch=fail_after_two)
    first = pushed_emails(fake)
    assert len(fake.members) == 4  # two batches confirmed; the third failed on every attempt
    with unit_of_work(stores) as s:
        assert len(s.scalars(select(AudienceMembershipSnapshot)).all()) == 4

    fake.received.clear()
    report = sync(stores, audience, settings=settings, actor=SYSTEM, batch_size=2)

    assert pushed_emails(fake) == [e for e in sorted(emails) if e not in first[:4]]
    assert (report.added, report.unchanged) == (1, 4)
    with unit_of_work(stores) as s:
        actions = [e.action for e in s.scalars(select(AuditEntry)) if e.action.startswith("audience.sync")]
    assert actions == ["audience.sync_started", "audience.sync_stopped", "audience.sync_started",
                       "audience.sync_finished"]  # fmt: skip


def test_a_crash_between_batches_resumes_after_the_committed_ones(stores, mailchimp, audience):
    fake, settings = mailchimp
    with unit_of_work(stores) as s:
        for i in range(4):
            person(s, f"p{i}@example.test")

    def crash(kind, n):
        raise KeyboardInterrupt  # the process dies after the first batch committed

    with pytest.raises(KeyboardInterrupt):
        sync(stores, audience, settings=settings, actor=SYSTEM, batch_size=2, after_batch=crash)
    sync(stores, audience, settings=settings, actor=SYSTEM, batch_size=2)

    pushed = pushed_emails(fake)
    assert sorted(pushed) == [f"p{i}@example.test" for i in range(4)]  # each exactly once


def test_dry_run_counts_and_sends_nothing(stores, mailchimp, audience):
    fake, settings = mailchimp
    with unit_of_work(stores) as s:
        ann = person(s, "ann@example.test")
        person(s, "bob@example.test")
    sync(stores, audience, settings=settings, actor=SYSTEM)
    with unit_of_work(stores) as s:
        s.get(Profile, ann).status = "restricted"
        person(s, "cy@example.test")
    fake.received.clear()

    report = sync(stores, audience, settings=settings, actor=SYSTEM, dry_run=True)

    assert fake.received == []
    assert (report.to_add, report.to_update, report.to_remove, report.unchanged) == (1, 0, 1, 1)
    with unit_of_work(stores) as s:
        assert len(s.scalars(select(AudienceMembershipSnapshot)).all()) == 2


def test_members_carry_a_one_click_unsubscribe_url(stores, receiver):
    fake, settings = receiver
    with unit_of_work(stores) as s:
        person(s, "ann@example.test")
        audience = create_audience(
            s, name="hook", purpose="email_marketing", destination="mailchimp", definition={}, actor=SYSTEM
        )
        audience.destination = "webhook"  # the catalog lists mailchimp and sendgrid; set past the check
        audience_id = audience.id
    sync(stores, audience_id, settings=settings, actor=SYSTEM)
    member = fake.received[0].body["members"][0]
    assert member["unsubscribe_url"].startswith("https://cdp.example.test/v1/unsubscribe/")
    assert "ann" not in member["unsubscribe_url"]


def test_sendgrid_end_to_end_adds_consented_people_and_deletes_a_withdrawal(stores, sendgrid):
    fake, settings = sendgrid
    with unit_of_work(stores) as s:
        ann = person(s, "ann@example.test")
        person(s, "never.asked@example.test", consents=())
        audience_id = create_audience(
            s, name="sg", purpose="email_marketing", destination="sendgrid", definition={}, actor=SYSTEM
        ).id
    sync(stores, audience_id, settings=settings, actor=SYSTEM)
    assert [c["email"] for c in fake.contacts.values()] == ["ann@example.test"]
    with unit_of_work(stores) as s:
        one_click_unsubscribe(s, unsubscribe_token(s, email_identity(s, ann).id, "email_marketing"), actor=SYSTEM)

    report = sync(stores, audience_id, settings=settings, actor=SYSTEM)

    assert (report.removed, fake.contacts) == (1, {})
    assert "never.asked" not in json.dumps([r.body for r in fake.received])


def test_a_merge_keeps_the_snapshot_refs_readable_for_later_removals(stores, mailchimp, audience):
    from cdp.audiences.models import DestinationRemoval
    from cdp.audiences.removals import queue_removals
    from cdp.identity.merge import merge_profiles

    _, settings = mailchimp
    with unit_of_work(stores) as s:
        ann = person(s, "ann@example.test")
        other = person(s, "ann.work@example.test")
    sync(stores, audience, settings=settings, actor=SYSTEM)
    with unit_of_work(stores) as s:
        merge_profiles(s, s.get(Profile, ann), s.get(Profile, other), kind="manual", actor=SYSTEM, reason="same")

    again = sync(stores, audience, settings=settings, actor=SYSTEM)  # the merged golden record may rename one
    assert (again.added, again.removed, again.unchanged + again.updated) == (0, 0, 2)
    with unit_of_work(stores) as s:
        assert queue_removals(s, ann, erase=True, reason="erasure") == ["mailchimp"]
        task = s.scalars(select(DestinationRemoval)).one()
        assert sorted(task_refs(s, task)) == sorted([md5("ann@example.test"), md5("ann.work@example.test")])


def test_a_second_sync_of_the_same_audience_waits_for_the_first(stores, mailchimp, audience):
    import datetime as dt

    from cdp.audiences.sync import LEASE, SyncRunning
    from cdp.db import utcnow
    from cdp.ingest.models import ConnectorState

    fake, settings = mailchimp
    with unit_of_work(stores) as s:
        person(s, "ann@example.test")
        s.add(ConnectorState(connector=f"audience:{audience.hex}", status="running", updated_at=utcnow()))

    with pytest.raises(SyncRunning):
        sync(stores, audience, settings=settings, actor=SYSTEM)
    assert fake.received == []
    assert sync(stores, audience, settings=settings, actor=SYSTEM, dry_run=True).to_add == 1  # previews still run

    with unit_of_work(stores) as s:  # the first sync crashed long ago: its lease lapsed
        s.get(ConnectorState, f"audience:{audience.hex}").updated_at = utcnow() - LEASE - dt.timedelta(seconds=1)
    assert sync(stores, audience, settings=settings, actor=SYSTEM).added == 1
    with unit_of_work(stores) as s:
        assert s.get(ConnectorState, f"audience:{audience.hex}").status == "idle"


def test_syncing_logs_no_personal_data(stores, mailchimp, audience, caplog):
    import logging

    fake, settings = mailchimp
    fake.fail_next(503)
    with unit_of_work(stores) as s:
        person(s, "pii-canary@example.test")
    with caplog.at_level(logging.DEBUG):
        sync(stores, audience, settings=settings, actor=SYSTEM)
        with unit_of_work(stores) as s:
            audit = [e.details for e in s.scalars(select(AuditEntry)) if e.action.startswith("audience.")]
    assert "pii-canary" not in caplog.text
    assert "pii-canary" not in json.dumps(audit)
    assert "audience.sync_done" in caplog.text
