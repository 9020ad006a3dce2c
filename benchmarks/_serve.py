"""Child process of the benchmarks: run the reference server on 127.0.0.1, port 0, until stdin closes.

Started by :func:`benchmarks.server.start_reference_server` with one JSON argument of
``ServerConfig`` fields (``chunk_delay_ms``, ``faults``, ...). Prints one JSON line with
the URL and credentials, then serves until its parent closes stdin (or dies), so it can
never outlive a benchmark run. Exit status 3 means the server is not in the tree yet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

SKIP_EXIT_STATUS = 3


async def _serve(options: dict[str, Any]) -> None:
    try:
        from lume_widget.server import ReferenceServer
        from lume_widget.server.config import Faults, ServerConfig
    except ImportError as exc:
        print(f"the reference server is not available yet ({exc})", file=sys.stderr)
        sys.exit(SKIP_EXIT_STATUS)
    faults = Faults().merged(options.pop("faults", {}))
    config = ServerConfig(host="127.0.0.1", port=0, db=":memory:", faults=faults, **options)
    async with ReferenceServer(config) as server:
        print(
            json.dumps(
                {
                    "url": server.url,
                    "api_key": config.api_key,
                    "email": config.email,
                    "password": config.password,
                    "admin_token": config.admin_token,
                }
            ),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        # Serve until the parent closes our stdin (EOF), which it also does by dying.
        await loop.run_in_executor(None, sys.stdin.buffer.read)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    asyncio.run(_serve(options))


if __name__ == "__main__":
    main()
