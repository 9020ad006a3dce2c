"""The consultation client: the one piece of lume_widget that talks to the backend.

- :class:`LumeClient`: an authenticated connection to a backend (goals, consultations,
  quick actions, the reference server's faults); ``open()`` gives a :class:`Consultation`.
- :class:`Consultation`: one chat, async, delivering each turn over the best working
  tier (live WebSocket, REST, legacy) and reporting everything as events.
- :func:`connect` / :class:`SyncConsultation`: the synchronous facade for scripts and
  notebook cells.
"""

from __future__ import annotations

from lume_widget.client.consultation import Consultation
from lume_widget.client.lume_client import LumeClient
from lume_widget.client.sync import SyncConsultation, connect
from lume_widget.core.events import ConnectionStatus, Reply, Tier
from lume_widget.core.models import ConsultationInfo, Goal, Message, QuickAction
from lume_widget.core.settings import Settings

__all__ = [
    "ConnectionStatus",
    "Consultation",
    "ConsultationInfo",
    "Goal",
    "LumeClient",
    "Message",
    "QuickAction",
    "Reply",
    "Settings",
    "SyncConsultation",
    "Tier",
    "connect",
]
