"""A chat panel's connection: the client, the consultation shown, and its status mirrored.

:class:`PanelConnection` is a part the widget holds (``ChatWidget._link``), as it holds its
actions, goals and turns; it sees the widget as a :class:`~lume_widget.widget.host.PanelHost`.
It keeps the credentials and the TLS ``verify`` setting (never traits, so never in a saved
notebook: an ``ssl.SSLContext`` could not be saved, and a path is the user's), connects the client,
opens the consultation of the panel's persona and goal that no other panel holds
(:mod:`lume_widget.widget.consultations`), loads its history into ``messages`` and mirrors its
status and tier changes into the traits until another consultation is shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lume_widget.core.events import ConnectionStatus, Event, StatusChanged, TierChanged
from lume_widget.entry import START_BACKEND
from lume_widget.errors import ConfigurationError, LumeError
from lume_widget.widget.consultations import HOLDS, free_consultation
from lume_widget.widget.history import newest_window
from lume_widget.widget.model import goal_dict

if TYPE_CHECKING:
    import os
    import ssl

    from lume_widget.client import Consultation, LumeClient
    from lume_widget.widget.host import PanelHost

__all__ = ["CLOSE_TIMEOUT_S", "Credentials", "PanelConnection"]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
"""How long closing a consultation may take before the widget stops waiting."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the client needs to log in; kept out of traits, reprs and logs."""

    url: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    verify: bool | str | os.PathLike[str] | ssl.SSLContext = field(default=True, repr=False)
    """How an https backend's certificate is checked (``LumeClient.connect(verify=...)``)."""

    def secrets(self) -> list[str]:
        """The secret values given (API key, token, password, admin token), to mask."""
        return [v for v in (self.api_key, self.token, self.password, self.admin_token) if v]


class PanelConnection:
    """The connection of one panel, on its widget."""

    def __init__(self, widget: PanelHost, credentials: Credentials, *, share: bool) -> None:
        self.widget = widget
        self.credentials = credentials
        self.share = share
        """Resume the newest consultation even when another panel shows it."""
        self.connecting = True
        """True while the client connects and the first consultation opens."""
        self.lock: asyncio.Lock | None = None
        self.watch_task: asyncio.Task[None] | None = None

    async def initial_connect(self) -> None:
        """Connect when the panel is created; a failure shows in the panel, not as an error."""
        w = self.widget
        try:
            await self.ensure_ready()
        except LumeError as exc:
            logger.warning("the chat could not connect: %s", exc)
        except Exception as exc:  # a bug elsewhere must still reach the panel
            logger.exception("unexpected error while connecting")
            w._show_error(f"Could not connect: {exc}")

    async def ensure_ready(self) -> Consultation:
        """The open consultation, connecting (again, after a failure) when there is none."""
        w = self.widget
        switch = w._switch_task
        if switch is not None and not switch.done():
            with contextlib.suppress(LumeError):
                await asyncio.shield(switch)
        if w._consultation is not None:
            return w._consultation
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if w._consultation is not None:
                return w._consultation
            self.connecting = True
            w._set_status(ConnectionStatus.CONNECTING.value, "Connecting to Lume")
            try:
                await self.connect_client()
                consultation = await self.open(resume=True)
            except LumeError as exc:
                self.connecting = False
                w._set_status(ConnectionStatus.ERROR.value, str(exc))
                w._show_failure(exc)
                raise
            finally:
                self.connecting = False
                w._update_input()
            return consultation

    async def connect_client(self) -> LumeClient:
        """The client, connecting with the panel's credentials when it has none; reads the
        server's kind, the goals and (on the reference server) the faults."""
        w = self.widget
        if w._client is None:
            from lume_widget.client import LumeClient

            creds = self.credentials
            w._client = await LumeClient.connect(
                creds.url,
                api_key=creds.api_key,
                email=creds.email,
                password=creds.password,
                token=creds.token,
                admin_token=creds.admin_token,
                verify=creds.verify,
                start_backend=START_BACKEND,
            )
        client = w._client
        w.server_kind = "reference" if client.is_reference_server else "remote"
        await self.load_goals()
        if w.server_kind == "reference":
            try:
                w.faults = dict(await client.get_faults())
            except LumeError as exc:
                logger.info("the reference server's faults are not readable: %s", exc)
        return client

    async def load_goals(self) -> None:
        """Reload the goal picker (quietly: a failure keeps the goals shown)."""
        w = self.widget
        if w._client is None:
            return
        try:
            goals = await w._client.list_goals()
        except LumeError as exc:
            logger.info("goals could not be listed: %s", exc)
            return
        w.goals = [goal_dict(goal) for goal in goals]

    async def open(self, *, resume: bool, consultation_id: str | None = None) -> Consultation:
        """Open the consultation ``consultation_id``, else resume one of the current persona and
        goal that no other panel holds (any one with ``share_consultation``), else a new one."""
        w = self.widget
        if w._client is None:
            raise ConfigurationError("Not connected to Lume yet; wait for the panel to connect.")
        await self.drop_consultation()
        if consultation_id is None and resume and not self.share:
            consultation_id = await free_consultation(
                w._client, w.persona, w.goal_id, owner=w._owner
            )
            resume = consultation_id is not None
        try:
            consultation = await w._client.open(
                persona=w.persona,
                goal_id=w.goal_id or None,
                consultation_id=consultation_id,
                resume=resume,
                tier=w.pinned_tier or None,
            )
        except BaseException:
            if consultation_id is not None:
                HOLDS.release(consultation_id, w._owner)
            raise
        HOLDS.take(consultation.id, w._owner)
        if consultation.persona != w.persona or (consultation.goal_id or "") != w.goal_id:
            # Opened by id: the pickers follow the consultation, without switching again.
            w._ready_to_switch = False
            try:
                w.persona = consultation.persona
                w.goal_id = consultation.goal_id or ""
            finally:
                w._ready_to_switch = True
        transcript = list(consultation.transcript) or list(await consultation.history())
        w._consultation = consultation
        # One opened from the drawer may be completed: it shows, and takes no more messages.
        w._closed_consultation = consultation.info.status not in ("active", "pending")
        shown, older = newest_window(transcript, consultation.transcript_offset)
        with w.hold_sync():
            w.consultation_id = consultation.id
            w.messages = shown
            w.older = older
            w.tier = consultation.tier.value
            w.tier_reason = "pinned" if w.pinned_tier else w.tier_reason
            w._set_status(consultation.status.value, w.status_reason)
            w.error = ""
            w.error_action = ""
        self.watch_task = asyncio.get_running_loop().create_task(self._watch(consultation))
        logger.info("chat opened consultation %s (%s)", consultation.id, w.persona)
        return consultation

    async def drop_consultation(self) -> None:
        """Stop showing the consultation: release its hold, stop watching it, close it."""
        w = self.widget
        old, w._consultation = w._consultation, None
        if old is not None:
            HOLDS.release(old.id, w._owner)
        if self.watch_task is not None:
            self.watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watch_task
            self.watch_task = None
        if old is not None:
            try:
                await asyncio.wait_for(old.aclose(), CLOSE_TIMEOUT_S)
            except (LumeError, TimeoutError) as exc:
                logger.warning("closing consultation %s did not finish cleanly: %r", old.id, exc)

    async def _watch(self, consultation: Consultation) -> None:
        """Mirror the consultation's status and tier changes into traits."""
        w = self.widget
        try:
            async for event in consultation.events():
                if consultation is not w._consultation:
                    return
                self.apply_link_event(event)
        except LumeError as exc:
            logger.info("the event stream of the consultation ended: %s", exc)
        except Exception as exc:
            # A watcher that died unseen would leave the badges frozen at their last state.
            logger.exception("the panel stopped following consultation %s", consultation.id)
            if consultation is w._consultation:
                w._show_error(
                    f"The panel stopped following the connection ({type(exc).__name__}: {exc});"
                    " run the cell again."
                )

    def apply_link_event(self, event: Event) -> None:
        """Mirror a status or tier change into the traits."""
        w = self.widget
        if isinstance(event, StatusChanged):
            w._set_status(event.status.value, event.reason)
        elif isinstance(event, TierChanged):
            with w.hold_sync():
                w.tier = event.tier.value
                w.tier_reason = event.reason
