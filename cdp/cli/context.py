"""Shared CLI plumbing: settings, the runtime, and a unit of work per command.

Imports are deferred to the call so `cdp --help` does not pay for SQLAlchemy, pydantic or cryptography.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cdp.bootstrap import Runtime
    from cdp.settings import Settings


def settings() -> "Settings":
    from cdp.logs import configure_logging
    from cdp.settings import get_settings

    s = get_settings()
    configure_logging(s.log_level, s.log_format)
    return s


@contextmanager
def runtime() -> Iterator["Runtime"]:
    from cdp.bootstrap import open_runtime

    rt = open_runtime(settings())
    if rt.created_key_file is not None:
        typer.echo(f"created key file {rt.created_key_file} (mode 0600): back it up apart from the databases", err=True)
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def session() -> Iterator[tuple["Runtime", "Session"]]:
    from cdp.db import unit_of_work

    with runtime() as rt, unit_of_work(rt.stores) as s:
        yield rt, s
