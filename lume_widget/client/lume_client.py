"""LumeClient: an authenticated connection to one backend, and the door to consultations.

Credentials come from arguments, then ``LUME_URL``, ``LUME_API_KEY``, ``LUME_EMAIL``,
``LUME_PASSWORD``, ``LUME_TOKEN``; with no URL at all the embedded reference server is
started (lazily, once per process) and its demo credentials are used. Every I/O seam
is injectable: the httpx transport, the WebSocket connector, the clock, sleep and the
random source of backoff jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect as ws_connect

from lume_widget.client.auth import LumeAuth
from lume_widget.client.consultation import Consultation, use_client
from lume_widget.client.faults import ReferenceFaults
from lume_widget.client.goals import GoalsApi
from lume_widget.client.live import WsConnector
from lume_widget.client.rest import RestApi
from lume_widget.core.events import Tier
from lume_widget.core.goals import UNSET, GoalActivity, GoalHistory, GoalInstance, GoalSuggestion
from lume_widget.core.models import ConsultationInfo, Goal, Message, QuickAction
from lume_widget.core.settings import Settings
from lume_widget.core.wire import (
    HISTORY_PAGE,
    OPEN_HISTORY,
    consultation_from_create,
    consultation_from_json,
    history_page,
    history_total,
    messages_from_json,
    normalize_id,
    quick_actions_from_json,
    redact_url,
    validate_message,
    validate_persona,
)
from lume_widget.defaults import (
    DEFAULT_PERSONA,
    ENV_ADMIN_TOKEN,
    ENV_API_KEY,
    ENV_EMAIL,
    ENV_PASSWORD,
    ENV_TOKEN,
    ENV_URL,
)
from lume_widget.errors import ConfigurationError, LumeError, MissingSettingsError, NotFoundError
from lume_widget.presentation import describe_missing

__all__ = ["BackendAddress", "LumeClient", "StartBackend"]


class BackendAddress(Protocol):
    """Where a backend started on demand listens, and the credentials it accepts
    (:class:`lume_widget.embedded.EmbeddedServer` is one)."""

    @property
    def url(self) -> str: ...
    @property
    def api_key(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def admin_token(self) -> str: ...


StartBackend = Callable[[], BackendAddress]
"""Starts (or finds) the backend used when no URL is given; blocking, run in a thread. The
entry points (``lume_widget.connect``, ``ChatWidget``, ``evaluate``, the command line) pass
:func:`lume_widget.embedded_server`; the client itself never starts a server."""

NO_URL = (
    "No backend URL: pass url= (or set {env}). lume_widget.connect(), ChatWidget, evaluate() "
    "and the lume-widget command start the embedded reference server when none is given; "
    "with LumeClient.connect pass start_backend=lume_widget.embedded_server for the same."
)

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
"""The prefix of every route; a base URL given with it is taken without it."""

_CONSULTATIONS = "/api/v1/consultations"


class LumeClient:
    """An authenticated connection to a Lume backend (or the embedded reference server)."""

    def __init__(
        self,
        url: str,
        auth: LumeAuth,
        *,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        ws_connector: WsConnector | None = None,
        admin_token: str | None = None,
        embedded: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        self.url = url.rstrip("/")
        self.settings = settings
        self.auth = auth
        self.ws_connector = ws_connector
        self.clock = clock
        self.sleep = sleep
        self.random = random_source
        self.embedded = embedded
        self.rest = RestApi(
            self.url, auth, settings, transport=transport, sleep=sleep, random_source=random_source
        )
        self.faults = ReferenceFaults(self.rest, admin_token, known=True if embedded else None)
        """The reference server's faults, switched at run time (needs its admin token)."""
        self._consultations: list[Consultation] = []

    def __repr__(self) -> str:
        return f"LumeClient(url={redact_url(self.url)!r}, embedded={self.embedded})"

    @classmethod
    async def connect(
        cls,
        url: str | None = None,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        token: str | None = None,
        refresh_token: str | None = None,
        admin_token: str | None = None,
        settings: Settings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ws_connector: WsConnector | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random_source: Callable[[], float] = random.random,
        start_backend: StartBackend | None = None,
    ) -> LumeClient:
        """Log in and return a client of the backend at ``url`` (or ``LUME_URL``).

        With neither, ``start_backend`` is called (the entry points pass
        :func:`lume_widget.embedded_server`) and its address and credentials are used; without
        it a :class:`~lume_widget.errors.ConfigurationError` says what to pass.

        ``verify`` is how an https backend's certificate is checked, for REST and WebSockets
        alike: True (the system's certificates, or ``SSL_CERT_FILE``), the path of a PEM file
        of certificates to trust (a self-signed one, a private CA), an ``ssl.SSLContext``, or
        False to skip the check (only for a server you control on a network you trust).
        """
        url = url or os.environ.get(ENV_URL) or None
        embedded = url is None
        if url is None:
            if start_backend is None:
                raise ConfigurationError(NO_URL.format(env=ENV_URL))
            # While the backend starts, a second thread imports what the first request needs.
            server, _ = await asyncio.gather(
                asyncio.to_thread(start_backend), asyncio.to_thread(_load_http_backend)
            )
            url = server.url
            api_key = api_key or server.api_key
            if not token:
                email = email or server.email
                password = password or server.password
            admin_token = admin_token or server.admin_token
        url = base_url(url)
        api_key = api_key or os.environ.get(ENV_API_KEY)
        token = token or os.environ.get(ENV_TOKEN) or None
        email = email or os.environ.get(ENV_EMAIL) or None
        password = password or os.environ.get(ENV_PASSWORD) or None
        missing = _missing_settings(api_key, token, email, password)
        if missing or not api_key:
            raise MissingSettingsError(describe_missing(missing), missing=missing)
        admin_token = admin_token or os.environ.get(ENV_ADMIN_TOKEN) or None
        settings = settings or Settings()
        tls = tls_context(verify)
        scheme = urlsplit(url).scheme
        if tls is not None and scheme == "https":
            transport = transport or httpx.AsyncHTTPTransport(verify=tls)
            ws_connector = ws_connector or functools.partial(ws_connect, ssl=tls)
        elif scheme == "http":
            transport = transport or httpx.AsyncHTTPTransport(verify=_trusts_nothing())
        auth = LumeAuth(
            api_key,
            access_token=token,
            refresh_token=refresh_token,
            email=email,
            password=password,
            refresh_margin_s=settings.refresh_margin_s,
        )
        client = cls(
            url,
            auth,
            settings=settings,
            transport=transport,
            ws_connector=ws_connector,
            admin_token=admin_token,
            embedded=embedded,
            clock=clock,
            sleep=sleep,
            random_source=random_source,
        )
        try:
            if not token:
                await auth.login()
            await client.faults.detect()
        except BaseException:
            await client.rest.aclose()
            raise
        logger.info("connected to %s", redact_url(client.url))
        return client

    # ------------------------------------------------------------------ goals

    async def list_goals(
        self, status: str | None = None, goal_type: str | None = None
    ) -> list[Goal]:
        """Every goal of the user on this server, all pages (their ids are what goal chats need).

        ``status`` (active, completed, abandoned) and ``goal_type`` (weight, activity,
        nutrition, custom) filter on the server.
        """
        return await GoalsApi(self.rest).list_goals(status=status, goal_type=goal_type)

    async def get_goal(self, goal_id: str) -> Goal:
        """One goal by its server id."""
        return await GoalsApi(self.rest).get(goal_id)

    async def create_goal(
        self,
        *,
        title: str | None = None,
        goal_type: str | None = None,
        target_value: float | None = None,
        target_unit: str | None = None,
        start_date: date | str | None = None,
        target_date: date | str | None = None,
        description: str | None = None,
        current_value: float | None = None,
        is_recurring: bool = False,
        recurrence_pattern: str | None = None,
        recurrence_days: list[int] | tuple[int, ...] | None = None,
        recurrence_end_date: date | str | None = None,
    ) -> Goal:
        """Create a goal on the server and return it (with the server's id).

        ``title``, ``goal_type`` (weight, activity, nutrition, custom), ``target_value``
        (0 or more) and ``target_unit`` are required; ``start_date`` defaults to today;
        dates are ``datetime.date`` or ``"YYYY-MM-DD"``. A missing or bad field raises
        :class:`~lume_widget.errors.InvalidGoalError` before anything is sent.
        ``current_value`` is recorded as progress right after creation.
        """
        return await GoalsApi(self.rest).create(
            title=title,
            goal_type=goal_type,
            target_value=target_value,
            target_unit=target_unit,
            start_date=start_date,
            target_date=target_date,
            description=description,
            current_value=current_value,
            is_recurring=is_recurring,
            recurrence_pattern=recurrence_pattern,
            recurrence_days=recurrence_days,
            recurrence_end_date=recurrence_end_date,
        )

    async def update_goal(
        self,
        goal_id: str,
        *,
        title: Any = UNSET,
        description: Any = UNSET,
        target_value: Any = UNSET,
        target_date: Any = UNSET,
    ) -> Goal:
        """Change a goal's title, description, target value or target date (only those given)."""
        return await GoalsApi(self.rest).update(
            goal_id,
            title=title,
            description=description,
            target_value=target_value,
            target_date=target_date,
        )

    async def update_progress(self, goal_id: str, current_value: float) -> Goal:
        """Record the goal's current value (0 or more); the answer carries the new progress."""
        return await GoalsApi(self.rest).update_progress(goal_id, current_value)

    async def complete_goal(self, goal_id: str) -> Goal:
        """Mark a goal completed."""
        return await GoalsApi(self.rest).complete(goal_id)

    async def abandon_goal(self, goal_id: str) -> Goal:
        """Mark a goal abandoned."""
        return await GoalsApi(self.rest).abandon(goal_id)

    async def delete_goal(self, goal_id: str) -> None:
        """Delete a goal (consultations about it keep working)."""
        await GoalsApi(self.rest).delete(goal_id)

    async def goal_today(self, goal_id: str) -> GoalInstance:
        """Today's instance of a recurring goal (created by the backend on first ask)."""
        return await GoalsApi(self.rest).today(goal_id)

    async def update_instance_progress(
        self, instance_id: str, current_value: float
    ) -> GoalInstance:
        """Record one day's value of a recurring goal."""
        return await GoalsApi(self.rest).update_instance_progress(instance_id, current_value)

    async def goal_history(
        self, goal_id: str, start: date | str | None = None, end: date | str | None = None
    ) -> GoalHistory:
        """A recurring goal's instances from ``start`` to ``end`` (all pages) and its summary."""
        return await GoalsApi(self.rest).history(goal_id, start, end)

    async def goal_suggestions(self) -> list[GoalSuggestion]:
        """Goals the backend suggests from the user's data."""
        return await GoalsApi(self.rest).suggestions()

    async def goal_tips(self, goal_id: str) -> list[str]:
        """Tips for reaching a goal, as plain sentences."""
        return await GoalsApi(self.rest).tips(goal_id)

    async def log_activity(
        self, goal_id: str, activity_type: str, value: float, notes: str | None = None
    ) -> GoalActivity:
        """Log an activity on a goal."""
        return await GoalsApi(self.rest).log_activity(goal_id, activity_type, value, notes)

    async def list_activities(
        self, goal_id: str, activity_type: str | None = None
    ) -> list[GoalActivity]:
        """Every logged activity of a goal (all pages), newest first."""
        return await GoalsApi(self.rest).activities(goal_id, activity_type)

    # ---------------------------------------------------------- consultations

    async def list_consultations(
        self, status: str | None = None, persona: str | None = None
    ) -> list[ConsultationInfo]:
        """Consultations of the user, newest first (the backend lists only active ones by default)."""
        if persona is not None:
            validate_persona(persona)
        outcome = await self.rest.request(
            "GET", _CONSULTATIONS, params={"status": status, "persona": persona, "limit": 100}
        )
        data = outcome.data
        items = data.get("consultations") if isinstance(data, dict) else data
        found = [c for c in (consultation_from_json(i) for i in items or []) if c is not None]
        return sorted(found, key=_started_key, reverse=True)

    async def get_consultation(self, consultation_id: str) -> ConsultationInfo:
        """One consultation (the flat shape of ``GET /consultations/{id}``)."""
        cid = normalize_id(consultation_id, "Consultation")
        outcome = await self.rest.request("GET", f"{_CONSULTATIONS}/{cid}")
        data = outcome.data
        info = consultation_from_json(
            data.get("consultation") if isinstance(data, dict) and "consultation" in data else data
        )
        if info is None:
            raise NotFoundError(f"Consultation {cid} was not found on this server.", status=404)
        return info

    async def complete_consultation(self, consultation_id: str) -> ConsultationInfo:
        """Mark a consultation completed: it takes no more messages and no longer counts
        towards the backend's limit of active consultations. Returns it as it is now."""
        cid = normalize_id(consultation_id, "Consultation")
        outcome = await self.rest.request("POST", f"{_CONSULTATIONS}/{cid}/complete")
        info = consultation_from_json(outcome.data)
        return info if info is not None else await self.get_consultation(cid)

    async def delete_consultation(self, consultation_id: str) -> None:
        """Delete a consultation and its messages for good (one already deleted counts as
        deleted). A consultation open in this client stops working."""
        cid = normalize_id(consultation_id, "Consultation")
        await self.rest.request("DELETE", f"{_CONSULTATIONS}/{cid}", allow=(404,))

    async def quick_actions(
        self, persona: str | None = None, context_type: str | None = None
    ) -> list[QuickAction]:
        """Suggested conversation starters, optionally filtered."""
        if persona is not None:
            validate_persona(persona)
        outcome = await self.rest.request(
            "GET",
            f"{_CONSULTATIONS}/quick-actions",
            params={"persona": persona, "context_type": context_type},
        )
        return quick_actions_from_json(outcome.data)

    async def open(
        self,
        persona: str = DEFAULT_PERSONA,
        goal_id: str | None = None,
        consultation_id: str | None = None,
        *,
        resume: bool = True,
        initial_message: str | None = None,
        quick_action: str | None = None,
        tier: Tier | str | None = None,
        await_stored_reply: bool | None = None,
    ) -> Consultation:
        """Open a consultation: an existing one by id, else (``resume``) the newest active one of
        this persona and goal, else a new one. ``tier`` pins live, rest or legacy.

        A new consultation created with ``initial_message`` stores it as its first user
        message; its answer is a turn of its own: ``await chat.initial_reply()`` returns it
        as a :class:`Reply`, and the first :meth:`Consultation.ask` waits for it, so it gets
        its own reply. A new consultation created with ``quick_action`` (and no initial
        message) is the same when the history read after the create shows a user message
        (the quick action's prompt, as the reference server stores it); when it shows none,
        there is no initial turn (``initial_turn_id`` is None) and nothing waits.

        ``await_stored_reply`` (default: the client's settings, on) False: a streamed reply
        completes as soon as it has streamed, with an empty ``message_id``, instead of after
        the history read that finds its stored copy (see :class:`~lume_widget.core.settings.Settings`);
        for runs that need the text and not the ids, such as evaluations."""
        pinned = Tier.parse(tier)
        settings = None
        if await_stored_reply is not None:
            settings = dataclasses.replace(self.settings, await_stored_reply=await_stored_reply)
        known: list[Any] | None = None  # the whole history, when the create answer gave it
        # what a new consultation began with: its initial message, or None for a quick action
        # (its prompt, if the backend stored one, is found in the history read below)
        initial: tuple[str | None, float, datetime] | None = None
        if consultation_id is not None:
            info = await self.get_consultation(consultation_id)
            greeting: list[Any] = []
        else:
            persona = validate_persona(persona)
            goal = normalize_id(goal_id, "Goal") if goal_id is not None else None
            if initial_message is not None:
                initial_message = validate_message(initial_message)
            existing = None
            if resume:
                candidates = await self.list_consultations(status="active", persona=persona)
                existing = next(
                    (c for c in candidates if c.effective_goal_id == goal and c.persona == persona),
                    None,
                )
            if existing is not None:
                info, greeting = existing, []
            else:
                sent_at, wall = self.clock(), datetime.now(timezone.utc)
                info, greeting, fresh = await self._create(
                    persona, goal, initial_message, quick_action
                )
                opening = initial_message is not None or quick_action is not None
                if fresh and not opening and info.message_count == len(greeting):
                    known = greeting  # a new consultation holds its greeting, if any: no read
                if fresh and opening:
                    initial = (initial_message, sent_at, wall)  # its answer is a turn of its own
        offset = 0
        if known is not None:
            history: list[Any] = known
        else:
            history, offset = await self._newest_history(info.id, pinned)
        if not history and greeting:
            history, offset = greeting, 0
        chat = Consultation(
            self,
            info,
            history,
            tier=pinned,
            history_offset=offset,
            initial=initial,
            settings=settings,
        )
        chat._start()
        self._consultations.append(chat)
        return chat

    async def _create(
        self,
        persona: str,
        goal: str | None,
        initial_message: str | None,
        quick_action: str | None,
    ) -> tuple[ConsultationInfo, list[Any], bool]:
        """Create a consultation: its info, its greeting, and whether it is new (not adopted)."""
        body: dict[str, Any] = {"persona": persona}
        if goal is not None:
            body["context_type"] = "goal"
            body["context_id"] = goal
        if initial_message is not None:
            body["initial_message"] = initial_message
        if quick_action is not None:
            body["quick_action"] = quick_action
        outcome = await self.rest.request(
            "POST", _CONSULTATIONS, json=body, creating=True, allow=(409,)
        )
        if outcome.status == 409:
            details = outcome.error.details if outcome.error and outcome.error.details else {}
            existing = details.get("existing_consultation_id")
            if not isinstance(existing, str):
                raise LumeError(
                    "The backend says a consultation for this persona already exists but did not "
                    "say which; list them with list_consultations() and open it by id."
                )
            logger.info("create answered 409; adopting the existing consultation")
            return await self.get_consultation(existing), [], False
        info, greeting = consultation_from_create(outcome.data)
        if info is None:
            raise LumeError("The backend's answer to creating a consultation had no id.")
        return info, greeting, True

    async def _newest_history(
        self, consultation_id: str, tier: Tier | None
    ) -> tuple[list[Message], int]:
        """The newest :data:`OPEN_HISTORY` messages of a consultation and where they begin in
        its whole history: a one-message page tells the ``total_count``, then pages of
        :data:`HISTORY_PAGE` are read from ``total - OPEN_HISTORY`` to the end. A backend that
        ignores paging answers the whole history, which is taken as it is (offset 0)."""
        if tier is Tier.LEGACY:
            path = f"/api/v1/wellness/ai/chat/conversations/{consultation_id}/messages"
        else:
            path = f"{_CONSULTATIONS}/{consultation_id}/messages"
        probe = await self.rest.request("GET", path, params={"limit": 1, "offset": 0})
        messages = messages_from_json(probe.data)
        total = history_total(probe.data)
        if (total is not None and total <= len(messages)) or len(messages) > 1:
            return messages, 0  # the whole history (paging ignored, or one message at most)
        start = max(0, total - OPEN_HISTORY) if total is not None else 0
        if total is None or start == 0:
            return await self._whole_history(path), 0
        newest: list[Message] = []
        offset = start
        while True:
            page = await self.rest.request(
                "GET", path, params={"limit": HISTORY_PAGE, "offset": offset}
            )
            messages, found = history_page(page.data, offset)
            if found != offset:  # the whole history, or a page that cannot be placed
                return (messages, 0) if found == 0 else (await self._whole_history(path), 0)
            newest.extend(messages)
            offset += len(messages)
            if len(messages) < HISTORY_PAGE or offset >= total:
                return newest, start  # (messages stored since are read by the next turn)

    async def _whole_history(self, path: str) -> list[Message]:
        outcome = await self.rest.request("GET", path)
        return messages_from_json(outcome.data)

    # ---------------------------------------------------- reference server

    @property
    def is_reference_server(self) -> bool:
        """Whether the backend is this project's reference server (its faults can be switched)."""
        return self.faults.is_reference_server

    @property
    def server_kind(self) -> str:
        """``reference`` or ``remote``."""
        return "reference" if self.is_reference_server else "remote"

    async def get_faults(self) -> dict[str, Any]:
        """The reference server's active faults (``client.faults.get()``)."""
        return await self.faults.get()

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Merge ``faults`` into the reference server's active faults (``client.faults.set()``)."""
        return await self.faults.set(**faults)

    async def clear_faults(self) -> dict[str, Any]:
        """Switch every fault off (``client.faults.clear()``)."""
        return await self.faults.clear()

    # ----------------------------------------------------------------- close

    async def aclose(self) -> None:
        """Close every consultation opened here and the HTTP client."""
        for chat in list(self._consultations):
            await chat.aclose()
        self._consultations.clear()
        await self.rest.aclose()

    async def __aenter__(self) -> LumeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def base_url(url: str) -> str:
    """The backend's base URL from what the user gave: checked, and without ``/api/v1``.

    Every route already starts with ``/api/v1``, so a URL copied with it (``https://host/api/v1``)
    would ask for ``/api/v1/api/v1/...``; it is taken as the host's base URL instead.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{redact_url(url)!r} is not an http(s) URL; pass the backend's base URL, e.g. "
            "https://fit-iq-backend.fly.dev or http://127.0.0.1:8080."
        )
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        logger.info("using %s without %s: every route adds it", redact_url(url), API_PREFIX)
        return urlunsplit(parts._replace(path=path[: -len(API_PREFIX)], query="", fragment=""))
    return url


def _trusts_nothing() -> ssl.SSLContext:
    """The TLS context of a plain-http backend, which never does TLS: it verifies, but trusts no
    certificate, so it costs nothing to make (httpx's default loads every CA certificate, about
    20 ms) and would refuse any https connection it was ever asked for."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _load_http_backend() -> None:
    """Import anyio's asyncio backend, which httpx's first request under asyncio imports (about
    25 ms): done in a thread while the embedded backend starts, the first request does not wait."""
    with contextlib.suppress(ImportError):
        importlib.import_module("anyio._backends._asyncio")


def tls_context(verify: bool | str | os.PathLike[str] | ssl.SSLContext) -> ssl.SSLContext | None:
    """The TLS context for ``verify=``; None means the defaults (system certificates)."""
    if verify is True:
        return None
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    path = os.fspath(verify)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"verify={path!r} is not a readable PEM file of certificates ({exc}); pass the path "
            "of the server's certificate or of its CA's, in PEM format."
        ) from exc


def _missing_settings(
    api_key: str | None, token: str | None, email: str | None, password: str | None
) -> tuple[str, ...]:
    """The settings a login still needs (``token`` stands for "token, or email and password")."""
    missing: list[str] = []
    if not api_key:
        missing.append("api_key")
    if not token:
        if email and not password:
            missing.append("password")
        elif password and not email:
            missing.append("email")
        elif not email:
            missing.append("token")
    return tuple(missing)


def _started_key(info: ConsultationInfo) -> float:
    stamp = info.started_at or info.created_at
    return stamp.timestamp() if stamp is not None else 0.0


use_client(LumeClient.connect)
