"""Log lines: one JSON object per line (or a line of text for people), each carrying the
request it was written in.

What a line may carry is fixed here: the message, the current request's id, client id,
purpose, operation and outcome, and the request log line's own fields. Never personal
data, a query string, a token or a header. An exception is written as its type and the
places it passed through, without its message: database errors quote the values of the
statement that failed.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

from hub.config import Settings
from hub.observability.request import current

FORMATS = ("json", "text")
# Fields a log call may pass in `extra` (the request log line's); anything else is dropped.
EXTRA_FIELDS = ("method", "path", "route", "status", "latency_ms", "protocol")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    info = current()
    if info is not None:
        out.update(info.fields())
    for key in EXTRA_FIELDS:
        value = record.__dict__.get(key)
        if value is not None:
            out[key] = value
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        out["trace_id"] = format(span.trace_id, "032x")
    if record.exc_info and record.exc_info[0] is not None:
        kind, _exc, tb = record.exc_info
        out["error"] = kind.__name__
        out["stack"] = [
            f"{frame.filename}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(tb)[-10:]
        ]
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The same fields, for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        f = _fields(record)
        head = f"{f.pop('time')} {f.pop('level'):<7} {f.pop('logger')}: {f.pop('message')}"
        stack = f.pop("stack", None)
        line = " ".join([head, *(f"{k}={v}" for k, v in f.items())])
        return line + ("\n  " + "\n  ".join(stack) if stack else "")


class DropUvicornWebSocketLines(logging.Filter):
    """uvicorn logs each WebSocket handshake with the client's address and the URL's query
    string (where some clients put tokens); the hub's request middleware logs the
    connection instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and '"WebSocket ' in record.msg)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"HUB_LOG_FORMAT must be one of {', '.join(FORMATS)}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route every logger (the hub's, uvicorn's, aiokafka's) to one handler on stderr."""
    level = settings.log_level.upper()
    if level not in LEVELS:
        raise ValueError(f"HUB_LOG_LEVEL must be one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(DropUvicornWebSocketLines())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # uvicorn's access log writes the URL with its query string: the hub writes its own.
    logging.getLogger("uvicorn.access").disabled = True
    # Statements and their parameters may hold personal data: never at HUB_LOG_LEVEL=DEBUG
    # (HUB_SQL_ECHO turns SQLAlchemy's own echo on, deliberately, for a developer).
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
