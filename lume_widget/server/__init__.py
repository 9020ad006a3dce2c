"""The reference server: a local stand-in for Lume's consultation backend.

It speaks the backend's protocol (REST + WebSocket on one port, both wire profiles),
keeps its state in SQLite, writes replies with a scripted or OpenAI-compatible responder,
and breaks on demand through switchable faults. It never imports the client.

- :class:`ReferenceServer`: run one in a background thread (tests, notebooks).
- :class:`ServerConfig`, :class:`Faults`: its settings.
- ``lume-widget serve`` / ``python -m lume_widget.server``: run one from a shell.

Names are loaded lazily, so importing ``lume_widget.server.config`` (as the embedded
launcher does) does not load uvicorn and Starlette.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lume_widget.server.config import Faults, ServerConfig
    from lume_widget.server.runner import ReferenceServer

__all__ = ["Faults", "ReferenceServer", "ServerConfig"]

_LAZY = {
    "Faults": "lume_widget.server.config",
    "ServerConfig": "lume_widget.server.config",
    "ReferenceServer": "lume_widget.server.runner",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lume_widget.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
