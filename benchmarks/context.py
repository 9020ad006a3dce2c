"""What a benchmark gets to work with: quick or full sizes, the console, and reference servers it can start."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from typing import Any, TypeVar

from rich.console import Console

from benchmarks.common import Skip
from benchmarks.server import ServerHandle, start_reference_server

log = logging.getLogger("benchmarks")

T = TypeVar("T")


@dataclasses.dataclass
class Context:
    """Handed to each benchmark's ``run``; servers started through it are stopped after the benchmark."""

    quick: bool
    console: Console
    _servers: list[ServerHandle] = dataclasses.field(default_factory=list)

    def size(self, full: T, quick: T) -> T:
        """Pick the full-size or the quick value of a parameter."""
        return quick if self.quick else full

    def note(self, text: str) -> None:
        """A progress line under the benchmark's name."""
        self.console.print(f"  {text}", highlight=False)

    async def server(self, **options: Any) -> ServerHandle:
        """Start a reference server on 127.0.0.1 in a child process (chunk pacing 0 by default)."""
        handle = await start_reference_server(**options)
        self._servers.append(handle)
        return handle

    async def close_servers(self) -> None:
        while self._servers:
            await self._servers.pop().aclose()


def require_module(name: str, what: str) -> None:
    """Raise :class:`Skip` when a part of the project (or a peer) is not importable yet."""
    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise Skip(f"{what} is not available yet ({name} missing)")
