"""Log output of ``biovault serve``: human-readable text or one JSON object per line.

JSON lines are for log shippers: every record has ``time`` (UTC, ISO 8601),
``level``, ``logger`` and ``message``, plus the structured fields the code passed
as ``extra=`` (the access log's ``rpc``, ``code`` and ``ms``). The rule of the
metrics holds here too: no subject id, score or template is ever logged - the
messages come from code that logs counts, collection names and error classes,
and the error boundary withholds messages of unexpected exceptions.
"""

from __future__ import annotations

import json
import logging
from typing import Final

from vault.cli.common import rfc3339

__all__ = ["LOG_FORMATS", "JsonLineFormatter", "configure_logging"]

LOG_FORMATS: Final = ("text", "json")
_TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Everything a LogRecord carries by itself; any other attribute came in via extra=.
_STANDARD_FIELDS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, with the record's ``extra=`` fields as keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_FIELDS and not key.startswith("_"):
                line[key] = value if isinstance(value, int | float | str | bool) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, log_format: str) -> None:
    """Send the process's logs to stderr at ``level`` in ``log_format`` (text or json)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
