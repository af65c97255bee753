"""Blocking keys (pure): which stored profiles an incoming record is compared with at all.

A true pair that shares no key is never scored, so every key kind here is a recall rule; the tests pin the
spelling variants each one exists for.
"""

from cdp.identity.resolve import _probe_keys, blocking_keys, fields_from_values


def fields(first=None, last=None, *, emails=(), company=None):
    return fields_from_values(
        emails=emails, phones=(), first_name=first, last_name=last, company=company, city=None, country=None
    )


def meets(incoming, stored) -> bool:
    """Whether resolving `incoming` finds a profile whose match keys come from `stored`."""
    return bool(_probe_keys(incoming) & blocking_keys(stored))


def test_exact_names_and_nicknames_block_together():
    assert meets(fields("Bill", "Brightwater"), fields("William", "Brightwater"))


def test_a_typo_in_the_last_name_still_blocks_through_its_sound():
    assert meets(fields("Arjun", "Mitchel"), fields("Arjun", "Mitchell"))
    assert meets(fields("George", "Tnaka"), fields("George", "Tanaka"))


def test_typos_in_both_names_still_block_through_their_sounds():
    assert meets(fields("Benjamni", "Camens"), fields("Benjamin", "Camens"))


def test_swapped_names_block_together_also_with_a_typo():
    assert meets(fields("Zhang", "Wei"), fields("Wei", "Zhang"))
    assert meets(fields("Futcher", "Grace"), fields("Grace", "Futchr"))


def test_first_name_and_company_block_a_changed_or_mangled_last_name():
    assert meets(
        fields("Olivia", "Harrison", company="Black Mesa"), fields("Olivia", "Smith", company="Black Mesa Ltd")
    )


def test_the_mailbox_name_blocks_across_domains():
    assert meets(
        fields(emails={"jarvis.coleman@gmial.com"}), fields("Jarvis", "Coleman", emails={"jarvis.coleman@gmail.com"})
    )


def test_short_role_and_shared_mailbox_names_do_not_block():
    assert ("lp", "jo") not in blocking_keys(fields(emails={"jo@example.com"}))
    assert not [k for k in blocking_keys(fields(emails={"support@example.com"})) if k[0] == "lp"]


def test_different_people_with_nothing_in_common_share_no_key():
    assert not meets(fields("Maria", "Garcia", company="Acme"), fields("John", "Smith", company="Globex"))
