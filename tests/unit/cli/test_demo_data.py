import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import phonenumbers
import pytest

from cdp.cli.demo_data import _CULTURES, DEFAULT_NOW, demo_identifiers, generate_demo_records
from cdp.ingest.records import ContactRecord
from cdp.ingest.validate import validate_row
from cdp.policies import load_policies

RECORDS = generate_demo_records()
COUNTRIES = {"GB", "US", "DE", "FR", "ES", "PL", "IN", "NL", "IE", "CA"}
PII_FIELDS = {"email", "phone", "first_name", "last_name"}
# Strings a database file holds in plaintext anyway: SQL, JSON, schema names and everyday English words.
RISKY_WORDS = """
select insert update delete create table index unique primary foreign references constraint default
integer varchar boolean timestamp datetime returning conflict nothing values where order group having
limit offset between exists distinct cascade restrict trigger pragma sqlite_master autoincrement rowid
begin commit rollback savepoint release transaction null true false object array string number
source external_id observed_at email phone first_name last_name company job_title country city
lifecycle_stage attributes consents events purpose status occurred_at channel lawful_basis method
notice_id notice_version jurisdiction expires_at proof user_agent page_url payload_sha256 properties
profile profiles identity identities contact contacts subscriber suppression ciphertext nonce keyring
audit retention privacy audience audiences marketing outreach analytics granted withdrawn denied expired
legitimate_interest legal_obligation newsletter unsubscribed delivered opened clicked submitted
baker walker turner taylor miller fisher cooper carter parker hunter foster butler mason
sharpen harmony winter summer spring autumn bonnet bakery merchant grocer martini martingale clement
chevalier cavalier morale morales romance serenade schedule stranger stronger mercenary marchandise
"""


def _aware(text: object) -> dt.datetime:
    assert isinstance(text, str)
    parsed = dt.datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None, text
    return parsed


def _norm(email: object) -> str:
    assert isinstance(email, str)
    return email.strip().lower()


def test_same_seed_gives_identical_output_and_other_seeds_differ() -> None:
    assert generate_demo_records() == RECORDS
    assert generate_demo_records(seed=7, people=240, now=DEFAULT_NOW) == RECORDS
    assert generate_demo_records(seed=8) != RECORDS
    assert json.loads(json.dumps(RECORDS)) == RECORDS


@pytest.mark.parametrize("seed", [7, 1, 2026])
def test_every_record_validates_as_contact_record(seed: int) -> None:
    for record in generate_demo_records(seed=seed):
        parsed = ContactRecord.model_validate(record)
        assert parsed.source in {"crm", "email_tool", "webform"}
        assert list(record) == list(ContactRecord.model_fields)


@pytest.mark.parametrize("seed", [7, 1, 2026])
def test_every_record_passes_ingest_validation_against_the_shipped_purposes(seed: int) -> None:
    """The demo must show the platform working: not one row should land in quarantine."""
    purposes = load_policies(Path(__file__).resolve().parents[3] / "policies").purposes
    for record in generate_demo_records(seed=seed):
        checked = validate_row(str(record["source"]), record, purposes=purposes)
        assert not isinstance(checked, list), [reason["type"] for reason in checked]


def test_people_count_and_edge_sizes() -> None:
    persons = {_norm(r["email"]) for r in RECORDS if r["email"]}
    phone_only = [r for r in RECORDS if not r["email"]]
    assert len(persons) + len(phone_only) == 240
    assert 3 <= len(phone_only) <= 10
    assert all(r["phone"] and r["source"] in {"crm", "webform"} for r in phone_only)
    assert generate_demo_records(people=0) == []
    assert len(generate_demo_records(people=1)) >= 1
    big = generate_demo_records(people=2000, seed=3)
    assert len({_norm(r["email"]) for r in big if r["email"]}) + sum(not r["email"] for r in big) == 2000
    with pytest.raises(ValueError):
        generate_demo_records(people=2001)


def test_duplicates_across_sources_share_an_email_up_to_case_and_whitespace() -> None:
    sources: dict[str, set[object]] = defaultdict(set)
    spellings: dict[str, set[object]] = defaultdict(set)
    for record in RECORDS:
        if record["email"]:
            sources[_norm(record["email"])].add(record["source"])
            spellings[_norm(record["email"])].add(record["email"])
    multi = [email for email, seen in sources.items() if len(seen) > 1]
    assert 0.3 <= len(multi) / 240 <= 0.5
    assert any(len(sources[email]) == 3 for email in multi)
    variants = [s for email in multi for s in spellings[email] if s != email]
    assert any(isinstance(v, str) and v != v.strip() for v in variants)
    assert any(isinstance(v, str) and v == v.strip() and v != v.lower() for v in variants)


def test_emails_and_phones_belong_to_exactly_one_person() -> None:
    surname_by_email: dict[str, set[str]] = defaultdict(set)
    owners_by_phone: dict[str, set[str]] = defaultdict(set)
    for record in RECORDS:
        owner = _norm(record["email"]) if record["email"] else f"phone-only:{record['external_id']}"
        if record["email"] and record["last_name"]:
            surname_by_email[owner].add(str(record["last_name"]).lower())
        if record["phone"]:
            number = phonenumbers.parse(str(record["phone"]), str(record["country"]))
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            owners_by_phone[e164].add(owner)
    assert all(len(names) == 1 for names in surname_by_email.values())
    assert all(len(owners) == 1 for owners in owners_by_phone.values())
    phones_by_owner: dict[str, set[str]] = defaultdict(set)
    for e164, owners in owners_by_phone.items():
        phones_by_owner[next(iter(owners))].add(e164)
    assert all(len(numbers) == 1 for numbers in phones_by_owner.values())


def test_phones_are_valid_for_the_record_country() -> None:
    formats = set()
    for record in RECORDS:
        if record["phone"]:
            phone, country = str(record["phone"]), str(record["country"])
            number = phonenumbers.parse(phone, country)
            assert phonenumbers.is_valid_number(number), phone
            assert phonenumbers.region_code_for_number(number) == country, phone
            formats.add(re.sub(r"\d", "9", phone))
    assert len(formats) >= 15


def test_only_reserved_example_domains() -> None:
    for record in RECORDS:
        if record["email"]:
            local, _, domain = _norm(record["email"]).partition("@")
            assert local and re.fullmatch(r"[a-z0-9._]+", local), record["email"]
            assert domain in {"example.com", "example.org", "example.net"} or domain.endswith(".example")
        for text in re.findall(r"https?://[^/\"]+", json.dumps(record)):
            assert text == "https://www.example.com", text


def test_surnames_are_long_and_collide_with_nothing_stored_in_plaintext() -> None:
    ids = demo_identifiers(RECORDS)
    assert len(ids["surnames"]) >= 60
    plaintext = []
    for record in RECORDS:
        plaintext += [json.dumps(v, ensure_ascii=False) for k, v in record.items() if k not in PII_FIELDS]
    haystack = "\n".join([*plaintext, RISKY_WORDS]).lower()
    for surname in ids["surnames"]:
        assert len(surname) >= 6, surname
        assert surname.lower() not in haystack, surname
    assert all(len(email) >= 10 for email in ids["emails"])
    assert all(len(phone) >= 10 for phone in ids["phones"])


def test_demo_identifiers_returns_the_strings_as_they_appear() -> None:
    ids = demo_identifiers(RECORDS)
    assert set(ids) == {"emails", "phones", "surnames"}
    assert ids["emails"] == {str(r["email"]).strip() for r in RECORDS if r["email"]}
    assert ids["phones"] == {r["phone"] for r in RECORDS if r["phone"]}
    assert ids["surnames"] == {r["last_name"] for r in RECORDS if r["last_name"]}


def test_names_cities_and_countries_look_real() -> None:
    assert {r["country"] for r in RECORDS} - {None} == COUNTRIES
    country_of_city: dict[object, set[object]] = defaultdict(set)
    for record in RECORDS:
        if record["city"]:
            country_of_city[record["city"]].add(record["country"])
    assert all(len(countries) == 1 for countries in country_of_city.values())
    surnames = demo_identifiers(RECORDS)["surnames"]
    for culture, (_, _, names) in _CULTURES.items():
        assert surnames & set(names), culture
    assert any(s.endswith("ska") for s in surnames) and any(s.endswith("ski") for s in surnames)


def test_timestamps_lie_in_the_two_years_before_now() -> None:
    for now in (DEFAULT_NOW, dt.datetime(2030, 1, 15, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))):
        for record in generate_demo_records(now=now):
            observed = _aware(record["observed_at"])
            assert now - dt.timedelta(days=730) <= observed <= now
            consents = record["consents"]
            events = record["events"]
            assert isinstance(consents, list) and isinstance(events, list)
            for item in consents + events:
                occurred = _aware(item["occurred_at"])
                assert now - dt.timedelta(days=730) <= occurred <= observed


def test_source_shapes() -> None:
    event_ids: list[object] = []
    seen: set[object] = set()
    for record in RECORDS:
        external_id, consents, events = str(record["external_id"]), record["consents"], record["events"]
        assert isinstance(consents, list) and isinstance(events, list)
        seen.update(e["type"] for e in events)
        if record["source"] == "crm":
            assert re.fullmatch(r"crm-\d{6}", external_id)
            assert record["company"] and record["job_title"] and record["lifecycle_stage"]
        elif record["source"] == "email_tool":
            assert external_id == hashlib.md5(_norm(record["email"]).encode()).hexdigest()
            assert consents
            assert {(c["purpose"], c["method"]) for c in consents} == {("email_marketing", "email_tool")}
            assert {c["status"] for c in consents} <= {"granted", "withdrawn"}
            kinds = {e["type"] for e in events}
            assert kinds <= {"email_delivered", "email_opened", "email_clicked", "email_unsubscribed"}
            assert ("email_unsubscribed" in kinds) == ("withdrawn" in {c["status"] for c in consents})
            event_ids += [e["external_id"] for e in events]
        else:
            assert re.fullmatch(r"form-sub-\d+", external_id)
            assert [e["type"] for e in events] == ["form_submitted"]
            assert consents and all(c["method"] == "web_form" for c in consents)
            assert all(set(c["proof"]) == {"ip", "user_agent", "page_url"} for c in consents)
            assert {c["purpose"] for c in consents} <= {"email_marketing", "sales_outreach", "analytics"}
    assert len(event_ids) == len(set(event_ids)) > 100
    assert len({r["external_id"] for r in RECORDS}) == len(RECORDS)
    expected = {"email_delivered", "email_opened", "email_clicked", "email_unsubscribed", "form_submitted"}
    assert seen == expected
