"""The goals part of the reference server's OpenAPI document: GOALS34's routes and schemas.

Kept apart from ``openapi.py`` because the goals API has its own envelope and error
object (GOALS34 ``StandardResponse`` and ``ErrorResponse``, PROTOCOL B9.4), and its own
date formats per profile (B9.5): ``YYYY-MM-DD`` observed, date-times in ``spec``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["goal_paths", "goal_schemas"]

GOAL_TYPES = ["weight", "activity", "nutrition", "custom"]
GOAL_STATUSES = ["active", "completed", "abandoned"]
RECURRENCE_PATTERNS = ["daily", "weekly", "monthly"]

_UUID = {"type": "string", "format": "uuid"}
_TS = {"type": "string", "format": "date-time"}
_DAY = {"type": "string", "format": "date"}
_JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type", "string")
    rest = {k: v for k, v in schema.items() if k not in ("type", "enum")}
    if "enum" in schema:
        rest["enum"] = [*schema["enum"], None]
    return {"type": [kind, "null"], **rest}


def goal_schemas(profile: str) -> dict[str, Any]:
    """Goal, GoalList, GoalStatistics, the request bodies and GoalError for ``profile``."""
    day = _DAY if profile == "observed" else _TS
    goal_properties: dict[str, Any] = {
        "id": _UUID,
        "user_id": _UUID,
        "goal_type": {"type": "string", "enum": GOAL_TYPES},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": _nullable({"type": "string", "maxLength": 1000}),
        "target_value": {"type": "number"},
        "target_unit": {"type": "string", "maxLength": 50},
        "current_value": {"type": "number"},
        "progress": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "current_value / target_value, from 0 to 1 (GAC)",
        },
        "start_date": day,
        "target_date": _nullable(day),
        "status": {"type": "string", "enum": GOAL_STATUSES},
        "is_recurring": {"type": "boolean"},
        "recurrence_pattern": _nullable({"type": "string", "enum": RECURRENCE_PATTERNS}),
        "recurrence_days": {
            "type": ["array", "null"],
            "items": {"type": "integer", "minimum": 0, "maximum": 6},
        },
        "recurrence_end_date": _nullable(day),
        "is_overdue": {"type": "boolean"},
        "days_remaining": {
            "type": ["integer", "null"],
            "description": "days to target_date; -1 for a recurring goal without one",
        },
        "completed_at": _nullable(_TS),
        "created_at": _TS,
        "updated_at": _TS,
        "statistics": {"oneOf": [_ref("GoalStatistics"), {"type": "null"}]},
    }
    always = [
        "id", "user_id", "goal_type", "title", "description", "target_value", "target_unit",
        "current_value", "progress", "start_date", "status", "is_recurring", "is_overdue",
        "created_at", "updated_at",
    ]  # fmt: skip
    if profile == "spec":
        always += [
            "target_date", "recurrence_pattern", "recurrence_days", "recurrence_end_date",
            "days_remaining", "completed_at",
        ]  # fmt: skip
    page: dict[str, Any] = {
        "goals": {"type": "array", "items": _ref("Goal")},
        "total": {"type": "integer", "minimum": 0, "description": "goals matching the filters"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        "offset": {"type": "integer", "minimum": 0},
    }
    if profile == "observed":
        page["has_more"] = {"type": "boolean"}
    request_day = {"type": "string", "format": "date"}
    return {
        "Goal": {"type": "object", "required": always, "properties": goal_properties},
        "GoalList": {"type": "object", "required": list(page), "properties": page},
        "GoalStatistics": {
            "type": "object",
            "properties": {
                "progress_percentage": {"type": "number", "minimum": 0, "maximum": 100},
                "days_active": {"type": "integer"},
                "days_remaining": {"type": ["integer", "null"]},
                "average_daily_progress": {"type": "number"},
                "current_streak": {"type": "integer"},
                "longest_streak": {"type": "integer"},
                "total_updates": {"type": "integer"},
                "completion_rate": {"type": "number"},
                "trend": {"type": "string", "enum": ["improving", "stable", "declining"]},
                "best_day": {"type": ["string", "null"], "format": "date"},
                "estimated_completion_date": {"type": ["string", "null"], "format": "date"},
            },
        },
        "CreateGoalRequest": {
            "type": "object",
            "required": ["goal_type", "title", "target_value", "target_unit", "start_date"],
            "properties": {
                "goal_type": {"type": "string", "enum": GOAL_TYPES},
                "title": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
                "description": _nullable({"type": "string", "maxLength": 1000}),
                "target_value": {"type": "number", "minimum": 0},
                "target_unit": {"type": "string", "maxLength": 50},
                "start_date": request_day,
                "target_date": _nullable(request_day),
                "is_recurring": {"type": "boolean", "default": False},
                "recurrence_pattern": {
                    **_nullable({"type": "string", "enum": RECURRENCE_PATTERNS}),
                    "description": "required if is_recurring is true",
                },
                "recurrence_days": {
                    "type": ["array", "null"],
                    "items": {"type": "integer", "minimum": 0, "maximum": 6},
                    "description": "0 = Sunday",
                },
                "recurrence_end_date": _nullable(request_day),
            },
        },
        "UpdateGoalRequest": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
                "description": _nullable({"type": "string", "maxLength": 1000}),
                "target_value": {"type": "number", "minimum": 0},
                "target_date": _nullable(request_day),
            },
        },
        "UpdateProgressRequest": {
            "type": "object",
            "required": ["current_value"],
            "properties": {"current_value": {"type": "number", "minimum": 0}},
        },
        "GoalInstance": {
            "type": "object",
            "required": [
                "id",
                "goal_id",
                "instance_date",
                "target_value",
                "current_value",
                "status",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "id": _UUID,
                "goal_id": _UUID,
                "instance_date": _DAY,
                "target_value": {"type": "number"},
                "current_value": {"type": "number"},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "status": {
                    "type": "string",
                    "enum": ["pending", "in_progress", "completed", "missed"],
                },
                "created_at": _TS,
                "updated_at": _TS,
            },
        },
        "GoalHistory": {
            "type": "object",
            "required": ["goal_id", "instances", "summary", "total", "limit", "offset"],
            "properties": {
                "goal_id": _UUID,
                "instances": {"type": "array", "items": _ref("GoalInstance")},
                "summary": {
                    "type": "object",
                    "required": [
                        "total_instances",
                        "completed_count",
                        "missed_count",
                        "completion_rate",
                        "current_streak",
                        "longest_streak",
                    ],
                    "properties": {
                        "total_instances": {"type": "integer"},
                        "completed_count": {"type": "integer"},
                        "missed_count": {"type": "integer"},
                        "completion_rate": {"type": "number", "minimum": 0, "maximum": 1},
                        "current_streak": {"type": "integer"},
                        "longest_streak": {"type": "integer"},
                    },
                },
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
        },
        "GoalSuggestions": {
            "type": "object",
            "required": ["suggestions", "count"],
            "properties": {
                "suggestions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "title",
                            "description",
                            "goal_type",
                            "target_value",
                            "target_unit",
                            "rationale",
                            "estimated_duration",
                            "difficulty",
                        ],
                        "properties": {
                            "title": {"type": "string", "maxLength": 50},
                            "description": {"type": "string"},
                            "goal_type": {"type": "string", "enum": GOAL_TYPES},
                            "target_value": {"type": "number"},
                            "target_unit": {"type": "string"},
                            "rationale": {"type": "string"},
                            "estimated_duration": {"type": "integer", "description": "days"},
                            "difficulty": {"type": "integer", "minimum": 1, "maximum": 5},
                        },
                    },
                },
                "count": {"type": "integer"},
            },
        },
        "GoalTips": {
            "type": "object",
            "required": ["goal_id", "tips", "count"],
            "properties": {
                "goal_id": _UUID,
                "tips": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 5,
                    "maxItems": 7,
                },
                "count": {"type": "integer"},
            },
        },
        "GoalActivity": {
            "type": "object",
            "required": [
                "id",
                "goal_id",
                "user_id",
                "activity_type",
                "value",
                "logged_at",
                "created_at",
            ],
            "properties": {
                "id": _UUID,
                "goal_id": _UUID,
                "user_id": _UUID,
                "activity_type": {"type": "string"},
                "value": {"type": "number"},
                "notes": {"type": ["string", "null"], "maxLength": 500},
                "logged_at": _TS,
                "created_at": _TS,
            },
        },
        "ActivityList": {
            "type": "object",
            "required": ["activities", "total", "limit", "offset"],
            "properties": {
                "activities": {"type": "array", "items": _ref("GoalActivity")},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "has_more": {"type": "boolean"},
            },
        },
        "CreateActivityRequest": {
            "type": "object",
            "required": ["activity_type", "value"],
            "properties": {
                "activity_type": {"type": "string", "minLength": 1, "pattern": r"\S"},
                "value": {"type": "number"},
                "notes": {"type": ["string", "null"], "maxLength": 500},
            },
        },
        "GoalError": (
            {
                "type": "object",
                "required": ["success", "data", "error"],
                "properties": {
                    "success": {"const": False},
                    "data": {"type": "null"},
                    "error": {
                        "type": "object",
                        "required": ["message"],
                        "properties": {"message": {"type": "string"}},
                    },
                },
            }
            if profile == "spec"
            else _ref("Error")  # the observed error object, as on every other route
        ),
    }


def _ok(status: str, schema: dict[str, Any], profile: str, text: str) -> dict[str, Any]:
    props: dict[str, Any] = {"data": schema}
    required = ["data"]
    if profile == "spec":
        props.update(success={"const": True}, error={"type": "null"})
        required += ["success", "error"]
    envelope = {"type": "object", "required": required, "properties": props}
    return {status: {"description": text, "content": {_JSON: {"schema": envelope}}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "invalid input: a required field, an enum value or a minimum",
        401: "missing or invalid API key or token",
        403: "the goal belongs to another user",
        404: "goal (or instance) not found",
        413: "request body too large",
    }
    return {
        str(code): {"description": texts[code], "content": {_JSON: {"schema": _ref("GoalError")}}}
        for code in codes
    }


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": _ref(name)}}}


def goal_paths(profile: str) -> dict[str, Any]:
    """The fifteen goals routes the server answers, under ``/api/v1`` (PROTOCOL B9.1)."""
    statistics = _query("include_statistics", {"type": "boolean", "default": False})
    path = {"name": "goal_id", "in": "path", "required": True, "schema": _UUID}
    goal = _ref("Goal")
    one = "/api/v1/goals/{goal_id}"
    return {
        "/api/v1/goals": {
            "post": {
                "summary": "create a goal (current_value 0, progress 0, status active)",
                "requestBody": _body("CreateGoalRequest"),
                "responses": {
                    **_ok("201", goal, profile, "created"),
                    **_errors(400, 401, 413),
                },
            },
            "get": {
                "summary": "list goals, oldest first",
                "parameters": [
                    _query("type", {"type": "string", "enum": GOAL_TYPES}),
                    _query("status", {"type": "string", "enum": GOAL_STATUSES}),
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
                    ),
                    _query("offset", {"type": "integer", "minimum": 0, "default": 0}),
                    statistics,
                ],
                "responses": {
                    **_ok("200", _ref("GoalList"), profile, "one page"),
                    **_errors(400, 401),
                },
            },
        },
        one: {
            "parameters": [{"name": "goal_id", "in": "path", "required": True, "schema": _UUID}],
            "get": {
                "summary": "one goal",
                "parameters": [statistics],
                "responses": {**_ok("200", goal, profile, "goal"), **_errors(400, 401, 403, 404)},
            },
            "put": {
                "summary": "change title, description, target_value or target_date",
                "requestBody": _body("UpdateGoalRequest"),
                "responses": {
                    **_ok("200", goal, profile, "updated"),
                    **_errors(400, 401, 403, 404, 413),
                },
            },
            "delete": {
                "summary": "delete a goal (consultations about it keep working)",
                "responses": {"204": {"description": "deleted"}, **_errors(400, 401, 403, 404)},
            },
        },
        one + "/progress": {
            "parameters": [{"name": "goal_id", "in": "path", "required": True, "schema": _UUID}],
            "patch": {
                "summary": "record the current value",
                "requestBody": _body("UpdateProgressRequest"),
                "responses": {
                    **_ok("200", goal, profile, "updated"),
                    **_errors(400, 401, 403, 404, 413),
                },
            },
        },
        "/api/v1/goals/suggestions": {
            "post": {
                "summary": "3 to 5 goal suggestions from the user's goals (scripted)",
                "responses": {
                    **_ok("200", _ref("GoalSuggestions"), profile, "suggestions"),
                    **_errors(401),
                },
            }
        },
        "/api/v1/goals/instances/{instance_id}/progress": {
            "parameters": [
                {"name": "instance_id", "in": "path", "required": True, "schema": _UUID}
            ],
            "put": {
                "summary": "record the current value of one day's instance",
                "requestBody": _body("UpdateProgressRequest"),
                "responses": {
                    **_ok("200", _ref("GoalInstance"), profile, "updated"),
                    **_errors(400, 401, 403, 404, 413),
                },
            },
        },
        one + "/today": {
            "parameters": [path],
            "get": {
                "summary": "today's instance of a recurring goal (created on first ask)",
                "responses": {
                    **_ok("200", _ref("GoalInstance"), profile, "today"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
        one + "/history": {
            "parameters": [path],
            "get": {
                "summary": "a recurring goal's instances, newest first, with a summary",
                "parameters": [
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 30}
                    ),
                    _query("offset", {"type": "integer", "minimum": 0, "default": 0}),
                    _query("from", _DAY),
                    _query("to", _DAY),
                ],
                "responses": {
                    **_ok("200", _ref("GoalHistory"), profile, "history"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
        one + "/tips": {
            "parameters": [path],
            "get": {
                "summary": "5 to 7 tips for the goal, as plain strings (scripted)",
                "responses": {
                    **_ok("200", _ref("GoalTips"), profile, "tips"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
        one + "/activities": {
            "parameters": [path],
            "post": {
                "summary": "log an activity",
                "requestBody": _body("CreateActivityRequest"),
                "responses": {
                    **_ok("201", _ref("GoalActivity"), profile, "logged"),
                    **_errors(400, 401, 403, 404, 413),
                },
            },
            "get": {
                "summary": "the goal's activities, newest first",
                "parameters": [
                    _query("activity_type", {"type": "string"}),
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
                    ),
                    _query("offset", {"type": "integer", "minimum": 0, "default": 0}),
                ],
                "responses": {
                    **_ok("200", _ref("ActivityList"), profile, "one page"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
        one + "/complete": {
            "parameters": [{"name": "goal_id", "in": "path", "required": True, "schema": _UUID}],
            "post": {
                "summary": "mark completed (400 if it already is)",
                "responses": {
                    **_ok("200", goal, profile, "completed"),
                    **_errors(400, 401, 403, 404, 413),
                },
            },
        },
        one + "/abandon": {
            "parameters": [{"name": "goal_id", "in": "path", "required": True, "schema": _UUID}],
            "post": {
                "summary": "mark abandoned (400 if already abandoned or completed)",
                "responses": {
                    **_ok("200", goal, profile, "abandoned"),
                    **_errors(400, 401, 403, 404, 413),
                },
            },
        },
    }
