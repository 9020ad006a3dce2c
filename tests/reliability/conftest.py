"""Fixtures and options of the reliability suite (tests/reliability).

- ``--run-slow`` (declared in the root conftest, so it works from anywhere) or
  ``LUME_RUN_SLOW=1`` runs the long soak variants marked ``slow``; they are skipped otherwise
  so the default suite stays within a few minutes on two cores.
- Every timing of these tests is multiplied by ``LUME_TEST_TIME_SCALE`` (the root conftest's
  ``time_scale`` fixture); client timings are the defaults of PROTOCOL A3 shrunk by
  ``CLIENT_TIME_FACTOR`` times that scale, so no timeout is tuned on its own.

The reference server itself comes from the root conftest (``reference_server``,
``reference_server_factory``, ``api``, ``api_factory``); nothing here starts another kind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

CLIENT_TIME_FACTOR = 0.05
"""Client timings in these tests are the production defaults times this (and the time scale)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    # If another conftest already defines the option, share that one.
    with contextlib.suppress(ValueError):
        parser.addoption(
            "--run-slow",
            action="store_true",
            default=False,
            help="also run the long soak variants (tests marked slow)",
        )


def run_slow(config: pytest.Config) -> bool:
    option = False
    try:
        option = bool(config.getoption("--run-slow"))
    except ValueError:
        option = False
    return option or os.environ.get("LUME_RUN_SLOW", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if run_slow(config):
        return
    skip = pytest.mark.skip(reason="soak variant: run with --run-slow or LUME_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords and "reliability" in str(item.path):
            item.add_marker(skip)


# -- figures: measured numbers, shown at the end of the run and saved under artifacts/ -----------

_FIGURES: dict[str, dict[str, object]] = {}
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


class Figures:
    """Where a test records what it measured (shown in the summary, saved as JSON)."""

    def record(self, name: str, **values: object) -> None:
        _FIGURES[name] = values
        logging.getLogger("reliability.figures").info("%s: %s", name, values)


@pytest.fixture
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in _FIGURES.items():
        shown = ", ".join(f"{k}={_show(v)}" for k, v in values.items())
        terminalreporter.write_line(f"{name}: {shown}")
    with contextlib.suppress(OSError):
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "reliability-figures.json").write_text(json.dumps(_FIGURES, indent=2) + "\n")


def _show(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
