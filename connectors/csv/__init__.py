"""CSV export files of HubSpot and Mailchimp (CONNECTORS.md §9) and any CSV with a column mapping.

Files are read by `cdp.ingest.tabular.read_rows`, the one CSV -> ContactRecord path `cdp import` uses; this
package holds the presets that bind a tool's export header to it. Not a registry connector: a file has no
cursor to resume and keeps the source of the tool that exported it (`hubspot`, `mailchimp`).
"""

from connectors.csv.presets import PRESETS, Preset, get_preset

__all__ = ["PRESETS", "Preset", "get_preset"]
