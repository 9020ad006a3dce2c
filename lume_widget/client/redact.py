"""A logging filter that keeps secrets out of log records (tokens, API keys, bearer headers)."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "redact", "redacted_logger"]

_PATTERNS = (
    (re.compile(r"(?i)((?:access_|refresh_)?token=)[^&\s'\"]+"), r"\1***"),
    (re.compile(r"(?i)(authorization:\s*bearer\s+)[^\s'\"]+"), r"\1***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1***"),
    (re.compile(r"(?i)(x-api-key:\s*)[^\s'\"]+"), r"\1***"),
    (re.compile(r"(?i)(x-admin-token:\s*)[^\s'\"]+"), r"\1***"),
    (
        re.compile(r"(?i)(['\"](?:x-api-key|authorization|x-admin-token)['\"]:\s*['\"])[^'\"]+"),
        r"\1***",
    ),
)


def redact(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` (arguments are merged first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as it is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = RedactingFilter()


def redacted_logger(name: str) -> logging.Logger:
    """A logger carrying the redacting filter (added once)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
