"""Normalising contact points so equal identifiers get equal blind indexes.

Emails: trimmed, IDN domain to ASCII, case-folded (no provider-specific dot/plus stripping).
Phones: E.164 through `phonenumbers`, with the record's country as the default region.
Names and companies: case- and accent-folded tokens, so spelling variants of one name compare equal.
"""

import functools
import unicodedata

import email_validator
import phonenumbers
from nicknames import NickNamer

ROLE_LOCAL_PARTS = frozenset(
    {
        "info",
        "sales",
        "support",
        "admin",
        "contact",
        "hello",
        "office",
        "team",
        "marketing",
        "billing",
        "accounts",
        "enquiries",
        "inquiries",
        "help",
        "noreply",
        "no-reply",
        "postmaster",
        "webmaster",
        "hr",
        "jobs",
        "careers",
        "press",
        "media",
        "service",
        "reception",
        "mail",
    }
)


# Pure functions called for every record and every golden recomputation; imports repeat the same values a lot.
_CACHE = 16_384  # a chunk of 2000 records repeats within itself; across chunks little is gained


class NormalizationError(ValueError):
    """The value cannot be a contact point; the message never repeats the value."""


@functools.lru_cache(maxsize=_CACHE)
def normalize_email(raw: str) -> str:
    try:
        checked = email_validator.validate_email(
            raw.strip(), check_deliverability=False, allow_smtputf8=True, test_environment=True
        )
    except email_validator.EmailNotValidError as exc:
        raise NormalizationError("not a valid email address") from exc
    local, _, _domain = checked.normalized.rpartition("@")
    return f"{local.casefold()}@{checked.ascii_domain.lower()}"


@functools.lru_cache(maxsize=_CACHE)
def normalize_phone(raw: str, default_region: str | None) -> str:
    region = default_region.upper() if default_region else None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise NormalizationError("not a parseable phone number (add a country code or the record's country)") from exc
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        # Without its area code the number would format as a wrong E.164 that other people's numbers share.
        raise NormalizationError("a local number without its area code")
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise NormalizationError("not a possible phone number for its region")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_role_email(normalized: str) -> bool:
    return normalized.partition("@")[0] in ROLE_LOCAL_PARTS


# Letters NFKD leaves whole (they are not base letter + accent), spelled the way people type them on an ASCII keyboard.
_UNDECOMPOSABLE = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "œ": "oe",
        "\u0131": "i",
        "ħ": "h",
        "ŧ": "t",
    }
)
# Only the diacritic blocks: the marks of other scripts (Indic vowel signs, kana voicing) change the letter itself.
_DIACRITIC_BLOCKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))


def _is_diacritic(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _DIACRITIC_BLOCKS)


@functools.lru_cache(maxsize=_CACHE)
def fold_text(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value).casefold()
    chars: list[str] = []
    for ch in decomposed:
        if _is_diacritic(ch):
            continue
        category = unicodedata.category(ch)
        if category == "Cf":  # soft hyphen, zero-width joiners: invisible, so they must not split a word
            continue
        chars.append(ch if category[0] in "LNM" else " ")
    folded = " ".join("".join(chars).translate(_UNDECOMPOSABLE).split())
    return unicodedata.normalize("NFC", folded)


_NAME_TITLES = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "mx",
        "miss",
        "dr",
        "prof",
        "sir",
        "dame",
        "herr",
        "frau",
        "m",
        "mme",
        "mlle",
        "sr",
        "sra",
        "srta",
    }
)
_NAME_SUFFIXES = frozenset({"jr", "jnr", "sr", "snr", "ii", "iii", "iv"})


@functools.lru_cache(maxsize=_CACHE)
def normalize_name(value: str | None) -> str | None:
    """Titles are dropped only from the front and suffixes only from the back.

    Anywhere else "m" is a middle initial, and "sr" is Spanish "Señor" in front but English "Senior" at the back.
    """
    if value is None:
        return None
    tokens = fold_text(value).split()
    start, end = 0, len(tokens)
    while start < end and tokens[start] in _NAME_TITLES:
        start += 1
    while end > start and tokens[end - 1] in _NAME_SUFFIXES:
        end -= 1
    return " ".join(tokens[start:end]) or None


@functools.cache
def _nicknamer() -> NickNamer:
    return NickNamer()


@functools.lru_cache(maxsize=_CACHE)
def first_name_keys(first: str | None) -> frozenset[str]:
    """Blocking keys: two first names may be the same person's when their key sets intersect.

    The `nicknames` data is broad (William and Wilma share "wilma", Bill and Bob share "robert"), so a shared key
    is a reason to compare two records, not evidence that they match.
    """
    name = normalize_name(first)
    if name is None:
        return frozenset()
    return frozenset({name, *_nicknamer().canonicals_of(name)})


_COMPANY_FORMS: tuple[tuple[str, ...], ...] = (
    ("sp", "zoo"),  # Sp. z o.o.
    *[
        (form,)
        for form in [
            "ltd",
            "ltda",
            "limited",
            "llc",
            "inc",
            "incorporated",
            "corp",
            "corporation",
            "co",
            "company",
            "plc",
            "gmbh",
            "ag",
            "kg",
            "kgaa",
            "ug",
            "haftungsbeschrankt",
            "sa",
            "sas",
            "sarl",
            "srl",
            "spa",
            "sl",
            "se",
            "bv",
            "nv",
            "oy",
            "oyj",
            "ab",
            "as",
            "aps",
            "pty",
            "pvt",
            "llp",
            "lp",
            "kk",
        ]
    ],
)


def _join_initials(tokens: list[str]) -> list[str]:
    """Runs of one-character tokens become one token, so "S.A.", "S.p.A." and "J.P." fold like "SA", "SpA", "JP"."""
    joined: list[str] = []
    run = ""
    for token in tokens:
        if len(token) == 1:
            run += token
            continue
        if run:
            joined.append(run)
            run = ""
        joined.append(token)
    if run:
        joined.append(run)
    return joined


@functools.lru_cache(maxsize=_CACHE)
def normalize_company(value: str | None) -> str | None:
    if value is None:
        return None
    tokens = _join_initials(fold_text(value).split())
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    stripped = True
    while stripped:
        stripped = False
        for form in _COMPANY_FORMS:
            if len(tokens) > len(form) and tuple(tokens[-len(form) :]) == form:
                tokens = tokens[: -len(form)]
                stripped = True
    return " ".join(tokens) or None


_PLACEHOLDER_LOCAL_PARTS = frozenset(
    {
        "test",
        "example",
        "asdf",
        "xxx",
        "none",
        "na",
        "n/a",
        "null",
        "nil",
        "nobody",
        "noemail",
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
    }
)


def is_placeholder_email(normalized: str) -> bool:
    """Addresses people type to get past a required field; never identity evidence.

    Thousands of strangers share them, so treating them as an identifier would chain unrelated people into one
    profile. The list stays short on purpose: a real address wrongly listed here loses its merge evidence for
    good, while a new placeholder that slips through is only as harmful as any shared mailbox (scored, not proof).
    """
    local, _, domain = normalized.rpartition("@")
    if domain == "invalid" or domain.endswith(".invalid"):  # RFC 2606: reserved never to resolve
        return True
    if local in _PLACEHOLDER_LOCAL_PARTS:
        return True
    label = domain.partition(".")[0]
    return local == label and len(label) == 1


def email_domain(normalized: str) -> str:
    local, at, domain = normalized.rpartition("@")
    if not (local and at and domain):
        raise NormalizationError("not a normalized email address")
    return domain


_FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)
# Providers with a domain per country: yahoo.co.uk, hotmail.fr, gmx.de, yandex.ru, outlook.de, live.co.uk.
_FREE_MAIL_BRANDS = frozenset({"yahoo", "hotmail", "gmx", "yandex", "outlook", "live"})
_SECOND_LEVEL_LABELS = frozenset({"co", "com", "net", "org", "ne", "or"})


def is_free_mail_domain(domain: str) -> bool:
    """A shared consumer-mail domain says nothing about a shared employer; a shared company domain does."""
    name = domain.strip().rstrip(".").lower()
    if name in _FREE_MAIL_DOMAINS:
        return True
    brand, *suffix = name.split(".")
    if brand not in _FREE_MAIL_BRANDS:
        return False
    # brand.tld or brand.co.tld, never brand.some-company.tld
    return len(suffix) == 1 or (len(suffix) == 2 and suffix[0] in _SECOND_LEVEL_LABELS)


_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


@functools.lru_cache(maxsize=_CACHE)
def soundex(name: str | None) -> str | None:
    """American Soundex of a normalized name ("harrison", "harison" -> "h625"), for typo-tolerant blocking.

    Only the Latin letters count; a name without any (another script) has no code and blocks on its spelling
    alone. H and W do not separate letters of one code, vowels do (the census rule).
    """
    letters = [ch for ch in (name or "") if "a" <= ch <= "z"]
    if not letters:
        return None
    code = letters[0]
    last = _SOUNDEX_CODES.get(letters[0], "")
    for ch in letters[1:]:
        digit = _SOUNDEX_CODES.get(ch, "")
        if digit and digit != last:
            code += digit
            if len(code) == 4:
                break
        if ch not in "hw":
            last = digit
    return code.ljust(4, "0")
