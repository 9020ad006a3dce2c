"""The reference server: a local stand-in for Lume's consultation backend.

It speaks the backend's protocol (REST + WebSocket on one port, both wire profiles),
keeps its state in SQLite, writes replies with a scripted or OpenAI-compatible responder,
and breaks on demand through switchable faults. It never imports the client.

- :class:`ReferenceServer`: run one in a background thread (tests, notebooks).
- :class:`ServerConfig`, :class:`Faults`: its settings.
- ``lume-widget serve`` / ``python -m lume_widget.server``: run one from a shell.
"""

from __future__ import annotations

from lume_widget.server.config import Faults, ServerConfig
from lume_widget.server.runner import ReferenceServer

__all__ = ["Faults", "ReferenceServer", "ServerConfig"]
