from sqlalchemy import func, select

from cdp.audit.log import SYSTEM
from cdp.crypto.envelope import vault
from cdp.ingest.models import Quarantine
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from cdp.suppression.check import add_suppression
from tests.factories import contact_row


def _ingest(session, source, rows):
    return ingest_batch(session, source, rows, actor=SYSTEM)


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_new_record_creates_a_profile_with_encrypted_golden_fields(session):
    result = _ingest(session, "crm", [contact_row(email="Ada.Lovelacey@Acme.example", first_name="Ada")])
    assert result.counts["created"] == 1
    profile = session.get(Profile, result.results[0].profile_id)
    assert b"Lovelacey" not in profile.golden and b"Ada" not in profile.golden
    golden = store.read_golden(session, profile)
    assert golden["email"] == "ada.lovelacey@acme.example"
    assert golden["first_name"] == "Ada"
    assert profile.field_provenance["email"]["source"] == "crm"


def test_reingesting_an_unchanged_record_is_a_no_op(session):
    row = contact_row()
    first = _ingest(session, "crm", [row])
    before = {m: _count(session, m) for m in (Profile, Identity, SourceRecord, Event)}
    again = _ingest(session, "crm", [dict(row, observed_at="2026-04-01T00:00:00Z")])
    assert again.results[0].outcome == "unchanged"
    assert again.results[0].profile_id == first.results[0].profile_id
    assert {m: _count(session, m) for m in before} == before


def test_changed_record_updates_its_profile(session):
    row = contact_row(first_name="Old")
    first = _ingest(session, "crm", [row])
    second = _ingest(session, "crm", [dict(row, first_name="New", observed_at="2026-05-01T00:00:00Z")])
    assert second.results[0].outcome == "updated"
    profile = session.get(Profile, first.results[0].profile_id)
    assert store.read_golden(session, profile)["first_name"] == "New"
    assert _count(session, SourceRecord) == 1


def test_same_email_from_another_source_merges_into_one_profile(session):
    crm = _ingest(session, "crm", [contact_row(email="grace.hopperton@navy.example", external_id="c-1")])
    tool = _ingest(session, "email_tool", [contact_row(email="  GRACE.HOPPERTON@navy.example ", external_id="m-1")])
    assert tool.results[0].outcome == "merged"
    assert tool.results[0].profile_id == crm.results[0].profile_id
    assert _count(session, Profile) == 1
    assert len(store.source_records_of(session, crm.results[0].profile_id)) == 2


def test_external_id_matches_even_when_the_email_changed(session):
    first = _ingest(session, "crm", [contact_row(external_id="c-9", email="before.change@acme.example")])
    second = _ingest(session, "crm", [contact_row(external_id="c-9", email="after.change@acme.example")])
    assert second.results[0].outcome == "updated"
    kinds = sorted(i.kind for i in store.identities_of(session, first.results[0].profile_id))
    assert kinds == ["email", "email", "external:crm"]


def test_role_address_alone_never_merges_two_people(session):
    a = _ingest(session, "crm", [contact_row(email="info@shared.example", first_name="Alice")])
    b = _ingest(session, "webform", [contact_row(email="info@shared.example", first_name="Bob")])
    assert b.results[0].outcome == "created"
    assert a.results[0].profile_id != b.results[0].profile_id
    identity = next(i for i in store.identities_of(session, a.results[0].profile_id) if i.kind == "email")
    assert identity.trust == "low"


def test_bad_rows_are_quarantined_encrypted_with_reasons_and_the_batch_survives(session):
    rows = [
        contact_row(email="not-an-email"),
        "a string, not an object",
        contact_row(observed_at="2026-01-01T00:00:00"),  # no time zone
        contact_row(email=None, phone="12"),
        contact_row(unknown_field=1),
        contact_row(),
    ]
    result = _ingest(session, "crm", rows)
    assert [r.outcome for r in result.results] == ["quarantined"] * 5 + ["created"]
    reasons = [r.reasons[0]["field"] for r in result.results[:5]]
    assert reasons == ["email", "(record)", "observed_at", "phone", "(unexpected field)"]
    assert _count(session, Quarantine) == 5
    row = session.get(Quarantine, result.results[0].quarantine_id)
    assert b"not-an-email" not in row.payload
    assert vault(session).decrypt_json(row.id, row.payload, context="quarantine.payload")["email"] == "not-an-email"


def test_reasons_never_echo_the_rejected_value(session):
    result = _ingest(session, "crm", [contact_row(email="secret.value@@x", phone="secret-phone", country="GBR")])
    text = repr(result.results[0].reasons)
    assert "secret" not in text and "GBR" not in text


def test_record_claiming_another_source_is_quarantined(session):
    result = _ingest(session, "crm", [contact_row(source="hubspot")])
    assert result.results[0].reasons[0]["type"] == "source_mismatch"


def test_suppressed_identifier_drops_the_record_and_counts_it(session):
    add_suppression(session, kind="email", value="erased.person@acme.example", reason="erasure")
    result = _ingest(session, "crm", [contact_row(email="Erased.Person@acme.example")])
    assert result.counts["suppressed"] == 1
    assert _count(session, Profile) == 0


def test_strip_mode_suppression_drops_only_that_identifier(session):
    add_suppression(
        session, kind="email", value="info@household.example", reason="erasure", match_mode="strip_identifier"
    )
    result = _ingest(session, "crm", [contact_row(email="info@household.example", phone="+44 20 7946 0999")])
    assert result.results[0].outcome == "created"
    kinds = {i.kind for i in store.identities_of(session, result.results[0].profile_id)}
    assert kinds == {"external:crm", "phone"}
    profile = session.get(Profile, result.results[0].profile_id)
    assert "email" not in store.read_golden(session, profile)
    record = store.source_records_of(session, profile.id)[0]
    assert store.source_payload(session, record)["email"] is None


def test_events_are_recorded_once_even_when_delivered_twice(session):
    event = {"type": "email_opened", "occurred_at": "2026-02-01T10:00:00Z", "external_id": "evt-1"}
    row = contact_row(events=[event])
    first = _ingest(session, "email_tool", [row])
    _ingest(session, "email_tool", [dict(row, first_name="Changed", events=[event])])
    events = session.scalars(
        select(Event).where(Event.profile_id == first.results[0].profile_id, Event.type == "email_opened")
    ).all()
    assert len(events) == 1


def test_phone_is_normalized_with_the_record_country(session):
    a = _ingest(session, "crm", [contact_row(phone="020 7946 0321", country="GB")])
    identity = next(i for i in store.identities_of(session, a.results[0].profile_id) if i.kind == "phone")
    assert store.identity_value(session, identity) == "+442079460321"


def test_every_write_is_audited_without_personal_data(session):
    from cdp.audit.models import AuditEntry

    _ingest(session, "crm", [contact_row(email="audit.subject@acme.example", last_name="Subjectson"), "bad"])
    entries = session.scalars(select(AuditEntry)).all()
    assert {e.action for e in entries} == {"profile.created", "quarantine.created"}
    dump = repr([(e.details, e.resource_id) for e in entries])
    assert "audit.subject" not in dump and "Subjectson" not in dump


def test_an_event_only_record_adds_to_the_timeline_and_keeps_the_stored_view(session):
    row = contact_row(first_name="Ada")
    first = _ingest(session, "crm", [row])
    notice = {
        "external_id": row["external_id"],
        "observed_at": "2026-06-01T00:00:00Z",
        "events": [{"type": "crm_deleted", "occurred_at": "2026-06-01T00:00:00Z", "external_id": "del-1"}],
    }
    second = _ingest(session, "crm", [notice])
    assert (second.results[0].outcome, second.results[0].profile_id) == ("updated", first.results[0].profile_id)
    profile = session.get(Profile, first.results[0].profile_id)
    assert store.read_golden(session, profile)["first_name"] == "Ada"
    [record] = store.source_records_of(session, profile.id)
    assert store.source_payload(session, record)["first_name"] == "Ada"
    assert _ingest(session, "crm", [notice]).results[0].outcome == "unchanged"
    assert len(session.scalars(select(Event).where(Event.type == "crm_deleted")).all()) == 1
