"""Art. 19 removal tasks: queued from the snapshot with only the destination's member key, surviving the
person's erasure, pushed to the destination and tracked to completion."""

import json

from sqlmodel import select

from cdp.audiences.models import Audience, AudienceMembershipSnapshot, DestinationRemoval
from cdp.audiences.removals import process_removals, queue_removals, seal_ref, task_refs
from cdp.audit.log import SYSTEM
from cdp.audit.models import AuditEntry
from cdp.crypto.envelope import vault
from cdp.ingest.pipeline import ingest_batch
from cdp.privacy.erasure import erase_profile
from cdp.profiles.models import Identity
from tests.connectors.fakes import LIST_ID, md5
from tests.factories import contact_row

EMAIL = "ada.lovelace@example.com"


def _synced_person(session, email=EMAIL):
    result = ingest_batch(session, "crm", [contact_row(email=email)], actor=SYSTEM).results[0]
    profile_id = result.profile_id
    identity = session.scalars(
        select(Identity).where(Identity.profile_id == profile_id, Identity.kind == "email")
    ).one()
    audience = Audience(name=f"news-{email}", purpose="email_marketing", destination="mailchimp")
    session.add(audience)
    session.flush()
    session.add(
        AudienceMembershipSnapshot(
            audience_id=audience.id,
            destination="mailchimp",
            profile_id=profile_id,
            identity_id=identity.id,
            member_ref=seal_ref(session, profile_id, md5(email)),
        )
    )
    session.flush()
    return profile_id


def test_queued_removal_keeps_only_the_member_hash_and_survives_erasure(session, mailchimp):
    fake, settings = mailchimp
    fake.members[md5(EMAIL)] = {"email_address": EMAIL}
    profile_id = _synced_person(session)

    assert queue_removals(session, profile_id, erase=True, reason="erasure") == ["mailchimp"]
    erase_profile(session, profile_id, actor=SYSTEM, reason="test")

    task = session.scalars(select(DestinationRemoval)).one()
    assert (task_refs(session, task), task.erase, task.status, task.attempts) == ([md5(EMAIL)], True, "pending", 0)
    assert task.sealed_refs is not None and md5(EMAIL).encode() not in task.sealed_refs  # sealed, not readable
    assert session.scalars(select(AudienceMembershipSnapshot)).all() == []

    report = process_removals(session, settings=settings)

    assert report.done == 1
    assert [(r.method, r.path) for r in fake.received] == [
        ("POST", f"/3.0/lists/{LIST_ID}/members/{md5(EMAIL)}/actions/delete-permanent")
    ]
    session.refresh(task)
    assert (task.status, task.attempts, task_refs(session, task), task.ref_count) == ("done", 1, [], 1)
    assert task.sealed_refs is None and not vault(session).has_key(task.id)  # the task's key is destroyed
    assert task.completed_at is not None
    audit = [e for e in session.scalars(select(AuditEntry)) if e.action.startswith("audience.removal")]
    assert [e.action for e in audit] == ["audience.removals_queued", "audience.removal_done"]
    assert EMAIL not in json.dumps([e.details for e in audit])


def test_restriction_archives_instead_of_deleting(session, mailchimp):
    fake, settings = mailchimp
    fake.members[md5(EMAIL)] = {"email_address": EMAIL}
    profile_id = _synced_person(session)
    queue_removals(session, profile_id, erase=False, reason="restriction")
    process_removals(session, settings=settings)
    assert [(r.method, r.path) for r in fake.received] == [("DELETE", f"/3.0/lists/{LIST_ID}/members/{md5(EMAIL)}")]


def test_nobody_synced_queues_nothing(session, mailchimp):
    result = ingest_batch(session, "crm", [contact_row()], actor=SYSTEM).results[0]
    assert queue_removals(session, result.profile_id, erase=True, reason="erasure") == []
    assert session.scalars(select(DestinationRemoval)).all() == []


def test_a_failing_destination_is_retried_then_marked_failed(session, mailchimp):
    fake, settings = mailchimp
    profile_id = _synced_person(session)
    queue_removals(session, profile_id, erase=True, reason="erasure")
    fake.fail_next(503, times=6)

    first = process_removals(session, settings=settings, max_attempts=2)
    task = session.scalars(select(DestinationRemoval)).one()
    assert (first.retrying, task.status, task.attempts, task.last_error) == (1, "pending", 1, "connector-failed")
    second = process_removals(session, settings=settings, max_attempts=2)
    assert (second.failed, task.status, task.attempts) == (1, "failed", 2)
    assert task_refs(session, task) == [md5(EMAIL)]
    assert process_removals(session, settings=settings, max_attempts=2).done == 0  # failed tasks wait for a human


def test_a_member_already_gone_counts_as_removed(session, mailchimp):
    _, settings = mailchimp
    profile_id = _synced_person(session)  # never reached Mailchimp's fake: 404 there
    queue_removals(session, profile_id, erase=False, reason="restriction")
    assert process_removals(session, settings=settings).done == 1
