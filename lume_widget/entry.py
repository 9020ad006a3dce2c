"""The entry points' default backend: with no URL anywhere, the embedded reference server.

The client (:mod:`lume_widget.client`) takes a URL and credentials and never starts a server.
What a new user calls first — ``lume_widget.connect(...)``, ``ChatWidget(...)``,
``evaluate(...)``, ``lume-widget chat`` — passes :func:`lume_widget.embedded.embedded_server`
as the client's ``start_backend``, so leaving out the URL (and ``LUME_URL``) starts the embedded
server with its demo credentials. This module is that one rule; the widget, the evaluation
and the command line use :data:`START_BACKEND`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lume_widget.embedded import embedded_server
from lume_widget.presentation import user_facing

if TYPE_CHECKING:
    from lume_widget.client import SyncConsultation
    from lume_widget.client.lume_client import StartBackend

__all__ = ["START_BACKEND", "connect"]

START_BACKEND: StartBackend = embedded_server
"""What every entry point starts when no URL is given (and no ``LUME_URL``)."""


@user_facing
def connect(url: str | None = None, **options: Any) -> SyncConsultation:
    """Open a consultation synchronously: :func:`lume_widget.client.connect`, starting the
    embedded reference server when neither ``url`` nor ``LUME_URL`` says where the backend is.

    ``options`` are those of :func:`lume_widget.client.connect` (``persona``, ``goal_id``,
    ``tier``, credentials, ...).
    """
    from lume_widget.client.sync import connect as connect_client

    options.setdefault("start_backend", START_BACKEND)
    return connect_client(url, **options)
