"""The session core loads no I/O library: it can run anywhere and be tested with fake time."""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_no_network_or_widget_library() -> None:
    code = (
        "import sys\n"
        "import lume_widget.core.session, lume_widget.core.wire, lume_widget.core.transcript\n"
        "import lume_widget.core.backoff, lume_widget.core.events, lume_widget.core.errors_map\n"
        "bad = [m for m in ('httpx', 'websockets', 'traitlets', 'anywidget', 'asyncio', 'socket')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
