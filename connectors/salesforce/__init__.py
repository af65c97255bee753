"""Salesforce: Contacts and Leads pulled by SOQL (REST or Bulk API 2.0), incremental on `SystemModstamp`, with
deletions, the Individual privacy flags and ContactPointTypeConsent (CONNECTORS.md §3)."""

from cdp.connectors import register
from connectors.salesforce.mapping import Options
from connectors.salesforce.source import SalesforcePull, SyncOptions

SOURCE = register(SalesforcePull())

__all__ = ["SOURCE", "Options", "SalesforcePull", "SyncOptions"]
