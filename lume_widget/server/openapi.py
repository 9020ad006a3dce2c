"""The OpenAPI 3.1 document of the reference server's REST routes, served at /openapi.json.

Written by hand from the routes in ``app.py`` so it states what the server really does
(both profiles' success envelopes, the error shapes, limits), and so property-based tools
such as schemathesis can exercise every route.
"""

from __future__ import annotations

from typing import Any

from lume_widget._version import __version__
from lume_widget.defaults import MAX_MESSAGE_CHARS, PERSONAS
from lume_widget.server.openapi_goals import goal_paths, goal_schemas
from lume_widget.server.quick_actions import CONTEXT_TYPES

STATUSES = ["pending", "pending_approval", "active", "completed", "abandoned", "archived"]

_UUID = {"type": "string", "format": "uuid"}
_TS = {"type": "string", "format": "date-time"}
_OFFSET = {"type": "integer", "minimum": 0, "default": 0}  # no maximum in any source (B2.12)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _envelope(data: dict[str, Any], profile: str) -> dict[str, Any]:
    props: dict[str, Any] = {"data": data}
    required = ["data"]
    if profile == "spec":
        props["success"] = {"type": "boolean", "const": True}
        required.append("success")
    return {"type": "object", "properties": props, "required": required}


def _ok(status: str, schema: dict[str, Any], profile: str, text: str) -> dict[str, Any]:
    return {
        status: {
            "description": text,
            "content": {"application/json": {"schema": _envelope(schema, profile)}},
        }
    }


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "invalid input",
        401: "missing or invalid API key or token",
        403: "not the owner, or the consultation is not active",
        404: "unknown id",
        409: "conflict",
        413: "request body too large",
        429: "too many active consultations, or rate limited",
    }
    return {
        str(code): {
            "description": texts[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for code in codes
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _id_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _UUID}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def openapi_document(profile: str) -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    message = {
        "type": "object",
        "required": ["id", "consultation_id", "role", "content", "created_at"],
        "properties": {
            "id": _UUID,
            "consultation_id": _UUID,
            "role": {"type": "string", "enum": ["user", "assistant", "system", "function"]},
            "content": {"type": "string"},
            "function_name": nullable_str,
            "function_args": nullable_str,
            "tokens_used": {"type": ["integer", "null"]},
            "processing_time_ms": {"type": ["integer", "null"]},
            "created_at": _TS,
        },
    }
    consultation = {
        "type": "object",
        "required": [
            "id",
            "user_id",
            "persona",
            "status",
            "started_at",
            "message_count",
            "created_at",
            "updated_at",
            "has_context_for_goal_suggestions",
        ],
        "properties": {
            "id": _UUID,
            "user_id": _UUID,
            "persona": {"type": "string", "enum": list(PERSONAS)},
            "status": {"type": "string", "enum": STATUSES},
            "goal_id": {"type": ["string", "null"], "format": "uuid"},
            "started_at": _TS,
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "last_message_at": {"type": ["string", "null"], "format": "date-time"},
            "message_count": {"type": "integer", "minimum": 0},
            "context_type": {"type": ["string", "null"], "enum": [*CONTEXT_TYPES, None]},
            "context_id": nullable_str,
            "quick_action": nullable_str,
            "created_at": _TS,
            "updated_at": _TS,
            "has_context_for_goal_suggestions": {"type": "boolean"},
            "messages": {"type": "array", "items": _ref("Message")},
        },
    }
    tokens = {
        "type": "object",
        "required": ["access_token", "refresh_token"],
        "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"}},
    }
    error = (
        {
            "type": "object",
            "required": ["success", "error"],
            "properties": {"success": {"const": False}, "error": {}},
        }
        if profile == "spec"
        else {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string"},
                        "code": {"type": "string"},
                        "details": {"type": "object"},
                    },
                }
            },
        }
    )
    content = {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS, "pattern": r"\S"}
    send_ok = (
        _ok("202", _ref("Message"), profile, "accepted; the reply follows over the WebSocket")
        if profile == "spec"
        else _ok(
            "201",
            {
                "type": "object",
                "required": ["user_message"],
                "properties": {"user_message": _ref("Message")},
            },
            profile,
            "stored",
        )
    )
    cid = [_id_param("consultation_id")]
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "health probe, as the real backend answers it",
                "security": [],
                "responses": {
                    "200": {
                        "description": "up",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status"],
                                    "properties": {"status": {"const": "ok"}},
                                }
                            }
                        },
                    }
                },
            }
        },
        "/ready": {
            "get": {
                "summary": "readiness probe",
                "security": [],
                "responses": {"200": {"description": "ready"}},
            }
        },
        "/healthz": {
            "get": {
                "summary": "readiness, with the server's version, profile and responder",
                "security": [],
                "responses": {"200": {"description": "ready"}},
            }
        },
        "/api/v1/auth/register": {
            "post": {
                "summary": "create an account",
                "security": [{"ApiKey": []}],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["email", "password", "name", "date_of_birth"],
                        "properties": {
                            "email": {"type": "string", "format": "email"},
                            "password": {"type": "string", "minLength": 8, "maxLength": 256},
                            "name": {"type": "string", "minLength": 1, "pattern": r"\S"},
                            "date_of_birth": {
                                "type": "string",
                                "description": "YYYY-MM-DD (or RFC 3339); users must be 13+",
                            },
                        },
                    }
                ),
                "responses": {
                    **_ok(
                        "201",
                        {
                            "type": "object",
                            "required": [
                                "user_id",
                                "email",
                                "name",
                                "created_at",
                                "access_token",
                                "refresh_token",
                            ],
                            "properties": {
                                "user_id": _UUID,
                                "email": {"type": "string"},
                                "name": {"type": "string"},
                                "created_at": _TS,
                                "access_token": {"type": "string"},
                                "refresh_token": {"type": "string"},
                            },
                        },
                        profile,
                        "registered",
                    ),
                    **_errors(400, 401, 409, 413),
                },
            }
        },
        "/api/v1/auth/login": {
            "post": {
                "summary": "log in",
                "security": [{"ApiKey": []}],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["email", "password"],
                        "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
                    }
                ),
                "responses": {
                    **_ok("200", _ref("Tokens"), profile, "tokens"),
                    **_errors(400, 401, 413),
                },
            }
        },
        "/api/v1/auth/refresh": {
            "post": {
                "summary": "rotate tokens (single-use refresh tokens)",
                "security": [{"ApiKey": []}],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["refresh_token"],
                        "properties": {"refresh_token": {"type": "string", "minLength": 1}},
                    }
                ),
                "responses": {
                    **_ok("200", _ref("Tokens"), profile, "new tokens"),
                    **_errors(400, 401, 413),
                },
            }
        },
        "/api/v1/auth/logout": {
            "post": {
                "summary": "revoke a refresh token",
                "security": [{"ApiKey": []}],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["refresh_token"],
                        "properties": {"refresh_token": {"type": "string", "minLength": 1}},
                    }
                ),
                "responses": {"204": {"description": "revoked"}, **_errors(400, 401, 413)},
            }
        },
        "/api/v1/consultations/quick-actions": {
            "get": {
                "summary": "ready-made prompts",
                "parameters": [
                    _query("persona", {"type": "string", "enum": list(PERSONAS)}),
                    _query("context_type", {"type": "string", "enum": list(CONTEXT_TYPES)}),
                ],
                "responses": {
                    **_ok(
                        "200",
                        {"type": "object", "properties": {"actions": {"type": "array"}}},
                        profile,
                        "actions",
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/consultations": {
            "post": {
                "summary": "start a consultation",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["persona"],
                        "properties": {
                            "persona": {"type": "string", "enum": list(PERSONAS)},
                            "goal_id": {"type": ["string", "null"], "format": "uuid"},
                            "initial_message": {
                                "type": ["string", "null"],
                                "minLength": 1,
                                "maxLength": MAX_MESSAGE_CHARS,
                                "pattern": r"\S",
                            },
                            "context_type": {
                                "type": ["string", "null"],
                                "enum": [*CONTEXT_TYPES, None],
                            },
                            "context_id": nullable_str,
                            "quick_action": nullable_str,
                        },
                    }
                ),
                "responses": {
                    **_ok(
                        "201",
                        {
                            "type": "object",
                            "required": ["consultation", "needs_survey"],
                            "properties": {
                                "consultation": _ref("Consultation"),
                                "needs_survey": {"type": "boolean"},
                                "greeting_message": {"oneOf": [_ref("Message"), {"type": "null"}]},
                            },
                        },
                        profile,
                        "created",
                    ),
                    **_errors(400, 401, 404, 409, 413, 429),
                },
            },
            "get": {
                "summary": "list consultations (active unless status is given)",
                "parameters": [
                    _query("status", {"type": "string", "enum": STATUSES}),
                    _query("persona", {"type": "string", "enum": list(PERSONAS)}),
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
                    ),
                    _query("offset", _OFFSET),
                ],
                "responses": {
                    **_ok(
                        "200",
                        {
                            "type": "object",
                            "properties": {
                                "consultations": {"type": "array", "items": _ref("Consultation")},
                                "total_count": {"type": "integer"},
                                "limit": {"type": "integer"},
                                "offset": {"type": "integer"},
                            },
                        },
                        profile,
                        "page",
                    ),
                    **_errors(400, 401),
                },
            },
        },
        "/api/v1/consultations/{consultation_id}": {
            "parameters": cid,
            "get": {
                "summary": "one consultation (flat)",
                "responses": {
                    **_ok("200", _ref("Consultation"), profile, "consultation"),
                    **_errors(400, 401, 403, 404),
                },
            },
            "delete": {
                "summary": "delete with its messages",
                "responses": {"204": {"description": "deleted"}, **_errors(400, 401, 403, 404)},
            },
        },
        "/api/v1/consultations/{consultation_id}/messages": {
            "parameters": cid,
            "get": {
                "summary": "history, oldest first",
                "parameters": [
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                    _query("offset", _OFFSET),
                ],
                "responses": {
                    **_ok(
                        "200",
                        {
                            "type": "object",
                            "properties": {
                                "messages": {"type": "array", "items": _ref("Message")},
                                "total_count": {"type": "integer"},
                            },
                        },
                        profile,
                        "messages",
                    ),
                    **_errors(400, 401, 403, 404),
                },
            },
            "post": {
                "summary": "send a message; the reply is generated in the background",
                "requestBody": _body(
                    {"type": "object", "required": ["content"], "properties": {"content": content}}
                ),
                "responses": {**send_ok, **_errors(400, 401, 403, 404, 413)},
            },
        },
        "/api/v1/consultations/{consultation_id}/complete": {
            "parameters": cid,
            "post": {
                "summary": "active -> completed",
                "responses": {
                    **_ok("200", _ref("Consultation"), profile, "completed"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
    }
    paths.update(goal_paths(profile))
    legacy = "/api/v1/wellness/ai/chat/conversations/{consultation_id}/messages"
    paths[legacy] = {**paths["/api/v1/consultations/{consultation_id}/messages"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lume_widget reference server",
            "version": __version__,
            "description": f"Wire profile: {profile}. WebSockets are described in docs/protocol.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": [], "Bearer": []}],
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": {
                "Message": message,
                "Consultation": consultation,
                **goal_schemas(profile),
                "Tokens": tokens,
                "Error": error,
            },
        },
        "paths": paths,
    }
