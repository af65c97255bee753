"""A CSV file destination: the audience's current members in one file, for tools fed by manual upload."""

from cdp.connectors import register
from connectors.csvfile.destination import CsvFileDestination

DESTINATION = register(CsvFileDestination())

__all__ = ["DESTINATION", "CsvFileDestination"]
