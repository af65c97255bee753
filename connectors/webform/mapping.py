"""A web form submission -> one ContactRecord, following the form's definition in policies/forms.yaml.

An unticked checkbox sends nothing (HTML "successful controls"), so a consent box present with any non-empty
value is a `granted` consent under the notice the form showed; an absent one records nothing (never infer a
refusal from absence). Proof: IP, User-Agent, the page (Referer or Origin) and the SHA-256 of the raw body.
Fields the definition does not list are dropped.
"""

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cdp.policies import WebForm

SOURCE = "webform"
FORM_MEDIA = "application/x-www-form-urlencoded"
JSON_MEDIA = "application/json"


class TooManyFields(ValueError):
    """The body has more fields than the form allows."""


@dataclass(frozen=True)
class Proof:
    ip: str | None
    user_agent: str | None
    page_url: str | None
    payload_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip[:64] if self.ip else None,
            "user_agent": self.user_agent[:512] if self.user_agent else None,
            "page_url": self.page_url[:2048] if self.page_url else None,
            "payload_sha256": self.payload_sha256,
        }


def body_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_body(media_type: str, raw: bytes, max_fields: int) -> dict[str, str]:
    """The submitted fields (the last value wins for a repeated name). Raises ValueError if unreadable."""
    if media_type == FORM_MEDIA:
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
        except ValueError as exc:
            if "Max number of fields" in str(exc):
                raise TooManyFields(str(max_fields)) from exc
            raise
        return dict(pairs)
    if media_type == JSON_MEDIA:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a JSON submission must be an object")
        if len(data) > max_fields:
            raise TooManyFields(str(max_fields))
        fields: dict[str, str] = {}
        for key, value in data.items():
            if isinstance(value, bool):
                if value:
                    fields[key] = "on"  # a ticked box; false is an unticked box: absent
            elif isinstance(value, str | int | float):
                fields[key] = str(value)
            elif value is not None:
                raise ValueError("JSON submission values must be strings, numbers or booleans")
        return fields
    raise ValueError(f"unsupported media type {media_type!r}")


def missing_required(form: WebForm, fields: dict[str, str]) -> list[str]:
    """Required contact fields the submission left empty (field names only)."""
    filled = {target for name, target in form.fields.items() if fields.get(name, "").strip()}
    return [name for name in form.required if name not in filled]


def map_submission(
    form: WebForm,
    fields: dict[str, str],
    *,
    submission_id: uuid.UUID,
    received_at: dt.datetime,
    proof: Proof,
) -> dict[str, Any]:
    at = received_at.isoformat()
    record: dict[str, Any] = {"source": SOURCE, "external_id": f"submission:{submission_id}", "observed_at": at}
    for name, target in form.fields.items():
        value = fields.get(name, "").strip()
        if value:
            record[target] = value
    record["consents"] = [
        {
            "purpose": box.purpose,
            "status": "granted",
            "occurred_at": at,
            "channel": box.channel,
            "method": "web_form",
            "consent_type": "explicitly_expressed",
            "indicated_by": "data_subject",
            "notice_id": box.notice_id,
            "notice_version": box.notice_version,
            "external_id": f"webform:{submission_id}:{box.field}",
            "proof": proof.as_dict(),
        }
        for box in form.consents
        if fields.get(box.field, "").strip()
    ]
    properties: dict[str, Any] = {"form": form.id, "submission_id": str(submission_id)}
    properties.update({name: fields[name][:256] for name in form.event_properties if fields.get(name)})
    record["events"] = [
        {
            "type": "form_submitted",
            "occurred_at": at,
            "external_id": f"webform:{submission_id}",
            "properties": properties,
        }
    ]
    return record
