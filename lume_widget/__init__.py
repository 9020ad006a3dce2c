"""lume_widget: talk to Lume's AI consultation backend from Jupyter.

The public API, loaded lazily so that ``import lume_widget`` stays cheap (the reference
server's process, for one, never loads the widget stack):

- :class:`Consultation`, :class:`LumeClient`, :func:`connect` (sync facade): the client.
- :class:`ChatWidget`: the streaming chat panel; :class:`CompareWidget`: several side by side.
- :func:`evaluate`, :func:`evaluate_async`: scripted persona evaluations; :func:`replay`,
  :func:`replay_async`: a recorded run's user turns sent again (another persona, goal, backend).
- :func:`embedded_server`: the reference server, started once per process.
- :func:`log_to_notebook`: show the package's log records in the notebook (they go to the
  ``logging`` system only, never on their own to a cell's stderr).
- the exception tree in :mod:`lume_widget.errors`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lume_widget._httpx_cli import defer_httpx_cli
from lume_widget._logging import log_to_notebook
from lume_widget._version import __version__
from lume_widget.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ConsultationNotActiveError,
    InvalidGoalError,
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    InvalidPersonaError,
    LumeError,
    MissingSettingsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TooManyConsultationsError,
    TurnCancelledError,
    TurnTimeoutError,
)

# Before anything imports httpx: its command-line client (click, pygments, rich) stays out.
defer_httpx_cli()

if TYPE_CHECKING:
    from lume_widget.client import Consultation, LumeClient, SyncConsultation
    from lume_widget.core.events import ConnectionStatus, Reply, Tier
    from lume_widget.core.models import Goal
    from lume_widget.embedded import embedded_server
    from lume_widget.entry import connect
    from lume_widget.evaluation import evaluate, evaluate_async, replay, replay_async
    from lume_widget.widget import ChatWidget, CompareWidget

_LAZY: dict[str, str] = {
    "ChatWidget": "lume_widget.widget",
    "CompareWidget": "lume_widget.widget",
    "ConnectionStatus": "lume_widget.core.events",
    "Consultation": "lume_widget.client",
    "Goal": "lume_widget.core.models",
    "LumeClient": "lume_widget.client",
    "Reply": "lume_widget.core.events",
    "SyncConsultation": "lume_widget.client",
    "Tier": "lume_widget.core.events",
    "connect": "lume_widget.entry",
    "embedded_server": "lume_widget.embedded",
    "evaluate": "lume_widget.evaluation",
    "evaluate_async": "lume_widget.evaluation",
    "replay": "lume_widget.evaluation",
    "replay_async": "lume_widget.evaluation",
}

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ChatWidget",
    "CompareWidget",
    "ConfigurationError",
    "ConnectionFailedError",
    "ConnectionStatus",
    "Consultation",
    "ConsultationNotActiveError",
    "Goal",
    "InvalidGoalError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidMessageError",
    "InvalidPersonaError",
    "LumeClient",
    "LumeError",
    "MissingSettingsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Reply",
    "ServerError",
    "SyncConsultation",
    "Tier",
    "TooManyConsultationsError",
    "TurnCancelledError",
    "TurnTimeoutError",
    "__version__",
    "connect",
    "embedded_server",
    "evaluate",
    "evaluate_async",
    "log_to_notebook",
    "replay",
    "replay_async",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lume_widget' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
