"""Logging set-up: event-name messages with key=value or JSON context, and nothing personal in them."""

import json
import logging
import sys
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        base: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **extra,
        }
        if record.exc_info and record.exc_info[0] is not None:
            # The exception class only: messages and locals may carry personal data.
            base["exc"] = record.exc_info[0].__name__
        if self.fmt == "json":
            return json.dumps(base, default=str)
        return " ".join(f"{k}={v}" for k, v in base.items())


def configure_logging(level: str = "INFO", fmt: str = "kv") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_cdp", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(fmt))
    handler._cdp = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
