"""The suppression list: keyed HMACs of identifiers that must never come back (compliance store)."""
