import unicodedata

import pytest

from cdp.identity.normalize import (
    NormalizationError,
    email_domain,
    first_name_keys,
    fold_text,
    is_free_mail_domain,
    is_placeholder_email,
    is_role_email,
    normalize_company,
    normalize_email,
    normalize_name,
    normalize_phone,
    soundex,
)

# --- fold_text -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("  Zoë  O'Brien-Łukasz ", "zoe o brien lukasz"),
        ("Zoë", "zoe"),
        ("Łukasz", "lukasz"),
        ("Ørsted", "orsted"),
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("Çelik", "celik"),
        ("Þór Æsa Œuvre Đorđe", "thor aesa oeuvre dorde"),
        ("İstanbul", "istanbul"),
        ("Müller", "muller"),
    ],
)
def test_fold_text_strips_accents_and_maps_undecomposable_letters(raw: str, folded: str) -> None:
    assert fold_text(raw) == folded


@pytest.mark.parametrize("name", ["Zoë", "Łukasz Çelik", "José Ñúñez", "Ångström", "Nguyễn"])
def test_fold_text_nfc_and_nfd_spellings_are_equal(name: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)
    assert nfc != nfd
    assert fold_text(nfc) == fold_text(nfd)


def _full_width(ascii_text: str) -> str:
    return "".join("\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) for ch in ascii_text)


def test_fold_text_full_width_characters_fold_to_ascii() -> None:
    assert _full_width("ZOE O'BRIEN") == "\uff3a\uff2f\uff25\u3000\uff2f\uff07\uff22\uff32\uff29\uff25\uff2e"
    assert fold_text(_full_width("ZOE O'BRIEN")) == "zoe o brien"


@pytest.mark.parametrize("raw", ["J.R.R. Tolkien", "J R R Tolkien", "j-r-r  tolkien", "J'R'R\tTolkien"])
def test_fold_text_punctuation_and_whitespace_collapse_to_single_spaces(raw: str) -> None:
    assert fold_text(raw) == "j r r tolkien"


def test_fold_text_invisible_format_characters_do_not_split_words() -> None:
    assert fold_text("Mül\u00adler\u200b") == "muller"


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", " .-' ", "—"])
def test_fold_text_empty_or_punctuation_only_is_empty(raw: str) -> None:
    assert fold_text(raw) == ""


@pytest.mark.parametrize(("raw", "folded"), [("Ольга", "ольга"), ("한국", "한국"), ("प्रिया", "प्रिया"), ("ｶﾞ", "ガ")])
def test_fold_text_keeps_other_scripts_letters_and_their_own_marks(raw: str, folded: str) -> None:
    assert fold_text(raw) == folded


# --- normalize_name --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Dr. John Smith", "john smith"),
        ("Mr & Mrs Smith", "smith"),
        ("Frau Prof. Dr. Müller", "muller"),
        ("Herr Schröder", "schroder"),
        ("Mme Zoë Dupont", "zoe dupont"),
        ("M. Dupont", "dupont"),
        ("Sr. Juan García", "juan garcia"),
        ("Sir Elton John", "elton john"),
    ],
)
def test_normalize_name_drops_leading_titles(raw: str, name: str) -> None:
    assert normalize_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Smith Jr.", "smith"), ("Smith Sr", "smith"), ("Henry VIII", "henry viii"), ("Gates III", "gates")],
)
def test_normalize_name_drops_trailing_generational_suffixes(raw: str, name: str) -> None:
    assert normalize_name(raw) == name


def test_normalize_name_keeps_a_middle_initial_that_looks_like_a_title() -> None:
    assert normalize_name("John M Smith") == "john m smith"


def test_normalize_name_only_drops_whole_tokens() -> None:
    assert normalize_name("Mrsa Drake Junior") == "mrsa drake junior"


@pytest.mark.parametrize("raw", [None, "", "   ", "Dr.", "Mr & Mrs", "Jr.", "-"])
def test_normalize_name_nothing_left_is_none(raw: str | None) -> None:
    assert normalize_name(raw) is None


# --- first_name_keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        ("Bill", "William", "william"),
        ("Billy", "William", "william"),
        ("Liz", "Elizabeth", "elizabeth"),
        ("Bob", "Robert", "robert"),
        ("BOB", "robert", "robert"),
    ],
)
def test_first_name_keys_nicknames_share_the_canonical_key(a: str, b: str, shared: str) -> None:
    assert shared in first_name_keys(a) & first_name_keys(b)


def test_first_name_keys_unrelated_names_share_no_key() -> None:
    assert not first_name_keys("Ann") & first_name_keys("Bob")


def test_first_name_keys_unknown_name_is_its_folded_self() -> None:
    assert first_name_keys("  Zoë ") == frozenset({"zoe"})


def test_first_name_keys_ignore_titles() -> None:
    assert first_name_keys("Dr. Bill") == first_name_keys("bill")


@pytest.mark.parametrize("raw", [None, "", "Mr."])
def test_first_name_keys_no_name_no_keys(raw: str | None) -> None:
    assert first_name_keys(raw) == frozenset()


# --- normalize_company -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "company"),
    [
        ("ACME Widgets Ltd.", "acme widgets"),
        ("Müller GmbH & Co. KG", "muller"),
        ("The Coca-Cola Company", "coca cola"),
        ("Cobalt Peak Software Inc.", "cobalt peak software"),
        ("Redwood Ledger LLC", "redwood ledger"),
        ("Kestrel & Finch Ltd", "kestrel finch"),
        ("Telefónica S.A.", "telefonica"),
        ("Ferrari S.p.A.", "ferrari"),
        ("Nowak Sp. z o.o.", "nowak"),
        ("Nowak sp. zoo", "nowak"),
        ("Widget Pty. Ltd.", "widget"),
        ("Tata Consultancy Services Pvt Ltd", "tata consultancy services"),
        ("Mærsk A/S", "maersk"),
        ("Acme UG (haftungsbeschränkt)", "acme"),
        ("Philips N.V.", "philips"),
        ("Nokia Oyj", "nokia"),
        ("Volvo AB", "volvo"),
    ],
)
def test_normalize_company_removes_trailing_legal_forms(raw: str, company: str) -> None:
    assert normalize_company(raw) == company


def test_normalize_company_dotted_and_plain_initials_are_equal() -> None:
    assert normalize_company("J.P. Morgan Chase & Co.") == normalize_company("JP Morgan Chase") == "jp morgan chase"


def test_normalize_company_keeps_legal_form_words_inside_the_name() -> None:
    assert normalize_company("Co-operative Bank plc") == "co operative bank"


@pytest.mark.parametrize(
    ("raw", "company"),
    [("Company", "company"), ("The Company Ltd", "company"), ("Ltd", "ltd"), ("LLC Ltd", "llc"), ("The", "the")],
)
def test_normalize_company_never_strips_the_whole_name(raw: str, company: str) -> None:
    assert normalize_company(raw) == company


@pytest.mark.parametrize("raw", [None, "", "  ", " .&. "])
def test_normalize_company_nothing_left_is_none(raw: str | None) -> None:
    assert normalize_company(raw) is None


# --- normalize_email (existing behaviour) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("  ada@example.com \t", "ada@example.com"),
        ("ada@bücher.example", "ada@xn--bcher-kva.example"),
        ("ada@BÜCHER.example", "ada@xn--bcher-kva.example"),
        ("ada+news@gmail.com", "ada+news@gmail.com"),
        ("a.d.a@gmail.com", "a.d.a@gmail.com"),
    ],
)
def test_normalize_email(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "@", "a@", "@example.com", "a@@b", "a@b", "ada@example", "a b@example.com", "x" * 300 + "@example.com"],
)
def test_normalize_email_garbage_raises_without_echoing_the_input(raw: str) -> None:
    with pytest.raises(NormalizationError) as caught:
        normalize_email(raw)
    assert str(caught.value) == "not a valid email address"


def test_normalize_email_error_message_never_contains_the_value() -> None:
    secret = "canary-7f3a@@example.com"
    with pytest.raises(NormalizationError) as caught:
        normalize_email(secret)
    assert "canary" not in str(caught.value)


def test_is_role_email() -> None:
    assert is_role_email("info@example.com")
    assert not is_role_email("ada@example.com")


# --- normalize_phone -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("020 7946 0018", "GB", "+442079460018"),
        ("(020) 7946-0018", "gb", "+442079460018"),
        ("(415) 555-0134", "US", "+14155550134"),
        ("030 123456", "DE", "+4930123456"),
        ("+33 1 23 45 67 89", None, "+33123456789"),
        ("0033 1 23 45 67 89", "DE", "+33123456789"),
        ("+44 20 7946 0018", "US", "+442079460018"),
        ("+1 415 555 0134", "DE", "+14155550134"),
    ],
)
def test_normalize_phone_to_e164(raw: str, country: str | None, e164: str) -> None:
    assert normalize_phone(raw, country) == e164


@pytest.mark.parametrize(
    ("raw", "country"),
    [("abc", "GB"), ("", "GB"), ("12", "GB"), ("12", None), ("020 7946 0018", None), ("+999 1234 5678", None)],
)
def test_normalize_phone_garbage_raises_without_echoing_the_input(raw: str, country: str | None) -> None:
    with pytest.raises(NormalizationError) as caught:
        normalize_phone(raw, country)
    assert not raw or raw not in str(caught.value)


@pytest.mark.parametrize(("raw", "country"), [("555-0134", "US"), ("7946 0018", "GB")])
def test_normalize_phone_rejects_a_local_number_without_area_code(raw: str, country: str) -> None:
    with pytest.raises(NormalizationError, match="area code"):
        normalize_phone(raw, country)


# --- is_placeholder_email --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "test@test.com",
        "test@acme.com",
        "noreply@acme.com",
        "no-reply@acme.com",
        "none@gmail.com",
        "na@acme.com",
        "null@acme.com",
        "example@example.com",
        "asdf@asdf.com",
        "xxx@xxx.com",
        "a@a.com",
        "z@z.de",
        "ada@foo.invalid",
        "ada@invalid",
    ],
)
def test_is_placeholder_email(email: str) -> None:
    assert is_placeholder_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.com",
        "a@b.com",
        "j@acme.com",
        "anna@anna.com",
        "tester@acme.com",
        "ada@invalid.com",
        "info@acme.com",
    ],
)
def test_is_placeholder_email_real_looking_addresses_are_not(email: str) -> None:
    assert not is_placeholder_email(email)


# --- email_domain / is_free_mail_domain ------------------------------------------------------------------------


def test_email_domain() -> None:
    assert email_domain(normalize_email("Ada@Bücher.example")) == "xn--bcher-kva.example"


@pytest.mark.parametrize("value", ["", "ada", "ada@", "@example.com"])
def test_email_domain_of_a_non_address_raises(value: str) -> None:
    with pytest.raises(NormalizationError):
        email_domain(value)


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.com.br",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "GMAIL.COM.",
    ],
)
def test_is_free_mail_domain(domain: str) -> None:
    assert is_free_mail_domain(domain)


@pytest.mark.parametrize(
    "domain", ["acme.com", "mail.acme.com", "yahoo.acme.com", "gmail.acme.com", "notgmail.com", "gmx.example.co.uk", ""]
)
def test_is_free_mail_domain_company_domains_are_not(domain: str) -> None:
    assert not is_free_mail_domain(domain)


# --- soundex (typo-tolerant blocking) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("robert", "r163"),
        ("rupert", "r163"),
        ("tymczak", "t522"),
        ("pfister", "p236"),  # the first letter's own code is not repeated
        ("ashcraft", "a261"),  # h does not separate two letters of one code
        ("lee", "l000"),
        ("o brien", "o165"),  # the space of a folded name is ignored
    ],
)
def test_soundex_follows_the_census_rules(name: str, code: str) -> None:
    assert soundex(name) == code


@pytest.mark.parametrize(
    ("typed", "meant"), [("harison", "harrison"), ("tnaka", "tanaka"), ("schhroeder", "schroeder")]
)
def test_soundex_gives_common_surname_typos_the_same_code(typed: str, meant: str) -> None:
    assert soundex(typed) == soundex(meant)


@pytest.mark.parametrize("name", [None, "", "李", "123"])
def test_soundex_of_a_name_without_latin_letters_is_none(name: str | None) -> None:
    assert soundex(name) is None
