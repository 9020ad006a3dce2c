"""The reference server's ASGI application: routes, middleware, start-up and shut-down.

Starlette on uvicorn, because the backend it imitates serves REST and its WebSocket on
one port and one origin (PROTOCOL B1.1: the WS base URL must be the bare origin), and
Starlette gives both, plus denial responses for refused upgrades (401/403/404 at upgrade
time), with little code of our own. The database is opened, the schema created and the
demo user ensured in the lifespan, before the server accepts its first request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from lume_widget._version import __version__
from lume_widget.server import goal_extras, goals, rest, ws
from lume_widget.server.auth import Authenticator
from lume_widget.server.config import ServerConfig
from lume_widget.server.faults import AdminApi, FaultState, HttpFaultMiddleware
from lume_widget.server.openai_responder import OpenAIResponder
from lume_widget.server.openapi import openapi_document
from lume_widget.server.responders import Responder, ScriptedResponder
from lume_widget.server.state import ServerState
from lume_widget.server.store import Store, StoreError
from lume_widget.server.wire import ApiProblem, error_response, success

logger = logging.getLogger(__name__)

API = "/api/v1"
CONSULTATION = API + "/consultations/{consultation_id}"
GOAL = API + "/goals/{goal_id}"
LEGACY = API + "/wellness/ai/chat"
SHUTDOWN_GRACE_S = 5.0


async def ensure_demo_user(store: Store, auth: Authenticator, email: str, password: str) -> None:
    """Create the configured user, or reset its password to the configured one.

    Several servers may start on one database file at once (the embedded server of two
    notebooks): whoever creates the user first wins, the others find it.
    """
    user = await store.user_by_email(email)
    if user is None:
        try:
            await store.create_user(email, await auth.hash_password(password), "Demo User", None)
            logger.info("created the demo user")
            return
        except StoreError:
            user = await store.user_by_email(email)
            assert user is not None
    if not await auth.verify_password(password, user["password_hash"]):
        await store.set_password(user["id"], await auth.hash_password(password))
        logger.info("reset the demo user's password to the configured one")


class TransportCapture:
    """Outermost ASGI layer: remembers the socket's transport so a fault can reset it.

    ASGI offers no way to drop a connection without a close frame; uvicorn's protocol
    object is the owner of the ``send`` callable it hands us and holds the transport.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            scope["lume.transport"] = getattr(protocol, "transport", None)
        await self.app(scope, receive, send)


def build_app(config: ServerConfig, faults: FaultState | None = None) -> ASGIApp:
    """The ASGI app for ``config``; ``faults`` lets a caller keep a handle on the faults."""
    config.validate()
    fault_state = faults or FaultState(config.faults)
    admin = AdminApi(fault_state, config.admin_token)
    profile = config.profile

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await Store.open(config.db, config.busy_timeout_ms)
        responder = make_responder(
            config.responder,
            openai_base_url=config.openai_base_url,
            openai_model=config.openai_model,
            openai_api_key=config.openai_api_key,
        )
        try:
            secret = await store.secret("jwt_secret")
            auth = Authenticator(
                store, secret, config.api_key, config.access_ttl_s, config.refresh_ttl_s
            )
            await ensure_demo_user(store, auth, config.email, config.password)
            app.state.lume = ServerState(config, store, auth, responder, fault_state)
            await app.state.lume.answer_unanswered()
            yield
            await app.state.lume.drain(SHUTDOWN_GRACE_S)
        finally:
            await responder.aclose()
            await store.aclose()

    async def problem_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return error_response(exc, profile, request.url.path)

    async def http_error_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {
            404: f"no such route: {request.method} {request.url.path}",
            405: f"method {request.method} is not allowed on {request.url.path}",
        }.get(exc.status_code, str(exc.detail))
        return error_response(ApiProblem(exc.status_code, message), profile, request.url.path)

    async def internal_error_handler(request: Request, exc: Exception) -> Response:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(
            ApiProblem(
                500, "internal server error: the server logged the details", code="INTERNAL"
            ),
            profile,
            request.url.path,
        )

    async def healthz(request: Request) -> Response:
        state: ServerState = request.app.state.lume
        return success(
            {
                "status": "ok",
                "version": __version__,
                "profile": profile,
                "responder": state.responder.name,
            },
            profile,
        )

    async def health(request: Request) -> Response:
        # The real backend's probe (FITIQ32): bare origin, no key or token, no envelope.
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready"})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(profile))

    routes: list[Any] = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/admin/faults", admin.endpoint, methods=["GET", "PUT", "DELETE"]),
        Route(API + "/auth/register", rest.register, methods=["POST"]),
        Route(API + "/auth/login", rest.login, methods=["POST"]),
        Route(API + "/auth/refresh", rest.refresh, methods=["POST"]),
        Route(API + "/auth/logout", rest.logout, methods=["POST"]),
        Route(API + "/goals", goals.create_goal, methods=["POST"]),
        Route(API + "/goals", goals.list_goals, methods=["GET"]),
        Route(API + "/goals/suggestions", goal_extras.suggest_goals, methods=["POST"]),
        Route(
            API + "/goals/instances/{instance_id}/progress",
            goal_extras.update_instance_progress,
            methods=["PUT"],
        ),
        Route(GOAL + "/today", goal_extras.goal_today, methods=["GET"]),
        Route(GOAL + "/history", goal_extras.goal_history, methods=["GET"]),
        Route(GOAL + "/tips", goal_extras.goal_tips, methods=["GET"]),
        Route(GOAL + "/activities", goal_extras.add_activity, methods=["POST"]),
        Route(GOAL + "/activities", goal_extras.list_activities, methods=["GET"]),
        Route(GOAL, goals.get_goal, methods=["GET"]),
        Route(GOAL, goals.update_goal, methods=["PUT"]),
        Route(GOAL, goals.delete_goal, methods=["DELETE"]),
        Route(GOAL + "/progress", goals.update_progress, methods=["PATCH"]),
        Route(GOAL + "/complete", goals.complete_goal, methods=["POST"]),
        Route(GOAL + "/abandon", goals.abandon_goal, methods=["POST"]),
        Route(API + "/consultations/quick-actions", rest.list_quick_actions, methods=["GET"]),
        Route(API + "/consultations", rest.create_consultation, methods=["POST"]),
        Route(API + "/consultations", rest.list_consultations, methods=["GET"]),
        Route(CONSULTATION, rest.get_consultation, methods=["GET"]),
        Route(CONSULTATION, rest.delete_consultation, methods=["DELETE"]),
        Route(CONSULTATION + "/messages", rest.list_messages, methods=["GET"]),
        Route(CONSULTATION + "/messages", rest.send_message, methods=["POST"]),
        Route(CONSULTATION + "/complete", rest.complete_consultation, methods=["POST"]),
        WebSocketRoute(CONSULTATION + "/ws", ws.consultation_socket),
        Route(
            LEGACY + "/conversations/{consultation_id}/messages",
            rest.list_messages,
            methods=["GET"],
        ),
        Route(
            LEGACY + "/conversations/{consultation_id}/messages",
            rest.send_message,
            methods=["POST"],
        ),
        WebSocketRoute(LEGACY + "/ws/{consultation_id}", ws.legacy_socket),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(HttpFaultMiddleware, faults=fault_state, profile=profile)],
        exception_handlers={
            ApiProblem: problem_handler,
            HTTPException: http_error_handler,
            Exception: internal_error_handler,
        },
        lifespan=lifespan,
    )
    return TransportCapture(app)


def make_responder(
    kind: str,
    *,
    openai_base_url: str | None = None,
    openai_model: str = "gpt-4o-mini",
    openai_api_key: str | None = None,
) -> Responder:
    """The responder a configuration names: ``scripted`` or ``openai``."""
    if kind == "scripted":
        return ScriptedResponder()
    if kind == "openai":
        return OpenAIResponder(base_url=openai_base_url, model=openai_model, api_key=openai_api_key)
    raise ValueError(f"unknown responder {kind!r}: use 'scripted' or 'openai'")
