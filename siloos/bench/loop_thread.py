"""An asyncio event loop on its own thread, for the servers `silo bench` measures.

The bench's servers (a membrane, the canned-reply server) each run on a loop thread of
their own; the in-cell call measurement runs its cells on the server's loop too, as
`silo run` runs a cell and its membrane on one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
#: How long the caller waits for one start or stop on the loop thread.
STEP_SECONDS = 30


async def _cancel_the_rest() -> None:
    # Connection handlers still parked on a read would otherwise die with the loop.
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def run_on(loop: asyncio.AbstractEventLoop, coro: Awaitable[T],
           timeout: float = STEP_SECONDS) -> T:
    """Run `coro` on `loop` (another thread's) and wait for its result."""
    future = asyncio.run_coroutine_threadsafe(coro, loop)  # type: ignore[arg-type]
    result: Any = future.result(timeout)
    return result  # type: ignore[no-any-return]


@contextlib.contextmanager
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """A running event loop on a daemon thread; stopped, its tasks cancelled, on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="silo-bench-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        with contextlib.suppress(Exception):
            run_on(loop, _cancel_the_rest())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
