"""Switching the reference server's faults at run time, as its own small object.

:class:`ReferenceFaults` speaks to ``/admin/faults`` with the reference server's admin token
(``X-Admin-Token``, never a user's bearer: :class:`lume_widget.client.auth.LumeAuth` sends none
there and never refreshes on its 401, so finding out costs no single-use refresh token).
:class:`lume_widget.client.LumeClient` holds one as ``client.faults`` and keeps
``get_faults``/``set_faults``/``clear_faults`` as shortcuts to it.
"""

from __future__ import annotations

from typing import Any

from lume_widget.client.rest import RestApi
from lume_widget.errors import ConfigurationError

__all__ = ["ReferenceFaults"]

ADMIN_FAULTS = "/admin/faults"


class ReferenceFaults:
    """The faults of one reference server; ``known`` is whether it is one, if already known."""

    def __init__(
        self, rest: RestApi, admin_token: str | None, *, known: bool | None = None
    ) -> None:
        self._rest = rest
        self._admin_token = admin_token
        self._reference = known

    def __repr__(self) -> str:
        token = "***" if self._admin_token else None
        return f"ReferenceFaults(reference={self._reference}, admin_token={token})"

    @property
    def is_reference_server(self) -> bool:
        """Whether the backend is this project's reference server (as last found out)."""
        return bool(self._reference)

    async def detect(self) -> bool:
        """Find out, without user credentials, whether the backend is the reference server."""
        if self._reference is None:
            outcome = await self._rest.call("GET", ADMIN_FAULTS, headers=self._headers(False))
            self._reference = outcome.status in (200, 401, 403) and isinstance(
                outcome.payload, dict
            )
        return self._reference

    async def get(self) -> dict[str, Any]:
        """The active faults."""
        outcome = await self._rest.request("GET", ADMIN_FAULTS, headers=self._headers())
        return dict(outcome.data or {})

    async def set(self, **faults: Any) -> dict[str, Any]:
        """Merge ``faults`` into the active faults; returns them all."""
        outcome = await self._rest.request(
            "PUT", ADMIN_FAULTS, json=faults, headers=self._headers()
        )
        return dict(outcome.data or {})

    async def clear(self) -> dict[str, Any]:
        """Switch every fault off; returns the (default) faults."""
        outcome = await self._rest.request("DELETE", ADMIN_FAULTS, headers=self._headers())
        return dict(outcome.data or {})

    def _headers(self, required: bool = True) -> dict[str, str]:
        if not self._admin_token:
            if required:
                raise ConfigurationError(
                    "Reading or setting faults needs the reference server's admin token: pass "
                    "admin_token= or set LUME_ADMIN_TOKEN."
                )
            return {}
        return {"X-Admin-Token": self._admin_token}
