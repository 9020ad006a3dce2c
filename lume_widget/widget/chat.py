"""ChatWidget: the streaming chat panel (an anywidget) over one consultation of the client.

Lasting state lives in synced traits (docs/widget-protocol.md); the reply being streamed
travels as coalesced, numbered deltas (:mod:`lume_widget.widget.coalescer`). The widget
opens no socket itself: it drives a :class:`~lume_widget.client.LumeClient` and consumes
its events. Every coroutine runs on one loop (:mod:`lume_widget.widget.runner`): the
kernel's, so a reply streams as a task while the notebook stays responsive, or a private
loop thread in plain scripts.

What the panel does is in parts it holds, each in its own module and each seeing the widget
as a :class:`~lume_widget.widget.host.PanelHost`: its connection
(:mod:`~lume_widget.widget.connection`), turns (:mod:`~lume_widget.widget.turns`), actions
(:mod:`~lume_widget.widget.actions`) and goals (:mod:`~lume_widget.widget.goals`). This
module is the traits and the public methods, one-line calls into those parts.

Credentials go to the client and nowhere else: no token, API key, password or URL is
ever a trait, so none reaches a saved notebook.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets
from ipywidgets import widget_serialization

from lume_widget.core.events import ConnectionStatus, Event, Reply, Tier, unknown_tier
from lume_widget.core.wire import validate_persona
from lume_widget.defaults import DEFAULT_PERSONA, PERSONAS
from lume_widget.errors import ConfigurationError, LumeError
from lume_widget.evaluation.scenario_writer import scenario_name, scenario_text, write_scenario
from lume_widget.presentation import user_facing
from lume_widget.widget.actions import PanelActions
from lume_widget.widget.blocks import BlockChain, MessageBlock
from lume_widget.widget.bundle import BUNDLE_CSS, BUNDLE_JS, FALLBACK_ESM, MISSING_BUNDLE, bundle
from lume_widget.widget.coalescer import DEFAULT_FLUSH_MS, DeltaCoalescer
from lume_widget.widget.connection import Credentials, PanelConnection
from lume_widget.widget.consultations import recovery_for
from lume_widget.widget.export import Conversation
from lume_widget.widget.export import write as write_export
from lume_widget.widget.goals import GoalActions
from lume_widget.widget.history import PanelHistory
from lume_widget.widget.model import TIERS, CommLog
from lume_widget.widget.ratings import clean_rating, clean_ratings, rating_for, script_turns
from lume_widget.widget.runner import LoopRunner, latest_request_parent
from lume_widget.widget.turns import PanelTurns

if TYPE_CHECKING:
    import os
    import ssl

    from lume_widget.client import Consultation, LumeClient
    from lume_widget.core.models import Goal

__all__ = ["ChatWidget"]

logger = logging.getLogger(__name__)


class ChatWidget(anywidget.AnyWidget):
    """A chat panel for one Lume consultation, streaming each reply as it arrives.

    With no ``url`` (and no ``LUME_URL``) the embedded reference server starts by itself.
    Credentials are passed to the client and never stored in the widget's state.
    ``verify`` is how an https backend's certificate is checked, as in
    :meth:`LumeClient.connect`: True (the system's certificates, or ``SSL_CERT_FILE``), the
    path of a PEM file to trust (a self-signed certificate, a private CA), an
    ``ssl.SSLContext``, or False; like the credentials it stays in Python, out of the state.
    ``tier`` pins a delivery tier (``live``, ``rest`` or ``legacy``); ``flush_ms`` is the
    coalescing window of the streamed reply. ``client`` is a ready ``LumeClient`` to use
    instead of connecting (the widget then leaves closing it to the caller).

    Panels never silently share a consultation: a panel resumes the newest active
    consultation of its persona and goal that no other panel of this process shows, else it
    starts a new one. ``share_consultation=True`` resumes the newest one even if another
    panel shows it.
    """

    _esm = bundle(BUNDLE_JS, FALLBACK_ESM)
    _css = bundle(BUNDLE_CSS, "")

    messages = traitlets.List(traitlets.Dict())
    """Finished messages the panel holds, oldest first: ``{id, role, content, created_at,
    status, metrics}``; ``status`` is complete, stopped, error or unsent. A long consultation
    holds its newest messages (``older`` says how many come before; :meth:`load_older`).
    Not synced as a whole: the front end gets them as a chain of small blocks (``newest``)."""

    # The synced traits: lasting state, saved with the notebook (docs/widget-protocol.md).
    newest = traitlets.Instance(MessageBlock, allow_none=True, default_value=None).tag(
        sync=True, **widget_serialization
    )
    """The newest block of finished messages; each block references the one before it."""
    older = traitlets.Int(0).tag(sync=True)
    """How many of the consultation's messages come before those held (``messages`` holds
    the newest ones of a long consultation; :meth:`load_older` reads the page before)."""
    pending = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    """The turn in flight, ``{turn_id, user_text, started_at, stored?}``; None when idle."""
    status = traitlets.Unicode(ConnectionStatus.CONNECTING.value).tag(sync=True)
    """Connection status: connecting, connected, streaming, reconnecting, degraded, offline, error."""
    status_reason = traitlets.Unicode("").tag(sync=True)
    """Why the status is what it is (the status badge's tooltip)."""
    tier = traitlets.Unicode(Tier.LIVE.value).tag(sync=True)
    """The delivery tier in use: live, rest or legacy."""
    tier_reason = traitlets.Unicode("").tag(sync=True)
    """Why that tier (the tier badge's tooltip)."""
    pinned_tier = traitlets.Unicode("").tag(sync=True)
    """A tier the user pinned (written by the explore drawer), "" for automatic fallback."""
    persona = traitlets.Unicode(DEFAULT_PERSONA).tag(sync=True)
    """The persona of the consultation shown; the persona picker writes it."""
    personas = traitlets.List(traitlets.Unicode(), default_value=list(PERSONAS)).tag(sync=True)
    """The personas the picker offers."""
    goal_id = traitlets.Unicode("").tag(sync=True)
    """The goal the consultation is about, "" for none; the goal picker writes it."""
    goals = traitlets.List(traitlets.Dict()).tag(sync=True)
    """The user's goals for the picker: ``{id, title, target, ...}``."""
    consultation_id = traitlets.Unicode("").tag(sync=True)
    """The id of the consultation shown ("" until one is open)."""
    input_enabled = traitlets.Bool(False).tag(sync=True)
    """Whether a message can be sent once no reply is in flight."""
    input_disabled_reason = traitlets.Unicode("Connecting to Lume...").tag(sync=True)
    """Why not, when ``input_enabled`` is false (shown under the box)."""
    error = traitlets.Unicode("").tag(sync=True)
    """The last error shown to the user, "" when none."""
    unsent_text = traitlets.Unicode("").tag(sync=True)
    """The text of a send that failed, for Retry or Edit message."""
    server_kind = traitlets.Unicode("remote").tag(sync=True)
    """``reference`` (the reference server: faults can be switched) or ``remote``."""
    faults = traitlets.Dict().tag(sync=True)
    """The reference server's active faults (empty for a remote backend)."""
    error_action = traitlets.Unicode("").tag(sync=True)
    """The recovery the error banner offers instead of Retry: new_consultation, complete_oldest
    or "" (Retry, when there is unsent text)."""
    consultations = traitlets.List(traitlets.Dict()).tag(sync=True)
    """The consultations drawer's list: the persona's (and goal's) consultations, newest first."""
    ratings = traitlets.Dict().tag(sync=True)
    """The user's ratings of replies, by message id: ``{rating: up|down|"", note}``; the thumbs
    and note under each reply write it, :meth:`rate` too. Saved with the notebook."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        token: str | None = None,
        admin_token: str | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        persona: str = DEFAULT_PERSONA,
        goal_id: str | None = None,
        tier: Tier | str | None = None,
        flush_ms: float = DEFAULT_FLUSH_MS,
        client: LumeClient | None = None,
        share_consultation: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        **kwargs: Any,
    ) -> None:
        if not BUNDLE_JS.is_file():
            raise ConfigurationError(MISSING_BUNDLE.format(path=BUNDLE_JS))
        validate_persona(persona)
        pinned = "" if tier is None else str(getattr(tier, "value", tier))
        if pinned not in ("", *TIERS):
            raise ConfigurationError(unknown_tier(pinned))
        if flush_ms < 0:
            raise ConfigurationError(
                f"flush_ms must be zero or positive ({DEFAULT_FLUSH_MS:g} is a good default)."
            )
        self._ready_to_switch = False
        self._comm_logs: list[CommLog] = []
        self._views_listen = False
        self._streamed: dict[str, tuple[str, int]] = {}
        self._chain = BlockChain(
            lambda block: self.set_trait("newest", block),
            sending=lambda: latest_request_parent(self.comm),
            record=self._record_comm,
        )
        self._actions = PanelActions(self)
        self._goals = GoalActions(self)
        self._turns = PanelTurns(self)
        self._history = PanelHistory(self)
        super().__init__(persona=persona, goal_id=goal_id or "", pinned_tier=pinned, **kwargs)
        credentials = Credentials(
            url=url,
            api_key=api_key,
            email=email,
            password=password,
            token=token,
            admin_token=admin_token,
            verify=verify,
        )
        self._link = PanelConnection(self, credentials, share=share_consultation)
        self._runner = LoopRunner(loop)
        loop_ = self._runner.loop
        self._coalescer = DeltaCoalescer(
            self._send_custom,
            flush_s=flush_ms / 1000.0,
            clock=loop_.time,
            call_later=loop_.call_later,
        )
        self._client: LumeClient | None = client
        self._owns_client = client is None
        self._owner = id(self)
        self._consultation: Consultation | None = None
        self._closed_consultation = False
        self._ready_to_switch = True
        self.on_msg(self._on_front_end_message)
        self._connect_task = self._runner.submit(self._link.initial_connect())

    # -- public API -----------------------------------------------------------------

    @property
    def client(self) -> LumeClient | None:
        """The client in use, once connected."""
        return self._client

    @property
    def consultation(self) -> Consultation | None:
        """The consultation the panel shows, once opened."""
        return self._consultation

    async def ready(self) -> None:
        """Wait until the consultation is open; raises the connection error if it failed."""
        await self._runner.await_here(self._ensure_ready())

    def wait_ready(self) -> None:
        """Block until the consultation is open (works in a notebook cell and in scripts)."""
        self._runner.run_blocking(self._ensure_ready())

    async def ask_async(self, text: str) -> Reply:
        """Send ``text`` and return the complete reply, streaming it into the panel meanwhile."""
        return await self._runner.await_here(self._turns.ask(text))

    @user_facing
    def ask(self, text: str) -> Reply:
        """Send ``text`` and block until the reply is complete (notebook cell or plain script)."""
        return self._runner.run_blocking(self._turns.ask(text))

    async def create_goal_async(self, **fields: Any) -> Goal:
        """Create a goal on the server (``LumeClient.create_goal``'s arguments), put it in the
        picker and select it; returns once its consultation is open."""
        return await self._runner.await_here(self._goals.create_goal(fields))

    def create_goal(self, **fields: Any) -> Goal:
        """Blocking form of :meth:`create_goal_async`."""
        return self._runner.run_blocking(self._goals.create_goal(fields))

    async def load_older_async(self) -> int:
        """Read the page of messages before the oldest one the panel holds (what scrolling
        to the top of the panel does); returns how many were added to ``messages``."""
        return await self._runner.await_here(self._history.load_older())

    def load_older(self) -> int:
        """Blocking form of :meth:`load_older_async`."""
        return self._runner.run_blocking(self._history.load_older())

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the conversation shown to ``path``: Markdown (``chat.md``), a self-contained
        HTML page (``chat.html``) or JSON (``chat.json``); ``format`` overrides the suffix.

        Credentials never go in: the widget's own and anything shaped like a token are
        masked, message text included. Returns the path written.
        """
        goal = next((g for g in self.goals if str(g.get("id")) == self.goal_id), None)
        secrets = self._link.credentials.secrets()
        conversation = Conversation(
            persona=self.persona,
            messages=list(self.messages),
            consultation_id=self.consultation_id,
            goal=goal,
            secrets=secrets,
            ratings=dict(self.ratings),
        )
        return write_export(conversation, path, format)

    def rate(
        self, message: str | int, rating: str | None = "up", note: str | None = None
    ) -> dict[str, Any]:
        """Rate a reply: ``message`` is its id or its index among the replies (``-1``: the
        latest); ``rating`` is "up", "down" or None (a note alone). Returns the ratings."""
        target = self._reply_id(message)
        entry = clean_rating(rating_for(rating, note))
        ratings = {k: v for k, v in self.ratings.items() if k != target}
        if entry is not None:
            ratings[target] = entry
        self.ratings = ratings
        return dict(self.ratings)

    def _reply_id(self, message: str | int) -> str:
        replies = [str(m["id"]) for m in self.messages if m.get("role") == "assistant"]
        if isinstance(message, int):
            try:
                return replies[message]
            except IndexError:
                raise ConfigurationError(
                    f"There is no reply {message}: the chat shows {len(replies)} replies."
                ) from None
        if str(message) not in replies:
            raise ConfigurationError(
                f"No reply has the id {message!r}; use an id from chat.messages or an index."
            )
        return str(message)

    @traitlets.validate("ratings")
    def _valid_ratings(self, proposal: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return clean_ratings(proposal["value"])

    def scenario_text(self, *, expect: Mapping[str, Any] | None = None, name: str = "") -> str:
        """The conversation shown as scenario YAML (see :meth:`to_scenario`)."""
        return self._runner.run_blocking(self._scenario_text(expect=expect, name=name))

    def to_scenario(
        self, path: str | Path, *, expect: Mapping[str, Any] | None = None, name: str = ""
    ) -> Path:
        """Write the conversation as a scenario file that ``lume-widget eval`` runs unchanged.

        It holds the persona, the goal as a ``goals:`` entry (the backend's fields), the
        messages you sent as ``turns`` and, under each, a comment with the rating and note
        of its reply. ``expect`` adds checks on every reply (e.g. ``{"max_ttft_s": 10}``);
        ``name`` names the scenario (default: persona and date). Returns the path written.
        """
        return write_scenario(path, self.scenario_text(expect=expect, name=name))

    async def _scenario_text(self, *, expect: Mapping[str, Any] | None, name: str) -> str:
        goal = await self._goal_for_scenario(self.goal_id)
        turns = script_turns(self.messages, self.ratings, self.persona)
        return scenario_text(
            name=name or scenario_name(self.persona),
            personas=[self.persona],
            turns=turns,
            goal=goal,
            expect=expect,
            source=f"Saved from a chat with {self.persona}"
            + (f", consultation {self.consultation_id}" if self.consultation_id else ""),
        )

    async def _goal_for_scenario(self, goal_id: str) -> Goal | None:
        if not goal_id:
            return None
        if self._client is None:
            raise ConfigurationError("Not connected to Lume yet; wait for the panel to connect.")
        return await self._client.get_goal(goal_id)

    def record_comm(self) -> CommLog:
        """Start recording every comm message this widget sends; returns the growing log."""
        log = CommLog()
        self._comm_logs.append(log)
        return log

    def _send(self, msg: dict[str, Any], buffers: Any = None) -> None:
        self._record_comm(msg, buffers)
        with latest_request_parent(self.comm):
            super()._send(msg, buffers)

    def _record_comm(self, msg: dict[str, Any], buffers: Any = None) -> None:
        for log in getattr(self, "_comm_logs", ()):
            log.record(msg, buffers)

    @traitlets.observe("messages")
    def _on_messages(self, change: dict[str, Any]) -> None:
        chain = getattr(self, "_chain", None)
        streamed, self._streamed = getattr(self, "_streamed", {}), {}
        if chain is not None and self.comm is not None:
            chain.sync(change["new"], streamed)

    def _streamed_text(self, message_id: str, turn_id: str, seq: int) -> None:
        """The next ``messages`` change adds ``message_id``, whose text is the deltas of
        ``turn_id`` up to ``seq``: when views listen they hold it, so it is not sent again."""
        if self._views_listen:
            self._streamed[message_id] = (turn_id, seq)

    # -- actions: one-line calls into the controller (lume_widget/widget/actions.py) ----

    @traitlets.observe("persona", "goal_id")
    def _on_scope_change(self, change: dict[str, Any]) -> None:
        if self._ready_to_switch:
            self._actions.scope_changed(change)

    @traitlets.observe("pinned_tier")
    def _on_pinned_tier(self, change: dict[str, Any]) -> None:
        if self._ready_to_switch:
            self._actions.pinned_tier_changed(change)

    @traitlets.observe("pending")
    def _on_pending(self, change: dict[str, Any]) -> None:
        self._goals.pending_changed(change)

    def stop(self) -> None:
        """Stop the reply in flight; the text received so far stays as a stopped message."""
        self._runner.call_soon(self._actions.cancel_turn)

    async def retry_async(self) -> None:
        """Send the text of the last failed send again (connecting again if needed)."""
        await self._runner.await_here(self._actions.retry())

    async def switch_async(self, persona: str | None = None, goal_id: str | None = None) -> None:
        """Switch persona and/or goal and wait until the matching consultation is open."""
        self._choose(persona, goal_id)
        await self._runner.await_here(self._settle_switch())

    def switch(self, persona: str | None = None, goal_id: str | None = None) -> None:
        """Blocking form of :meth:`switch_async` (a notebook cell or a plain script)."""
        self._choose(persona, goal_id)
        self._runner.run_blocking(self._settle_switch())

    def _choose(self, persona: str | None, goal_id: str | None) -> None:
        if persona is not None:
            self.persona = persona
        if goal_id is not None:
            self.goal_id = goal_id

    async def _settle_switch(self) -> None:
        await self._actions.settle_switch()

    async def new_consultation_async(self) -> None:
        """Complete the current consultation and start a fresh one with the same persona and goal."""
        await self._runner.await_here(self._actions.new_consultation())

    def new_consultation(self) -> None:
        """Blocking form of :meth:`new_consultation_async`."""
        self._runner.run_blocking(self._actions.new_consultation())

    async def refresh_goals_async(self) -> None:
        """Reload the goal picker from the server (after creating a goal, say)."""
        await self._runner.await_here(self._actions.refresh_goals())

    def refresh_goals(self) -> None:
        """Blocking form of :meth:`refresh_goals_async`."""
        self._runner.run_blocking(self._actions.refresh_goals())

    async def open_consultation_async(self, consultation_id: str) -> None:
        """Show the consultation ``consultation_id`` (its history loads; the persona and goal
        pickers follow it) and wait until it is open."""
        await self._runner.await_here(self._actions.open_consultation(consultation_id))

    def open_consultation(self, consultation_id: str) -> None:
        """Blocking form of :meth:`open_consultation_async`."""
        self._runner.run_blocking(self._actions.open_consultation(consultation_id))

    async def complete_consultation_async(self, consultation_id: str) -> None:
        """Complete a consultation of this user (the one shown, or any other) by id."""
        await self._runner.await_here(self._actions.complete_consultation(consultation_id))

    def complete_consultation(self, consultation_id: str) -> None:
        """Blocking form of :meth:`complete_consultation_async`."""
        self._runner.run_blocking(self._actions.complete_consultation(consultation_id))

    async def delete_consultation_async(self, consultation_id: str) -> None:
        """Delete a consultation for good; deleting the one shown opens another."""
        await self._runner.await_here(self._actions.delete_consultation(consultation_id))

    def delete_consultation(self, consultation_id: str) -> None:
        """Blocking form of :meth:`delete_consultation_async`."""
        self._runner.run_blocking(self._actions.delete_consultation(consultation_id))

    def refresh_consultations(self) -> list[dict[str, Any]]:
        """Reload the consultations drawer's list (also the ``consultations`` trait)."""
        self._runner.run_blocking(self._actions.refresh_consultations())
        return list(self.consultations)

    def simulate_drop(self) -> None:
        """Drop the live socket on purpose, to watch the fallback happen."""
        self._runner.run_blocking(self._actions.simulate_drop())

    def set_faults(self, **faults: Any) -> None:
        """Merge ``faults`` into the reference server's active faults (a null turns one off)."""
        self._runner.run_blocking(self._actions.set_faults(faults))

    def clear_faults(self) -> None:
        """Turn every fault of the reference server off."""
        self._runner.run_blocking(self._actions.set_faults({}))

    async def aclose(self) -> None:
        """Close the consultation and (if the widget made it) the client, then the panel."""
        await self._runner.await_here(self._actions.shutdown())
        self._chain.close()
        super().close()

    def close(self) -> None:
        """Close the panel and its connection (scheduled when called on the running loop)."""
        actions = getattr(self, "_actions", None)
        if actions is not None and getattr(self, "_runner", None) is not None:
            actions.release()
        chain = getattr(self, "_chain", None)
        if chain is not None:
            chain.close()
        super().close()

    # -- connecting: one-line calls into lume_widget/widget/connection.py ----------------

    async def _ensure_ready(self) -> Consultation:
        return await self._link.ensure_ready()

    async def _connect_client(self) -> LumeClient:
        return await self._link.connect_client()

    async def _load_goals(self) -> None:
        await self._link.load_goals()

    async def _open(self, *, resume: bool, consultation_id: str | None = None) -> Consultation:
        return await self._link.open(resume=resume, consultation_id=consultation_id)

    async def _drop_consultation(self) -> None:
        await self._link.drop_consultation()

    def _apply_link_event(self, event: Event) -> None:
        self._link.apply_link_event(event)

    # -- what the panel shows ---------------------------------------------------------

    def _set_status(self, status: str, reason: str) -> None:
        with self.hold_sync():
            self.status = status
            self.status_reason = reason
            self._update_input()

    def _show_error(self, message: str, action: str = "") -> None:
        """Show ``message`` in the panel's banner; ``action`` is the recovery it offers instead
        of Retry (``new_consultation``, ``complete_oldest``), "" for none."""
        with self.hold_sync():
            self.error = message
            self.error_action = action
            self._update_input()

    def _show_failure(self, exc: LumeError) -> None:
        self._show_error(*recovery_for(exc))

    def _update_input(self) -> None:
        reason = ""
        if self._consultation is None:
            if self._link.connecting:
                reason = "Connecting to Lume..."
            elif self._actions.switching:
                reason = f"Opening the {self.persona} consultation..."
            else:
                reason = "Not connected. Press retry to connect again."
        elif self._actions.switching:
            reason = f"Opening the {self.persona} consultation..."
        elif self._closed_consultation:
            reason = "This consultation is completed; start a new consultation to keep chatting."
        # Offline (every tier gave up, or the pinned tier is unavailable) keeps the box open:
        # nothing retries until the next message, which tries again; the status badge says why.
        with self.hold_sync():
            self.input_enabled = reason == ""
            self.input_disabled_reason = reason

    # -- front end --------------------------------------------------------------------

    def _send_custom(self, content: dict[str, Any]) -> None:
        self.send(content)

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "sync_request":
            self._views_listen = True
            self._runner.call_soon(lambda: self._send_custom(self._coalescer.snapshot()))
            return
        if kind == "resend":
            self._runner.call_soon(self._chain.resend, str(content.get("id", "")))
            return
        if kind == "save_scenario":
            self._spawn(self._offer_scenario())
            return
        handlers = {
            **self._actions.handlers(),
            **self._goals.handlers(),
            **self._history.handlers(),
        }
        handler = handlers.get(str(kind))
        if handler is None:
            logger.warning("ignoring an unknown message from the panel: %r", kind)
            return
        self._spawn(handler(content))

    async def _offer_scenario(self) -> None:
        """The panel's "Save as scenario": the YAML goes to the front end, which downloads it."""
        try:
            text = await self._scenario_text(expect=None, name="")
        except LumeError as exc:
            self._show_error(f"Not saved as a scenario: {exc}")
            return
        name = f"{scenario_name(self.persona)}.yaml"
        self._send_custom({"type": "scenario", "name": name, "text": text})

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a front-end action on the loop; its errors land in the ``error`` trait."""

        async def guarded() -> None:
            try:
                await coro
            except LumeError as exc:
                self._show_failure(exc)
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                logger.exception("a panel action failed")
                self._show_error(f"Something went wrong: {exc}")

        self._runner.submit(guarded())

    # -- turns: one-line calls into lume_widget/widget/turns.py --------------------------

    @property
    def _turn_task(self) -> asyncio.Task[Reply] | None:
        return self._turns.task

    @property
    def _switch_task(self) -> asyncio.Future[None] | None:
        return self._actions.switch_task

    def _spawn_turn(self, text: str) -> None:
        self._turns.spawn(text)
