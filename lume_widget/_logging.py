"""Where lume_widget's log records go: to the ``logging`` system, never on their own to stderr.

A library should not print: without a handler of its own, Python's last-resort handler
writes every warning to stderr, which in a notebook is a red line in whatever cell ran last,
saved with the notebook. The package's logger therefore has a ``NullHandler``, so records
reach only the handlers the user set up (``logging.basicConfig(...)`` and the like, through
propagation to the root logger) or the one :func:`log_to_notebook` adds.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["LOGGER_NAME", "log_to_notebook"]

LOGGER_NAME = "lume_widget"
_FORMAT = "%(levelname)s %(name)s: %(message)s"

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

_handler: logging.Handler | None = None


def log_to_notebook(
    level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Show lume_widget's log records at ``level`` and above in the output of the cell running.

    Calling it again replaces the earlier handler (a new level, say). Records are written to
    ``stream`` (default: stderr). Returns the handler, so it can be removed with
    ``logging.getLogger("lume_widget").removeHandler(handler)``.
    """
    global _handler
    logger = logging.getLogger(LOGGER_NAME)
    if _handler is not None:
        logger.removeHandler(_handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(level)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > handler.level:
        logger.setLevel(handler.level)
    _handler = handler
    return handler
