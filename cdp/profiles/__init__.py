"""Profiles and what hangs off them: identities, source records and timeline events."""
