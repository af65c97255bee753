"""Typeform `form_response` -> one ContactRecord, matching answers to questions by `field.ref`.

A ticked consent question (`legal` or `yes_no`) becomes a `granted` consent event whose proof is the SHA-256 of
the signed body (which holds the question title: the wording the person saw); the catalog supplies the notice
in force; an unticked or absent one records
nothing (never infer a refusal from absence). The submission itself is a `form_submitted` event.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

SOURCE = "typeform"
CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "company", "job_title", "country", "city")


@dataclass(frozen=True)
class FieldMap:
    """Which question `ref` fills which ContactRecord field, and which consent question grants which purpose."""

    contact: dict[str, str] = field(
        default_factory=lambda: {
            "email": "email",
            "phone": "phone",
            "phone_number": "phone",
            "first_name": "first_name",
            "last_name": "last_name",
            "company": "company",
            "job_title": "job_title",
            "country": "country",
            "city": "city",
        }
    )
    consents: dict[str, str] = field(
        default_factory=lambda: {
            "consent_marketing_email": "email_marketing",
            "consent_sales_contact": "sales_outreach",
        }
    )
    consent_channel: dict[str, str] = field(default_factory=dict)  # ref -> "phone" | "any"; default "email"


def _answer_value(answer: dict[str, Any]) -> Any:
    kind = answer.get("type")
    if kind == "choice":
        return (answer.get("choice") or {}).get("label")
    if kind == "choices":
        return (answer.get("choices") or {}).get("labels")
    return answer.get(str(kind)) if kind else None


def map_response(payload: dict[str, Any], raw_body: bytes, field_map: FieldMap) -> dict[str, Any]:
    response = payload["form_response"]
    if not isinstance(response, dict):
        raise ValueError("form_response must be an object")
    event_id = str(payload.get("event_id") or response["token"])
    token = str(response["token"])
    submitted_at = str(response["submitted_at"])
    form_id = str(response.get("form_id", ""))
    body_sha256 = hashlib.sha256(raw_body).hexdigest()

    record: dict[str, Any] = {"source": SOURCE, "external_id": f"response:{token}", "observed_at": submitted_at}
    attributes: dict[str, Any] = {}
    consents: list[dict[str, Any]] = []
    for answer in response.get("answers", []):
        ref = (answer.get("field") or {}).get("ref")
        value = _answer_value(answer)
        if not ref or value is None:
            continue
        if ref in field_map.consents:
            if answer.get("type") == "boolean" and value is True:
                consents.append(
                    {
                        "purpose": field_map.consents[ref],
                        "status": "granted",
                        "occurred_at": submitted_at,
                        "channel": field_map.consent_channel.get(ref, "email"),
                        "method": "web_form",
                        "consent_type": "expressed",
                        "indicated_by": "data_subject",
                        "external_id": f"typeform:{token}:{ref}",
                        "proof": {"payload_sha256": body_sha256},
                    }
                )
            continue
        target = field_map.contact.get(ref)
        if target in CONTACT_FIELDS and isinstance(value, str):
            record[target] = value
        else:
            attributes[f"typeform_{ref}"] = value
    hidden = response.get("hidden") or {}
    if isinstance(hidden, dict):
        attributes.update({f"hidden_{k}": v for k, v in hidden.items() if isinstance(v, str | int | float | bool)})
    record["attributes"] = attributes
    record["consents"] = consents
    record["events"] = [
        {
            "type": "form_submitted",
            "occurred_at": submitted_at,
            "external_id": f"typeform:{event_id}",
            "properties": {"form_id": form_id, "response_token": token, "landed_at": response.get("landed_at")},
        }
    ]
    return record
