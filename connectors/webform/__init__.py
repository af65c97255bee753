"""Web forms: a plain HTML form POSTed to POST /v1/forms/{form_id} (CONNECTORS.md §7.1-7.2).

Not a signed webhook, so it registers no `WebhookSource`; the route in `cdp.api.routes.forms` reads the body
and this package maps it, using the form definitions in policies/forms.yaml.
"""

from connectors.webform.mapping import SOURCE, Proof, map_submission, parse_body

__all__ = ["SOURCE", "Proof", "map_submission", "parse_body"]
