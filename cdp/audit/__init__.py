"""The append-only, hash-chained audit log: who did what to which resource, never with personal data."""
