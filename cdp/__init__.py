"""cdp: a consent-aware customer data platform."""

__version__ = "0.1.0"
