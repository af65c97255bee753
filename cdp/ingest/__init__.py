"""The one way in: ContactRecord, per-row validation, quarantine and `ingest_batch`."""
