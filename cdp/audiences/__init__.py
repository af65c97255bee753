"""Audiences: who marketing may reach for a purpose, and the one way out to destinations."""
