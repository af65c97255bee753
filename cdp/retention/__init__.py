"""Retention rules from policies/retention.yaml: preview, sweeps and holds."""
