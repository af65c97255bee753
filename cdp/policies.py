"""Loading and checking the declarative policy files in `policies/` (purposes, retention, access).

Errors name the file, the line and the problem in one line, so `cdp policies check` and server start
can refuse a bad file without a traceback.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
class Policies:
    directory: Path
    access: AccessPolicy
    identity: IdentityPolicy = field(default_factory=IdentityPolicy)


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


def load_policies(directory: Path) -> Policies:
    if not directory.is_dir():
        raise PolicyError(directory, None, "policies directory does not exist")
    return Policies(
        directory=directory,
        access=_load_access(directory / "access.yaml"),
        identity=_load_identity(directory / "identity.yaml"),
    )
