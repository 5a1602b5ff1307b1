"""Logs as one JSON object a line, for log collectors (LOG_FORMAT=json)."""

import json
import logging
import os
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def project_logging() -> dict:
    """The project's LOGGING, for a server that configures logging before it loads the application."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    from django.conf import settings

    return settings.LOGGING
