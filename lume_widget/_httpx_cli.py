"""Keeps httpx's command-line client out of ``import httpx`` when lume_widget loads httpx.

httpx's package runs ``from ._main import main`` on import, to offer ``httpx.main`` (its
``httpx`` command), and ``httpx._main`` imports click, pygments and rich: about 80 modules
and a third of the client's import time, none of which the client uses. Before httpx is
first imported, :func:`defer_httpx_cli` (called by ``lume_widget/__init__.py``, the one
place that does this) puts a finder on ``sys.meta_path`` that answers httpx's first import
of ``httpx._main`` with a stand-in, then steps aside (nothing is in ``sys.modules`` before
httpx imports it). It costs a user of httpx's command-line client nothing:

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
from collections.abc import Sequence
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


class _CliFinder:
    """Answers the first import of ``httpx._main`` with the stand-in, then leaves ``sys.meta_path``."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != CLI_MODULE:
            return None
        _remove_finder()
        return importlib.machinery.ModuleSpec(name, self)  # type: ignore[arg-type]

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        stand_in = _DeferredCli(CLI_MODULE, "httpx's command-line client, imported on first use")
        stand_in.main = _DeferredMain()  # type: ignore[attr-defined]
        return stand_in

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _CliFinder)]


def defer_httpx_cli() -> None:
    """Put the finder of the stand-in for ``httpx._main`` in place unless httpx is imported."""
    if "httpx" in sys.modules or any(isinstance(f, _CliFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _CliFinder())
