"""Log lines an operator can read and a log shipper can parse: [logging] in config.toml.

Our own loggers (bot, payments, storage) log at `level`, everything else (aiohttp, aiosqlite,
PTB, APScheduler, Alembic) at `libraries`, so `-v` shows our DEBUG lines and not a library's
every byte. Each line carries what it happened in: the HTTP request's id (bot/request_id.py
sets it, from X-Request-Id when the caller sent one) and the scheduler job's name
(bot/scheduler.py). `format = "json"` writes one JSON object per line with the same fields.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from bot.config.sections import Logging

OURS: Final = ("bot", "payments", "storage", "aiohttp.access")  # the access log is ours too
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
JOB: ContextVar[str | None] = ContextVar("job", default=None)
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"


class ContextFilter(logging.Filter):
    """Adds `request_id`, `job` and, for the text format, `context` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        job = getattr(record, "job", None) or JOB.get()
        record.request_id, record.job = request_id, job
        parts = [f"request={request_id}"] if request_id else []
        parts += [f"job={job}"] if job else []
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and the context."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job"):
            value = getattr(record, key, None)
            if value:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so a second setup replaces it."""


def setup_logging(section: Logging | None, verbose: int = 0) -> None:
    """Install one handler on the root logger; `verbose` (the CLI's -v count) wins over the
    section's levels: 1 for our DEBUG lines, 2 for everyone's."""
    level = section.level if section else "INFO"
    libraries = section.libraries if section else "WARNING"
    if verbose >= 1:
        level = "DEBUG"
    if verbose >= 2:
        libraries = "DEBUG"
    handler = _OurHandler(sys.stderr)
    json_format = section is not None and section.format == "json"
    handler.setFormatter(JsonFormatter() if json_format else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(libraries)
    for name in OURS:
        logging.getLogger(name).setLevel(level)


def quiet(level: int = logging.WARNING) -> None:
    """Only warnings and worse from anyone: the demo, whose output is the chat."""
    logging.getLogger().setLevel(level)
    for name in OURS:
        logging.getLogger(name).setLevel(level)
