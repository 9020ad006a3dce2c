"""Where log records go: the logging system only, a cell's stderr only when asked."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import lume_widget


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )


def test_logging_warning_prints_nothing_without_a_handler() -> None:
    done = _run(
        "import logging, lume_widget\n"
        "logging.getLogger('lume_widget.widget.chat').warning('closing did not finish')\n"
    )
    assert done.stderr == ""


def test_logging_standard_setup_still_shows_records() -> None:
    done = _run(
        "import logging, lume_widget\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "logging.getLogger('lume_widget.client').info('opened consultation c1')\n"
    )
    assert "opened consultation c1" in done.stderr


def test_logging_log_to_notebook_shows_records_and_replaces_its_handler() -> None:
    logger = logging.getLogger("lume_widget")
    first = io.StringIO()
    second = io.StringIO()
    handler = lume_widget.log_to_notebook("WARNING", stream=first)
    try:
        logging.getLogger("lume_widget.widget").warning("the chat could not connect")
        handler = lume_widget.log_to_notebook(logging.INFO, stream=second)
        logging.getLogger("lume_widget.widget").info("chat opened consultation c2")
        assert "the chat could not connect" in first.getvalue()
        assert "c2" not in first.getvalue()
        assert "INFO lume_widget.widget: chat opened consultation c2" in second.getvalue()
        assert sum(isinstance(h, logging.StreamHandler) for h in logger.handlers) == 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
