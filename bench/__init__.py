"""Benchmarks for cdp (not shipped with the package)."""
