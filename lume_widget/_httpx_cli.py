"""Keeps httpx's command-line client out of ``import httpx`` when lume_widget loads httpx.

httpx's package runs ``from ._main import main`` on import, to offer ``httpx.main`` (its
``httpx`` command), and ``httpx._main`` imports click, pygments and rich: about 80 modules
and a third of the client's import time, none of which the client uses. Before httpx is
first imported, :func:`defer_httpx_cli` (called by ``lume_widget/__init__.py``, the one
place that does this) puts a stand-in for ``httpx._main`` in ``sys.modules``. It costs a
user of httpx's command-line client nothing:

- the ``httpx`` command runs in its own process, which never sees the stand-in;
- ``httpx.main(...)`` in this process imports the real module and runs the real command,
  and any other attribute of ``httpx.main`` or ``httpx._main`` loads it too;
- once loaded, ``httpx._main`` in ``sys.modules`` is the real module.

Nothing happens when httpx (or its ``_main``) was imported before lume_widget.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from typing import Any

__all__ = ["defer_httpx_cli"]

CLI_MODULE = "httpx._main"


def _real_cli() -> types.ModuleType:
    """Import httpx's real command-line module in place of the stand-in."""
    if isinstance(sys.modules.get(CLI_MODULE), _DeferredCli):
        del sys.modules[CLI_MODULE]
    return importlib.import_module(CLI_MODULE)


class _DeferredMain:
    """``httpx.main``: the real command, imported on the first call or attribute."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _real_cli().main(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(_real_cli().main, name)

    def __repr__(self) -> str:
        return "<httpx.main, imported on first use>"


class _DeferredCli(types.ModuleType):
    """The stand-in for ``httpx._main``: ``main`` now, anything else from the real module."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # a scan of sys.modules (inspect, warnings) loads nothing
            raise AttributeError(name)
        return getattr(_real_cli(), name)


def defer_httpx_cli() -> None:
    """Install the stand-in for ``httpx._main`` unless httpx is already imported."""
    if "httpx" in sys.modules or CLI_MODULE in sys.modules:
        return
    stand_in = _DeferredCli(CLI_MODULE, "httpx's command-line client, imported on first use")
    stand_in.__spec__ = importlib.machinery.ModuleSpec(CLI_MODULE, None)
    stand_in.main = _DeferredMain()  # type: ignore[attr-defined]
    sys.modules[CLI_MODULE] = stand_in
