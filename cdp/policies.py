"""Loading and checking the declarative policy files in `policies/` (purposes, retention, access).

Errors name the file, the line and the problem in one line, so `cdp policies check` and server start
can refuse a bad file without a traceback.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import isodate
import yaml

from cdp.errors import InvalidInput

PERMISSIONS = frozenset(
    {
        "ingest.write",
        "profiles.read",
        "profiles.read_consented",
        "profiles.search",
        "profiles.merge",
        "purposes.read",
        "consents.read",
        "consents.write",
        "consents.proof",
        "audiences.manage",
        "audit.read",
        "privacy.manage",
        "retention.manage",
        "connectors.manage",
    }
)
ROLES = ("connector", "marketing", "sales", "compliance", "admin")
# Where the loaded `Policies` sit on a session (`session.info[POLICIES_INFO_KEY]`), set by `open_runtime`.
POLICIES_INFO_KEY = "policies"


class PolicyError(InvalidInput):
    slug = "invalid-policy"
    title = "Invalid policy file"

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}", file=str(path), line=line or 0)


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class AccessPolicy:
    roles: dict[str, Role]

    def allows(self, role: str, permission: str) -> bool:
        found = self.roles.get(role)
        return found is not None and permission in found.permissions

    def roles_with(self, permission: str) -> list[str]:
        return sorted(name for name, role in self.roles.items() if permission in role.permissions)


SURVIVORSHIP_RULES = ("most_recent", "most_trusted_source", "most_complete")
GOLDEN_FIELDS = ("email", "phone", "first_name", "last_name", "company", "job_title", "country", "city")


@dataclass(frozen=True)
class IdentityPolicy:
    merge_threshold: float | None = None
    review_threshold: float | None = None
    source_trust: tuple[str, ...] = ()
    default_rule: str = "most_recent"
    field_rules: dict[str, str] = field(default_factory=dict)

    def rule_for(self, field_name: str) -> str:
        return self.field_rules.get(field_name, self.default_rule)

    def trust_rank(self, source: str) -> int:
        """Lower is more trusted; unknown sources rank last."""
        return self.source_trust.index(source) if source in self.source_trust else len(self.source_trust)


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration as written in a policy (P24M, P30D); months are calendar months."""

    text: str
    months: int = 0
    delta: dt.timedelta = dt.timedelta(0)

    def after(self, when: dt.datetime) -> dt.datetime:
        shifted: dt.datetime = when + isodate.Duration(months=self.months) if self.months else when
        return shifted + self.delta

    def before(self, when: dt.datetime) -> dt.datetime:
        shifted: dt.datetime = when - isodate.Duration(months=self.months) if self.months else when
        return shifted - self.delta

    def __str__(self) -> str:
        return self.text


LAWFUL_BASES = ("consent", "legitimate_interest", "contract", "legal_obligation")
CHANNELS = ("email", "phone", "sms", "any")
CONSENT_TYPES = ("expressed", "explicitly_expressed", "implied", "soft_opt_in")


@dataclass(frozen=True)
class Notice:
    """What the person was told: the privacy notice in force when they acted."""

    id: str
    version: str
    effective_from: dt.date
    url: str | None = None
    text: str | None = None
    sha256: str | None = None
    language: str = "en"


@dataclass(frozen=True)
class Purpose:
    id: str
    title: str
    lawful_basis: str
    channels: tuple[str, ...]
    consent_required: bool  # explicit opt-in before any processing under this purpose
    consent_types_accepted: tuple[str, ...]
    consent_validity: Duration | None  # a grant lapses after this; None: until withdrawn (non-consent bases)
    direct_marketing: bool = False  # an Art. 21(2) objection withdraws it
    sale_or_share: bool = False  # a Sec-GPC: 1 signal refuses it (CCPA/CPRA)
    profiling: bool = False  # a Sec-GPC: 1 signal refuses it too
    # PECR reg. 22(3): marketing email to existing customers without consent, after a sale or negotiation and an
    # offered opt-out. Only for legitimate-interest direct-marketing purposes (COMPLIANCE 1.2).
    soft_opt_in_allowed: bool = False
    retention: str | None = None  # a rule id in retention.yaml
    recipients: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    notices: tuple[Notice, ...] = ()

    def expires_at(self, occurred_at: dt.datetime) -> dt.datetime | None:
        return None if self.consent_validity is None else self.consent_validity.after(occurred_at)

    def notice_at(self, when: dt.date) -> Notice | None:
        """The notice version in force on `when` (the latest one that took effect by then)."""
        current = [n for n in self.notices if n.effective_from <= when]
        return max(current, key=lambda n: n.effective_from) if current else None

    def covers(self, channel: str) -> bool:
        return "any" in self.channels or channel in self.channels or channel == "any"


RETENTION_TARGETS = ("profile", "source_record", "event", "quarantine", "consent_event", "privacy_request")
RETENTION_TRIGGERS = (
    "last_activity",  # profile.last_activity_at
    "created",  # the row's creation / first receipt
    "consent_ended",  # every consent-basis purpose withdrawn, expired or objected, and no other basis live
    "relationship_ended",  # an event of `event_type` (e.g. contract_ended) on the profile
    "occurred",  # event.occurred_at
    "received",  # source_record.received_at / quarantine received
    "completed",  # privacy_request.completed_at
)
RETENTION_ACTIONS = ("erase", "delete_rows", "anonymize", "minimise")
RETENTION_EXEMPTIONS = ("legal_hold", "restriction", "open_privacy_request")
# What each action may be applied to: erasing is for people; rows are deleted or minimised.
_ACTIONS_FOR: dict[str, tuple[str, ...]] = {
    "profile": ("erase", "anonymize"),
    "source_record": ("delete_rows", "minimise"),
    "event": ("delete_rows",),
    "quarantine": ("delete_rows",),
    "consent_event": ("delete_rows",),
    "privacy_request": ("minimise", "delete_rows"),
}
# Which clocks each table has (cdp/retention/engine.py reads each of these, and only these).
_TRIGGERS_FOR: dict[str, tuple[str, ...]] = {
    "profile": ("last_activity", "created", "consent_ended", "relationship_ended"),
    "source_record": ("received", "created"),
    "event": ("occurred", "created"),
    "quarantine": ("received", "created"),
    "consent_event": ("occurred", "created", "consent_ended"),
    "privacy_request": ("completed", "created"),
}
_WHERE_KEYS: dict[str, tuple[str, ...]] = {
    "profile": ("lifecycle_stage", "source", "unconsented"),
    "source_record": ("source",),
    "event": ("type", "source"),
    "quarantine": ("source",),
    "consent_event": ("purpose",),
    "privacy_request": ("type",),
}


@dataclass(frozen=True)
class RetentionRule:
    id: str
    description: str
    target: str
    trigger: str
    keep_for: Duration
    action: str
    where: dict[str, tuple[str, ...] | bool] = field(default_factory=dict)
    event_type: str | None = None  # for trigger relationship_ended
    statutory: bool = False  # kept for a legal obligation: erasure requests restrict instead

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        """Rows whose trigger time is before this are due."""
        return self.keep_for.before(now)


@dataclass(frozen=True)
class RetentionPolicy:
    rules: tuple[RetentionRule, ...] = ()
    exemptions: tuple[str, ...] = RETENTION_EXEMPTIONS

    def rule(self, rule_id: str) -> RetentionRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


@dataclass(frozen=True)
class Policies:
    directory: Path
    access: AccessPolicy
    identity: IdentityPolicy = field(default_factory=IdentityPolicy)
    purposes: dict[str, Purpose] = field(default_factory=dict)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    forms: dict[str, "WebForm"] = field(default_factory=dict)
    requests: "RequestsPolicy" = field(default_factory=lambda: RequestsPolicy())


class _Doc:
    """A parsed YAML document that still knows the line of every mapping key and sequence item."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text()
        except OSError as exc:
            raise PolicyError(path, None, f"cannot be read ({type(exc).__name__})") from exc
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise PolicyError(
                path, mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}"
            ) from exc
        self.lines: dict[tuple[Any, ...], int] = {}
        if node is not None:
            self._index(node, ())

    def _index(self, node: yaml.Node, at: tuple[Any, ...]) -> None:
        self.lines[at] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.lines[(*at, key.value)] = key.start_mark.line + 1
                self._index(value, (*at, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, (*at, i))

    def error(self, at: tuple[Any, ...], problem: str) -> PolicyError:
        while at and at not in self.lines:
            at = at[:-1]
        return PolicyError(self.path, self.lines.get(at), problem)


def _load_access(path: Path) -> AccessPolicy:
    doc = _Doc(path)
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("roles"), dict):
        raise doc.error((), "expected a mapping with a `roles:` mapping")
    unknown_top = set(doc.data) - {"roles"}
    if unknown_top:
        key = sorted(unknown_top)[0]
        raise doc.error((key,), f"unknown key {key!r} (expected only `roles`)")
    roles: dict[str, Role] = {}
    for name, body in doc.data["roles"].items():
        if name not in ROLES:
            raise doc.error(("roles", name), f"unknown role {name!r}; roles are {', '.join(ROLES)}")
        if not isinstance(body, dict) or not isinstance(body.get("permissions"), list):
            raise doc.error(("roles", name), f"role {name!r} needs a `permissions:` list")
        for i, perm in enumerate(body["permissions"]):
            if perm not in PERMISSIONS:
                raise doc.error(("roles", name, "permissions", i), f"unknown permission {perm!r} in role {name!r}")
        roles[name] = Role(name, str(body.get("description", "")), frozenset(body["permissions"]))
    return AccessPolicy(roles)


def _threshold(doc: _Doc, value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise doc.error(("thresholds", name), f"threshold {name!r} must be a number or null")
    return float(value)


def _load_identity(path: Path) -> IdentityPolicy:
    if not path.exists():
        return IdentityPolicy()
    doc = _Doc(path)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise doc.error((), "expected a mapping")
    for key in data:
        if key not in {"thresholds", "source_trust", "survivorship"}:
            raise doc.error((key,), f"unknown key {key!r} (expected thresholds, source_trust, survivorship)")
    thresholds = data.get("thresholds") or {}
    if not isinstance(thresholds, dict) or set(thresholds) - {"merge", "review"}:
        raise doc.error(("thresholds",), "`thresholds` takes only `merge` and `review`")
    merge = _threshold(doc, thresholds.get("merge"), "merge")
    review = _threshold(doc, thresholds.get("review"), "review")
    if merge is not None and review is not None and review > merge:
        raise doc.error(("thresholds", "review"), "the review threshold must not exceed the merge threshold")
    trust = data.get("source_trust") or []
    if not isinstance(trust, list) or not all(isinstance(t, str) for t in trust):
        raise doc.error(("source_trust",), "`source_trust` must be a list of source names")
    surv = data.get("survivorship") or {}
    if not isinstance(surv, dict):
        raise doc.error(("survivorship",), "`survivorship` must be a mapping")
    default = surv.get("default", "most_recent")
    if default not in SURVIVORSHIP_RULES:
        raise doc.error(
            ("survivorship", "default"), f"unknown rule {default!r}; rules are {', '.join(SURVIVORSHIP_RULES)}"
        )
    fields = surv.get("fields") or {}
    if not isinstance(fields, dict):
        raise doc.error(("survivorship", "fields"), "`fields` must map a golden field to a rule")
    for name, rule in fields.items():
        if name not in GOLDEN_FIELDS:
            raise doc.error(("survivorship", "fields", name), f"unknown golden field {name!r}")
        if rule not in SURVIVORSHIP_RULES:
            raise doc.error(
                ("survivorship", "fields", name), f"unknown rule {rule!r}; rules are {', '.join(SURVIVORSHIP_RULES)}"
            )
    return IdentityPolicy(merge, review, tuple(trust), default, dict(fields))


def _duration(doc: _Doc, at: tuple[Any, ...], value: object) -> Duration:
    if not isinstance(value, str):
        raise doc.error(at, "expected an ISO 8601 duration such as P24M or P30D")
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise doc.error(at, f"{value!r} is not an ISO 8601 duration (e.g. P24M, P30D, P6Y)") from exc
    if isinstance(parsed, isodate.Duration):
        months = int(parsed.years) * 12 + int(parsed.months)
        if parsed.years != int(parsed.years) or parsed.months != int(parsed.months):
            raise doc.error(at, f"{value!r}: use whole years and months")
        result = Duration(value, months, parsed.tdelta)
    else:
        result = Duration(value, 0, parsed)
    probe = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    if result.after(probe) <= probe:
        raise doc.error(at, f"{value!r}: a duration must be positive")
    return result


def _mapping(doc: _Doc, at: tuple[Any, ...], value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise doc.error(at, f"{what} must be a mapping")
    return value


def _strings(doc: _Doc, at: tuple[Any, ...], value: object, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise doc.error(at, "expected a list of strings")
    if allowed is not None:
        for i, v in enumerate(value):
            if v not in allowed:
                raise doc.error((*at, i), f"unknown value {v!r}; expected one of {', '.join(allowed)}")
    return tuple(value)


def _flag(doc: _Doc, at: tuple[Any, ...], value: object, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise doc.error(at, "expected true or false")
    return value


def _check_keys(doc: _Doc, at: tuple[Any, ...], body: dict[str, Any], allowed: set[str], what: str) -> None:
    for key in body:
        if key not in allowed:
            raise doc.error((*at, key), f"unknown key {key!r} in {what} (expected {', '.join(sorted(allowed))})")


_PURPOSE_KEYS = {
    "id", "title", "lawful_basis", "channels", "consent_required", "consent_types_accepted", "consent_validity",
    "direct_marketing", "sale_or_share", "profiling", "soft_opt_in_allowed", "retention", "recipients",
    "data_categories", "jurisdictions", "notices",
}  # fmt: skip
_NOTICE_KEYS = {"id", "version", "effective_from", "url", "text", "sha256", "language"}


def _notice(doc: _Doc, at: tuple[Any, ...], body: object) -> Notice:
    data = _mapping(doc, at, body, "a notice")
    _check_keys(doc, at, data, _NOTICE_KEYS, "a notice")
    for key in ("id", "version", "effective_from"):
        if data.get(key) in (None, ""):
            raise doc.error(at, f"a notice needs `{key}`")
    effective = data["effective_from"]
    if isinstance(effective, str):
        try:
            effective = dt.date.fromisoformat(effective)
        except ValueError:
            effective = None
    if not isinstance(effective, dt.date):
        raise doc.error((*at, "effective_from"), "effective_from must be a date (YYYY-MM-DD)")
    if not data.get("url") and not data.get("text"):
        raise doc.error(at, "a notice needs its `url` or its `text`")
    sha = data.get("sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise doc.error((*at, "sha256"), "sha256 must be 64 lowercase hex digits")
    text = data.get("text")
    if isinstance(text, str):
        # The hash of a notice given in full is its text's; one given by URL states the hash of the published text.
        of_text = hashlib.sha256(text.encode()).hexdigest()
        if sha is not None and sha != of_text:
            raise doc.error((*at, "sha256"), "sha256 is not the SHA-256 of the notice `text`")
        sha = of_text
    return Notice(
        id=str(data["id"]),
        version=str(data["version"]),
        effective_from=effective,
        url=data.get("url"),
        text=data.get("text"),
        sha256=sha,
        language=str(data.get("language", "en")),
    )


def _load_purposes(path: Path) -> tuple[dict[str, Purpose], _Doc | None]:
    if not path.exists():
        return {}, None
    doc = _Doc(path)
    data = _mapping(doc, (), doc.data if doc.data is not None else {}, "purposes.yaml")
    _check_keys(doc, (), data, {"version", "purposes"}, "purposes.yaml")
    items = data.get("purposes") or []
    if not isinstance(items, list):
        raise doc.error(("purposes",), "`purposes` must be a list")
    purposes: dict[str, Purpose] = {}
    for i, body in enumerate(items):
        at: tuple[Any, ...] = ("purposes", i)
        entry = _mapping(doc, at, body, "a purpose")
        _check_keys(doc, at, entry, _PURPOSE_KEYS, "a purpose")
        pid = entry.get("id")
        if not isinstance(pid, str) or not pid.replace("_", "").isalnum() or not pid.islower():
            raise doc.error((*at, "id"), "a purpose needs an `id` in snake_case")
        if pid in purposes:
            raise doc.error((*at, "id"), f"duplicate purpose id {pid!r}")
        basis = entry.get("lawful_basis")
        if basis not in LAWFUL_BASES:
            raise doc.error((*at, "lawful_basis"), f"lawful_basis must be one of {', '.join(LAWFUL_BASES)}")
        channels = _strings(doc, (*at, "channels"), entry.get("channels"), CHANNELS)
        if not channels:
            raise doc.error(
                (*at, "channels"), f"purpose {pid!r} needs `channels` (one or more of {', '.join(CHANNELS)})"
            )
        consent_required = _flag(doc, (*at, "consent_required"), entry.get("consent_required"), basis == "consent")
        validity = entry.get("consent_validity")
        notices = tuple(_notice(doc, (*at, "notices", j), n) for j, n in enumerate(entry.get("notices") or []))
        if basis == "consent" or consent_required:
            if validity is None:
                raise doc.error(at, f"consent purpose {pid!r} needs `consent_validity` (e.g. P24M)")
            if not notices:
                raise doc.error(at, f"consent purpose {pid!r} needs at least one notice (what people were told)")
        direct_marketing = _flag(doc, (*at, "direct_marketing"), entry.get("direct_marketing"), False)
        soft_opt_in = _flag(doc, (*at, "soft_opt_in_allowed"), entry.get("soft_opt_in_allowed"), False)
        if soft_opt_in and (basis != "legitimate_interest" or not direct_marketing):
            raise doc.error(
                (*at, "soft_opt_in_allowed"),
                f"purpose {pid!r}: soft_opt_in_allowed needs lawful_basis legitimate_interest and direct_marketing: "
                "true (PECR reg. 22(3) soft opt-in is not consent)",
            )
        accepted = _strings(
            doc, (*at, "consent_types_accepted"), entry.get("consent_types_accepted"), CONSENT_TYPES
        ) or (
            ("soft_opt_in", "expressed", "explicitly_expressed")
            if soft_opt_in
            else ("expressed", "explicitly_expressed")
        )
        if "soft_opt_in" in accepted and not soft_opt_in:
            raise doc.error(
                (*at, "consent_types_accepted"),
                f"purpose {pid!r} accepts soft_opt_in but does not declare soft_opt_in_allowed: true",
            )
        purposes[pid] = Purpose(
            id=pid,
            title=str(entry.get("title") or pid),
            lawful_basis=str(basis),
            channels=channels,
            consent_required=consent_required,
            consent_types_accepted=accepted,
            consent_validity=None if validity is None else _duration(doc, (*at, "consent_validity"), validity),
            direct_marketing=direct_marketing,
            soft_opt_in_allowed=soft_opt_in,
            sale_or_share=_flag(doc, (*at, "sale_or_share"), entry.get("sale_or_share"), False),
            profiling=_flag(doc, (*at, "profiling"), entry.get("profiling"), False),
            retention=entry.get("retention"),
            recipients=_strings(doc, (*at, "recipients"), entry.get("recipients")),
            data_categories=_strings(doc, (*at, "data_categories"), entry.get("data_categories")),
            jurisdictions=_strings(doc, (*at, "jurisdictions"), entry.get("jurisdictions")),
            notices=notices,
        )
    return purposes, doc


_RULE_KEYS = {"id", "description", "applies_to", "trigger", "keep_for", "action", "statutory"}


def _load_retention(path: Path) -> RetentionPolicy:
    if not path.exists():
        return RetentionPolicy()
    doc = _Doc(path)
    data = _mapping(doc, (), doc.data if doc.data is not None else {}, "retention.yaml")
    _check_keys(doc, (), data, {"version", "rules", "exemptions"}, "retention.yaml")
    rules: list[RetentionRule] = []
    items = data.get("rules") or []
    if not isinstance(items, list):
        raise doc.error(("rules",), "`rules` must be a list")
    for i, body in enumerate(items):
        at: tuple[Any, ...] = ("rules", i)
        entry = _mapping(doc, at, body, "a retention rule")
        _check_keys(doc, at, entry, _RULE_KEYS, "a retention rule")
        rid = entry.get("id")
        if not isinstance(rid, str) or not rid:
            raise doc.error(at, "a retention rule needs an `id`")
        if any(r.id == rid for r in rules):
            raise doc.error((*at, "id"), f"duplicate retention rule id {rid!r}")
        applies = _mapping(doc, (*at, "applies_to"), entry.get("applies_to"), "applies_to")
        _check_keys(doc, (*at, "applies_to"), applies, {"table", "where"}, "applies_to")
        target = applies.get("table")
        if target in ("audit_log", "suppression"):
            raise doc.error((*at, "applies_to", "table"), f"no retention rule may delete the {target} table")
        if target not in RETENTION_TARGETS:
            raise doc.error(
                (*at, "applies_to", "table"),
                f"unknown table {target!r}; expected one of {', '.join(RETENTION_TARGETS)}",
            )
        where: dict[str, tuple[str, ...] | bool] = {}
        raw_where = applies.get("where") or {}
        for key, value in _mapping(doc, (*at, "applies_to", "where"), raw_where, "where").items():
            if key not in _WHERE_KEYS[target]:
                raise doc.error(
                    (*at, "applies_to", "where", key),
                    f"unknown filter {key!r} for {target}; expected {', '.join(_WHERE_KEYS[target])}",
                )
            if key == "unconsented":
                where[key] = _flag(doc, (*at, "applies_to", "where", key), value, False)
            else:
                where[key] = _strings(
                    doc, (*at, "applies_to", "where", key), value if isinstance(value, list) else [value]
                )
        trigger = _mapping(doc, (*at, "trigger"), entry.get("trigger"), "trigger")
        _check_keys(doc, (*at, "trigger"), trigger, {"since", "event_type"}, "trigger")
        since = trigger.get("since")
        if since not in RETENTION_TRIGGERS:
            raise doc.error(
                (*at, "trigger", "since"), f"unknown trigger {since!r}; expected one of {', '.join(RETENTION_TRIGGERS)}"
            )
        if since not in _TRIGGERS_FOR[target]:
            raise doc.error(
                (*at, "trigger", "since"),
                f"trigger {since!r} does not apply to {target}; use {', '.join(_TRIGGERS_FOR[target])}",
            )
        if since == "relationship_ended" and not trigger.get("event_type"):
            raise doc.error((*at, "trigger"), "trigger relationship_ended needs `event_type` (e.g. contract_ended)")
        action = entry.get("action")
        if action not in RETENTION_ACTIONS:
            raise doc.error(
                (*at, "action"), f"unknown action {action!r}; expected one of {', '.join(RETENTION_ACTIONS)}"
            )
        if action not in _ACTIONS_FOR[target]:
            raise doc.error(
                (*at, "action"), f"action {action!r} does not apply to {target}; use {', '.join(_ACTIONS_FOR[target])}"
            )
        if "keep_for" not in entry:
            raise doc.error(at, f"retention rule {rid!r} needs `keep_for` (an ISO 8601 duration)")
        rules.append(
            RetentionRule(
                id=rid,
                description=str(entry.get("description", "")),
                target=str(target),
                trigger=str(since),
                keep_for=_duration(doc, (*at, "keep_for"), entry["keep_for"]),
                action=str(action),
                where=where,
                event_type=trigger.get("event_type"),
                statutory=_flag(doc, (*at, "statutory"), entry.get("statutory"), False),
            )
        )
    exemptions = data.get("exemptions")
    respected: tuple[str, ...] = RETENTION_EXEMPTIONS
    if exemptions is not None:
        body = _mapping(doc, ("exemptions",), exemptions, "exemptions")
        _check_keys(doc, ("exemptions",), body, {"respect"}, "exemptions")
        respected = _strings(doc, ("exemptions", "respect"), body.get("respect"), RETENTION_EXEMPTIONS)
    return RetentionPolicy(tuple(rules), respected)


def load_policies(directory: Path) -> Policies:
    if not directory.is_dir():
        raise PolicyError(directory, None, "policies directory does not exist")
    purposes, purposes_doc = _load_purposes(directory / "purposes.yaml")
    retention = _load_retention(directory / "retention.yaml")
    if purposes_doc is not None:
        for i, purpose in enumerate(purposes.values()):
            if purpose.retention is not None and retention.rule(purpose.retention) is None:
                raise purposes_doc.error(
                    ("purposes", i, "retention"),
                    f"unknown retention rule {purpose.retention!r} (not in retention.yaml)",
                )
    return Policies(
        directory=directory,
        access=_load_access(directory / "access.yaml"),
        identity=_load_identity(directory / "identity.yaml"),
        purposes=purposes,
        retention=retention,
        forms=_load_forms(directory / "forms.yaml", purposes),
        requests=_load_requests(directory / "requests.yaml"),
    )


FORM_CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "company", "job_title", "country", "city")


@dataclass(frozen=True)
class FormConsent:
    """A checkbox: ticked (present in the body) grants `purpose` on `channel` under the notice shown."""

    field: str
    purpose: str
    notice_id: str
    notice_version: str
    channel: str = "email"


@dataclass(frozen=True)
class WebForm:
    """A plain HTML form posted to POST /v1/forms/{id} (policies/forms.yaml)."""

    id: str
    fields: dict[str, str]  # form field name -> ContactRecord field
    consents: tuple[FormConsent, ...] = ()
    required: tuple[str, ...] = ("email",)  # ContactRecord fields that must be filled
    honeypot: str | None = None
    max_fields: int = 30
    max_bytes: int = 16_384
    event_properties: tuple[str, ...] = ()  # form fields copied to the form_submitted event (never personal data)


_FORM_KEYS = {"id", "fields", "consents", "required", "honeypot", "max_fields", "max_bytes", "event_properties"}
_FORM_CONSENT_KEYS = {"field", "purpose", "notice_id", "notice_version", "channel"}


def _positive_int(doc: _Doc, at: tuple[Any, ...], value: object, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise doc.error(at, "expected a positive integer")
    return value


def _form_consent(doc: _Doc, at: tuple[Any, ...], body: object, purposes: dict[str, Purpose]) -> FormConsent:
    data = _mapping(doc, at, body, "a form consent")
    _check_keys(doc, at, data, _FORM_CONSENT_KEYS, "a form consent")
    for key in ("field", "purpose", "notice_id", "notice_version"):
        if data.get(key) in (None, ""):
            raise doc.error(at, f"a form consent needs `{key}`")
    purpose = purposes.get(str(data["purpose"]))
    if purposes and purpose is None:
        raise doc.error((*at, "purpose"), f"unknown purpose {data['purpose']!r} (not in purposes.yaml)")
    notice = (str(data["notice_id"]), str(data["notice_version"]))
    if purpose is not None and notice not in {(n.id, n.version) for n in purpose.notices}:
        raise doc.error((*at, "notice_version"), f"notice {notice[0]} v{notice[1]} is not a notice of {purpose.id}")
    channel = data.get("channel", "email")
    if channel not in ("email", "phone", "any"):
        raise doc.error((*at, "channel"), "channel must be one of email, phone, any")
    return FormConsent(str(data["field"]), str(data["purpose"]), notice[0], notice[1], str(channel))


def _load_forms(path: Path, purposes: dict[str, Purpose]) -> dict[str, WebForm]:
    if not path.exists():
        return {}
    doc = _Doc(path)
    data = _mapping(doc, (), doc.data if doc.data is not None else {}, "forms.yaml")
    _check_keys(doc, (), data, {"version", "forms"}, "forms.yaml")
    items = data.get("forms") or []
    if not isinstance(items, list):
        raise doc.error(("forms",), "`forms` must be a list")
    forms: dict[str, WebForm] = {}
    for i, body in enumerate(items):
        at: tuple[Any, ...] = ("forms", i)
        entry = _mapping(doc, at, body, "a form")
        _check_keys(doc, at, entry, _FORM_KEYS, "a form")
        fid = entry.get("id")
        if not isinstance(fid, str) or not fid or not all(c.isalnum() or c in "-_" for c in fid):
            raise doc.error((*at, "id"), "a form needs an `id` of letters, digits, - and _")
        if fid in forms:
            raise doc.error((*at, "id"), f"duplicate form id {fid!r}")
        fields = _mapping(doc, (*at, "fields"), entry.get("fields") or {}, "`fields`")
        for name, target in fields.items():
            if target not in FORM_CONTACT_FIELDS:
                raise doc.error(
                    (*at, "fields", name),
                    f"unknown contact field {target!r}; expected {', '.join(FORM_CONTACT_FIELDS)}",
                )
        consents = entry.get("consents") or []
        if not isinstance(consents, list):
            raise doc.error((*at, "consents"), "`consents` must be a list")
        honeypot = entry.get("honeypot")
        if honeypot is not None and not isinstance(honeypot, str):
            raise doc.error((*at, "honeypot"), "honeypot must be a field name")
        forms[fid] = WebForm(
            id=fid,
            fields={str(k): str(v) for k, v in fields.items()},
            consents=tuple(_form_consent(doc, (*at, "consents", j), c, purposes) for j, c in enumerate(consents)),
            required=_strings(doc, (*at, "required"), entry.get("required", ["email"]), FORM_CONTACT_FIELDS),
            honeypot=honeypot,
            max_fields=_positive_int(doc, (*at, "max_fields"), entry.get("max_fields"), 30),
            max_bytes=_positive_int(doc, (*at, "max_bytes"), entry.get("max_bytes"), 16_384),
            event_properties=_strings(doc, (*at, "event_properties"), entry.get("event_properties")),
        )
    return forms


REQUEST_TYPES = ("access", "erasure", "restriction", "rectification", "objection")
DEADLINE_RULES = ("gdpr", "ccpa")


@dataclass(frozen=True)
class Jurisdiction:
    """How a jurisdiction counts a privacy request's deadline (COMPLIANCE 1.3-1.4)."""

    id: str
    rule: str = "gdpr"  # gdpr: one month, +2 on extension; ccpa: ack in 10 business days, 45 days, 90 at most
    holidays: frozenset[dt.date] = frozenset()


@dataclass(frozen=True)
class RequestsPolicy:
    """policies/requests.yaml: deadlines per jurisdiction and which request types need a second approver."""

    default_jurisdiction: str = "EU"
    approval_required: tuple[str, ...] = ()
    jurisdictions: dict[str, Jurisdiction] = field(default_factory=lambda: {"EU": Jurisdiction("EU")})

    def jurisdiction(self, name: str | None) -> Jurisdiction | None:
        return self.jurisdictions.get(name or self.default_jurisdiction)


def _load_requests(path: Path) -> RequestsPolicy:
    if not path.exists():
        return RequestsPolicy()
    doc = _Doc(path)
    data = _mapping(doc, (), doc.data if doc.data is not None else {}, "requests.yaml")
    _check_keys(
        doc, (), data, {"version", "default_jurisdiction", "approval_required", "jurisdictions"}, "requests.yaml"
    )
    approval = _strings(doc, ("approval_required",), data.get("approval_required"), REQUEST_TYPES)
    jurisdictions: dict[str, Jurisdiction] = {}
    raw = _mapping(doc, ("jurisdictions",), data.get("jurisdictions") or {}, "jurisdictions")
    for name, body in raw.items():
        at: tuple[Any, ...] = ("jurisdictions", name)
        entry = _mapping(doc, at, body if body is not None else {}, "a jurisdiction")
        _check_keys(doc, at, entry, {"rule", "holidays"}, "a jurisdiction")
        rule = entry.get("rule", "gdpr")
        if rule not in DEADLINE_RULES:
            raise doc.error(
                (*at, "rule"), f"unknown deadline rule {rule!r}; expected one of {', '.join(DEADLINE_RULES)}"
            )
        holidays: set[dt.date] = set()
        for i, day in enumerate(entry.get("holidays") or []):
            if isinstance(day, str):
                try:
                    day = dt.date.fromisoformat(day)
                except ValueError:
                    day = None
            if not isinstance(day, dt.date):
                raise doc.error((*at, "holidays", i), "a holiday is a date (YYYY-MM-DD)")
            holidays.add(day)
        jurisdictions[str(name)] = Jurisdiction(str(name), str(rule), frozenset(holidays))
    if not jurisdictions:
        jurisdictions = {"EU": Jurisdiction("EU")}
    default = str(data.get("default_jurisdiction") or next(iter(jurisdictions)))
    if default not in jurisdictions:
        raise doc.error(("default_jurisdiction",), f"default_jurisdiction {default!r} is not under `jurisdictions`")
    return RequestsPolicy(default, approval, jurisdictions)
