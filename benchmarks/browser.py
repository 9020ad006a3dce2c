"""Browser figures of the front end, measured in Debian's chromium through Playwright (filled in with the harness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import Row, Skip
from benchmarks.context import Context

ROOT = Path(__file__).resolve().parent.parent
HARNESS_DIR = ROOT / "tests" / "browser"


async def measure_browser(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    if not HARNESS_DIR.is_dir():
        raise Skip("the front end's browser harness (tests/browser/) is not in the tree yet")
    raise Skip("the browser harness is present but not wired into the benchmark yet")
