"""The driver of a consultation: performs the session core's actions and reports back.

:class:`ActionDriver` is the I/O half of :class:`~lume_widget.client.consultation.Consultation`:
each action the sans-I/O session asks for (open a socket, send, read the history after a
delay, close) runs as a small task, and every task ends by feeding its outcome to the session
as an input: an answer, a failure, or (for an error nobody handled) ``task_failed`` /
``credentials_failed``. It holds the open links and the tasks; the consultation holds the
session, the pump and the listeners, and hands the driver its ``apply`` and ``flush``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from lume_widget.client.live import (
    SocketFailure,
    SocketLink,
    open_socket,
    socket_headers,
    socket_url,
)
from lume_widget.core.actions import (
    Action,
    CloseLegacy,
    CloseLive,
    ConnectLegacy,
    ConnectLive,
    FetchHistory,
    SendLive,
    SendPing,
    SendRest,
)
from lume_widget.core.events import Tier
from lume_widget.core.wire import HISTORY_PAGE, history_page, messages_from_json, send_answer
from lume_widget.errors import AuthenticationError, ConnectionFailedError

if TYPE_CHECKING:
    from lume_widget.client.auth import LumeAuth
    from lume_widget.client.live import WsConnector
    from lume_widget.client.rest import Outcome, RestApi
    from lume_widget.core.models import Message
    from lume_widget.core.session import Session
    from lume_widget.core.settings import Settings

__all__ = ["ActionDriver", "LinkHost", "consultations_path", "legacy_path"]

logger = logging.getLogger(__name__)


class LinkHost(Protocol):
    """What the driver needs of the client: where the backend is, how to authenticate,
    its REST API, the socket connector and the clock's sleep."""

    url: str
    settings: Settings
    auth: LumeAuth
    rest: RestApi
    ws_connector: WsConnector | None
    sleep: Callable[[float], Awaitable[None]]


def consultations_path(consultation_id: str) -> str:
    """The consultation's REST and live socket base path (PROTOCOL A2)."""
    return f"/api/v1/consultations/{consultation_id.lower()}"


def legacy_path(consultation_id: str) -> str:
    """The legacy chat channel's REST base path for a consultation."""
    return f"/api/v1/wellness/ai/chat/conversations/{consultation_id.lower()}"


class ActionDriver:
    """Performs the session's actions for consultation ``consultation_id``.

    ``apply(step)`` feeds one input to the session at the current time and performs and
    publishes what follows; ``flush()`` does the latter for an input already fed;
    ``closed()`` says whether the consultation was closed (late outcomes are dropped then).
    """

    def __init__(
        self,
        client: LinkHost,
        session: Session,
        consultation_id: str,
        *,
        apply: Callable[[Callable[[float], Any]], Any],
        flush: Callable[[], None],
        clock: Callable[[], float],
        closed: Callable[[], bool],
    ) -> None:
        self._client = client
        self._session = session
        self.id = consultation_id
        self._apply = apply
        self._flush = flush
        self._clock = clock
        self._closed = closed
        self._sleep = client.sleep
        self.loop: asyncio.AbstractEventLoop | None = None
        """The consultation's loop, where every task runs (set when it starts)."""
        self.tasks: set[asyncio.Task[Any]] = set()
        self.live: tuple[int, SocketLink] | None = None
        self.legacy: tuple[int, SocketLink] | None = None
        self.closing_links: set[SocketLink] = set()
        self.paging: bool | None = None
        """Whether the backend pages history reads (``limit``/``offset``): None until an
        answer shows it; False after one answered a page with the whole history."""

    def detach_links(self) -> list[SocketLink]:
        """Every link open or closing, forgotten here: the caller stops them."""
        links = [pair[1] for pair in (self.live, self.legacy) if pair is not None]
        links += list(self.closing_links)
        self.live = self.legacy = None
        return links

    async def shutdown(self, links: list[SocketLink]) -> None:
        """Cancel every task, stop ``links`` and wait for the tasks to end."""
        for task in list(self.tasks):
            task.cancel()
        for link in links:
            await link.stop()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def spawn(self, coro: Any, name: str) -> None:
        # the consultation's own loop, even when called from synchronous code (pin_tier)
        loop = self.loop or asyncio.get_running_loop()
        task = loop.create_task(coro, name=f"lume:{name}")
        self.tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(done, name))

    def _task_done(self, task: asyncio.Task[Any], name: str) -> None:
        """Every task ends by telling the session how: an error nobody handled is an input."""
        self.tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        assert error is not None
        logger.debug("client task %s failed", name, exc_info=error)
        if self._closed():
            return
        try:
            if isinstance(error, AuthenticationError):
                self._apply(lambda now: self._session.credentials_failed(error, now))
            else:
                self._apply(lambda now: self._session.task_failed(name, error, now))
        except Exception:  # pragma: no cover - a bug in the core; keep the loop alive
            logger.exception("reporting the failure of task %s failed", name)

    def perform(self, action: Action) -> None:
        if isinstance(action, ConnectLive):
            self.spawn(self._connect_live(action), "live connect")
        elif isinstance(action, CloseLive):
            if self.live is not None:
                link = self.live[1]
                self.live = None
                self.closing_links.add(link)
                self.spawn(self._close_link(link, abrupt=action.abrupt), "live close")
        elif isinstance(action, SendLive):
            self._send_on_live(action.generation, {"type": "message", "content": action.text})
        elif isinstance(action, SendPing):
            self._send_on_live(action.generation, {"type": "ping"})
        elif isinstance(action, SendRest):
            self.spawn(self._send_rest(action), "send")
        elif isinstance(action, FetchHistory):
            self.spawn(self._fetch_history(action), f"history read ({action.purpose})")
        elif isinstance(action, ConnectLegacy):
            self.spawn(self._connect_legacy(action), "legacy connect")
        elif isinstance(action, CloseLegacy) and self.legacy is not None:
            link = self.legacy[1]
            self.legacy = None
            self.closing_links.add(link)
            self.spawn(self._close_link(link, abrupt=False), "legacy close")

    async def _close_link(self, link: SocketLink, *, abrupt: bool) -> None:
        try:
            await link.close(abrupt=abrupt)
        finally:
            self.closing_links.discard(link)

    def _send_on_live(self, generation: int, payload: dict[str, Any]) -> None:
        if self.live is None or self.live[0] != generation:
            self._apply(lambda now: self._session.live_closed(generation, "not connected", now))
            return
        self.spawn(self.live[1].send(json.dumps(payload)), "live send")

    async def _open(self, path: str, timeout: float) -> Any:
        """Open a socket on ``path``; a 401 refreshes the token once and retries once."""
        auth = self._client.auth
        ws_auth = self._client.settings.ws_auth
        for attempt in (1, 2):
            token = await auth.access_token()
            url = socket_url(self._client.url, path, token, ws_auth)
            try:
                return await open_socket(
                    url,
                    socket_headers(auth.headers(), ws_auth),
                    timeout=timeout,
                    settings=self._client.settings,
                    connector=self._client.ws_connector,
                )
            except SocketFailure as failure:
                if failure.status == 401 and attempt == 1:
                    await auth.refresh(token)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connect_live(self, action: ConnectLive) -> None:
        if action.delay_s > 0:
            await self._sleep(action.delay_s)
        gen = action.generation
        try:
            connection = await self._open(f"{consultations_path(self.id)}/ws", action.timeout_s)
        except SocketFailure as failure:
            status, reason = failure.status, failure.reason
            self._apply(lambda now: self._session.live_connect_failed(gen, status, reason, now))
            return
        except AuthenticationError as exc:  # the token cannot be renewed: say so now
            gone = exc
            self._apply(lambda now: self._session.credentials_failed(gone, now))
            return
        except ConnectionFailedError as exc:  # the refresh failed for now: retry with backoff
            message = exc.message
            self._apply(lambda now: self._session.live_connect_failed(gen, None, message, now))
            return
        except Exception as exc:  # anything else the connector raised: a failed attempt too
            why = f"could not connect ({type(exc).__name__}: {exc})"
            logger.warning("live connect raised %s", type(exc).__name__, exc_info=exc)
            self._apply(lambda now: self._session.live_connect_failed(gen, None, why, now))
            return
        if gen != self._session.live_generation or self._closed():
            await SocketLink(connection, lambda f: None, lambda r: None, "live").close()
            return
        link = SocketLink(
            connection,
            lambda frame: self._live_frame(gen, frame),
            lambda reason: self._apply(lambda now: self._session.live_closed(gen, reason, now)),
            "live",  # its keepalive is the session core's app ping and pong
        )
        self.live = (gen, link)
        self._apply(lambda now: self._session.live_opened(gen, now))
        link.start()

    def _live_frame(self, generation: int, frame: str | bytes) -> None:
        """A frame of the live socket (``_apply`` without its closure: one per frame)."""
        self._session.message_received(generation, frame, self._clock())
        self._flush()

    async def _connect_legacy(self, action: ConnectLegacy) -> None:
        if action.delay_s > 0:
            await self._sleep(action.delay_s)
        gen = action.generation
        path = f"/api/v1/wellness/ai/chat/ws/{self.id.lower()}"
        try:
            connection = await self._open(path, self._client.settings.connect_timeout_s)
        except AuthenticationError as exc:
            gone = exc
            self._apply(lambda now: self._session.credentials_failed(gone, now))
            return
        except (SocketFailure, ConnectionFailedError) as failure:
            reason = failure.reason if isinstance(failure, SocketFailure) else failure.message
            self._apply(lambda now: self._session.legacy_failed(gen, reason, now))
            return
        except Exception as exc:  # anything else the connector raised: a failed attempt too
            why = f"could not connect ({type(exc).__name__}: {exc})"
            logger.warning("legacy connect raised %s", type(exc).__name__, exc_info=exc)
            self._apply(lambda now: self._session.legacy_failed(gen, why, now))
            return
        if gen != self._session.legacy_generation or self._closed():
            await SocketLink(connection, lambda f: None, lambda r: None, "legacy").close()
            return
        link = SocketLink(
            connection,
            lambda frame: self._apply(
                lambda now: self._session.legacy_message_received(gen, frame, now)
            ),
            lambda reason: self._apply(lambda now: self._session.legacy_failed(gen, reason, now)),
            "legacy",
            ping_interval_s=self._client.settings.ws_ping_interval_s,
            ping_timeout_s=self._client.settings.ws_ping_timeout_s,
        )
        self.legacy = (gen, link)
        self._apply(lambda now: self._session.legacy_opened(gen, now))
        link.start()

    async def _send_rest(self, action: SendRest) -> None:
        if action.delay_s > 0:
            await self._sleep(action.delay_s)
        base = legacy_path(self.id) if action.tier is Tier.LEGACY else consultations_path(self.id)
        outcome = await self._client.rest.call(
            "POST", f"{base}/messages", json={"content": action.text}
        )
        rid = action.request_id
        if self._credentials_gone(outcome):
            return
        if outcome.ok:
            user, assistant = send_answer(outcome.data)
            self._apply(lambda now: self._session.send_succeeded(rid, user, assistant, now))
            return
        reason, code = _why(outcome)
        self._apply(
            lambda now: self._session.send_failed(
                rid, outcome.status, outcome.retry_after, reason, now, code=code
            )
        )

    async def _fetch_history(self, action: FetchHistory) -> None:
        if action.delay_s > 0:
            await self._sleep(action.delay_s)
        base = legacy_path(self.id) if action.tier is Tier.LEGACY else consultations_path(self.id)
        path = f"{base}/messages"
        offset = action.offset if self.paging is not False else 0
        params = {"offset": offset, "limit": HISTORY_PAGE} if offset else None
        outcome = await self._client.rest.call("GET", path, params=params)
        rid = action.request_id
        start = 0
        messages: list[Message] = []
        if outcome.ok:
            messages, found = history_page(outcome.data, offset)
            if offset:  # True: it pages; False: it answered whole, or could not be placed
                self.paging = found == offset
            if found is None or (found and len(messages) >= HISTORY_PAGE):
                # a page that cannot be placed, or more pages after it: read it all
                outcome = await self._client.rest.call("GET", path)
                messages = messages_from_json(outcome.data) if outcome.ok else []
                found = 0
            start = found
        if self._credentials_gone(outcome):
            return
        if outcome.ok:
            self._apply(lambda now: self._session.history_received(rid, messages, now, start=start))
            return
        reason, code = _why(outcome)
        self._apply(
            lambda now: self._session.history_failed(
                rid, outcome.status, outcome.retry_after, reason, now, code=code
            )
        )

    def _credentials_gone(self, outcome: Outcome) -> bool:
        """Report credentials that cannot be renewed; True if the outcome was that."""
        failure = outcome.failure
        if not isinstance(failure, AuthenticationError):
            return False
        self._apply(lambda now: self._session.credentials_failed(failure, now))
        return True


def _why(outcome: Outcome) -> tuple[str, str | None]:
    """A failed request's reason and the backend's error code, for the session's input."""
    info = outcome.error
    return (info.message, info.code) if info else ("no answer", None)
