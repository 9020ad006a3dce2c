"""Where synchronous entry points run coroutines: a private loop in scripts, nesting in a running loop."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path

import pytest

from lume_widget._loop import (
    BlockingRunner,
    _CallerDrivenLoop,
    _LoopUntilClosed,
    _private_loop,
    background_loop,
    run_blocking,
    running_loop,
)

ROOT = Path(__file__).resolve().parent.parent

PRIVATE_LOOPS: list[Callable[[], _CallerDrivenLoop]] = [_private_loop, _LoopUntilClosed]

REQUEST = contextvars.ContextVar[str]("REQUEST")


def test_running_loop_is_none_in_plain_code_and_the_loop_inside_a_coroutine() -> None:
    assert running_loop() is None

    async def inside() -> bool:
        return running_loop() is asyncio.get_running_loop()

    assert asyncio.run(inside())


def test_blocking_runner_owns_a_private_loop_in_a_plain_script() -> None:
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    async def fail() -> None:
        raise ValueError("the coroutine's own error")

    with BlockingRunner() as runner:
        assert runner.owned
        assert "private loop" in repr(runner)
        assert "open" in repr(runner)
        assert runner.run(add(2, 3)) == 5
        assert not runner.loop.is_running(), "nothing runs the loop between calls"
        with pytest.raises(ValueError, match="own error"):
            runner.run(fail())
        assert runner.run(add(1, 1)) == 2, "an error in one call leaves the loop usable"
    assert runner.loop.is_closed()
    assert "closed" in repr(runner)


def test_blocking_runner_keeps_sockets_usable_across_calls() -> None:
    # streams belong to the loop that opened them: each call must run on that same loop
    async def serve() -> tuple[asyncio.Server, int]:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        return server, server.sockets[0].getsockname()[1]

    async def open_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port)

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(b"hello\n")
        await writer.drain()
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    async def stop(server: asyncio.Server) -> None:
        server.close()
        await server.wait_closed()

    with BlockingRunner() as runner:
        loops = []

        async def current() -> asyncio.AbstractEventLoop:
            return asyncio.get_running_loop()

        loops.append(runner.run(current()))
        server, port = runner.run(serve())
        reader, writer = runner.run(open_connection(port))
        assert runner.run(exchange(reader, writer)) == b"HELLO\n"
        runner.run(stop(server))
        loops.append(runner.run(current()))
        assert loops == [runner.loop, runner.loop]


def test_blocking_runner_gives_each_call_a_copy_of_the_callers_context() -> None:
    async def read() -> str:
        return REQUEST.get("unset")

    async def write() -> None:
        REQUEST.set("set inside a call")

    with BlockingRunner() as runner:
        token = REQUEST.set("first")
        try:
            assert runner.run(read()) == "first"
            REQUEST.set("second")
            assert runner.run(read()) == "second", "a call sees the caller's context now"
            runner.run(write())
            assert REQUEST.get() == "second", "a call does not change the caller's context"
        finally:
            REQUEST.reset(token)


@pytest.mark.parametrize("make", PRIVATE_LOOPS, ids=["current-python", "python-3.10"])
def test_private_loop_close_cancels_leftovers_and_finalizes_generators(
    make: Callable[[], _CallerDrivenLoop],
) -> None:
    private = make()
    loop = private.get_loop()
    cleaned: list[str] = []

    async def linger() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("task")

    async def numbers() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            cleaned.append("generator")

    async def start_leftovers() -> AsyncGenerator[int, None]:
        asyncio.get_running_loop().create_task(linger())
        generator = numbers()
        assert await generator.__anext__() == 1
        return generator

    generator = private.run(start_leftovers())
    assert not loop.is_running()
    assert not cleaned
    private.close()
    assert loop.is_closed()
    assert sorted(cleaned) == ["generator", "task"]
    del generator


def test_blocking_runner_close_is_idempotent_and_leaves_the_threads_event_loop_alone() -> None:
    policy = asyncio.get_event_loop_policy()
    mine = asyncio.new_event_loop()
    asyncio.set_event_loop(mine)
    try:
        runner = BlockingRunner()
        assert runner.loop is not mine
        runner.run(asyncio.sleep(0))
        runner.close()
        runner.close()
        assert runner.loop.is_closed()
        assert policy.get_event_loop() is mine, "the caller's current loop is untouched"
        assert not mine.is_closed()
    finally:
        asyncio.set_event_loop(None)
        mine.close()


def test_run_blocking_runs_once_like_asyncio_run() -> None:
    seen: list[asyncio.AbstractEventLoop] = []
    leftovers: list[asyncio.Task[None]] = []

    async def work() -> str:
        seen.append(asyncio.get_running_loop())
        leftovers.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))
        return "done"

    assert run_blocking(work()) == "done"
    assert run_blocking(work()) == "done"
    assert seen[0] is not seen[1], "each one-off run gets a fresh loop"
    assert all(loop.is_closed() for loop in seen)
    assert all(task.cancelled() for task in leftovers), "what the run left behind is cancelled"


def test_background_loop_is_one_running_loop_on_its_own_thread() -> None:
    loop, thread_id = background_loop()
    again, same_thread = background_loop()
    assert (again, same_thread) == (loop, thread_id)
    assert loop.is_running()
    assert thread_id != threading.get_ident()

    async def where() -> int:
        return threading.get_ident()

    assert asyncio.run_coroutine_threadsafe(where(), loop).result(10) == thread_id


def test_blocking_runner_nests_on_a_loop_running_when_the_call_is_made() -> None:
    # nest_asyncio patches asyncio for the whole process, as it does in a kernel: isolate it
    script = textwrap.dedent(
        """
        import asyncio
        from lume_widget._loop import BlockingRunner, run_blocking, run_until_complete

        async def notebook_cell():
            loop = asyncio.get_running_loop()
            ticks = []
            tick = asyncio.Event()

            async def kernel_work():
                # another task on the kernel's loop, like its message handling
                for n in range(3):
                    ticks.append(n)
                    tick.set()
                    await asyncio.sleep(0)

            async def wait_for_kernel_work():
                await tick.wait()
                return asyncio.get_running_loop()

            background = loop.create_task(kernel_work())
            runner = BlockingRunner()
            assert not runner.owned and runner.loop is loop, runner
            assert "running loop" in repr(runner)
            # a blocking call inside the running loop lets the loop's other tasks progress
            assert runner.run(wait_for_kernel_work()) is loop
            assert ticks, "the kernel's task ran during the blocking call"
            assert runner.run(wait_for_kernel_work()) is loop, "the same loop on every call"
            runner.close()
            assert not loop.is_closed() and loop.is_running(), "the kernel's loop is not ours"
            assert run_blocking(wait_for_kernel_work()) is loop
            assert run_until_complete(loop, wait_for_kernel_work()) is loop
            await background
            return ticks

        assert asyncio.run(notebook_cell()) == [0, 1, 2]
        print("ok")
        """
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr
