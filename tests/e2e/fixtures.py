"""Pytest fixtures shared by the notebook end-to-end tests: Debian's chromium, once per module, and
``host``: JupyterLab, then Notebook 7 (the module's tests run in each), reaching the module's
``server`` fixture (a reference server) through the ``LUME_*`` environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from e2e.lab import Lab, lume_env, start_lab
from e2e.page import launch

__all__ = ["HOSTS", "browser", "host"]

HOSTS = ["lab", "notebook"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        running = launch(playwright)
        yield running
        running.close()


@pytest.fixture(scope="module", params=HOSTS)
def host(
    request: pytest.FixtureRequest, server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    app = str(request.param)
    running = start_lab(tmp_path_factory.mktemp(app), lume_env(server), app=app)
    yield running
    running.stop()
