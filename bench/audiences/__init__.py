"""Audience sync benchmark: plan, first sync, no-op re-sync and a withdrawal round against a local fake."""
