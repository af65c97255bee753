"""The consent ledger (append-only events) and the consent state derived from it."""
