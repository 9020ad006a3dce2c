"""Names and defaults shared by every face of the project: personas, environment variables, demo credentials.

The demo credentials are what the reference server creates on start when nothing else
is configured; they are public on purpose and only work on loopback (the server refuses
to bind elsewhere with them).
"""

from __future__ import annotations

PERSONAS: tuple[str, ...] = (
    "nutritionist",
    "fitness_coach",
    "wellness_specialist",
    "general_wellness",
)
"""The personas the backend accepts, in the order pickers show them."""

DEFAULT_PERSONA = "general_wellness"

ENV_URL = "LUME_URL"
ENV_API_KEY = "LUME_API_KEY"
ENV_EMAIL = "LUME_EMAIL"
ENV_PASSWORD = "LUME_PASSWORD"
ENV_TOKEN = "LUME_TOKEN"
ENV_ADMIN_TOKEN = "LUME_ADMIN_TOKEN"

DEFAULT_API_KEY = "lume-local-dev-key"
DEFAULT_EMAIL = "demo@lume.local"
DEFAULT_PASSWORD = "lume-demo-password"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

MAX_MESSAGE_CHARS = 5000
"""The backend's limit on message content, after trimming (PROTOCOL A1)."""
