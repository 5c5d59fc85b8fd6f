"""The bench's one canned-reply server: a unix socket answering each line, parsing nothing.

Every baseline of `silo bench` talks to it: the bare and jailed start-up scripts (it notes
when it answered the first request), the echo floor of the membrane call (the same
client, the same cell, only the server differs), and the bare trivial tasks (the SDK
client checks that each reply answers its request, so replies are numbered 1, 2, 3… per
connection, like the SDK numbers its requests). The reply's `result` is fixed per server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from siloos.bench.loop_thread import loop_thread, run_on

#: An empty result: enough for the start-up script and the timing client.
EMPTY_RESULT = b"{}"


class CannedReplyServer:
    """Answers the n-th line of a connection with `{"id": n, "ok": true, "result": …}`."""

    def __init__(self, path: Path, result: bytes = EMPTY_RESULT) -> None:
        self.path = path
        # Built once: per line, only the id is formatted.
        self._tail = b',"ok":true,"result":' + result + b"}\n"
        self._answered: asyncio.Future[float] | None = None
        self._server: asyncio.AbstractServer | None = None

    def expect(self) -> asyncio.Future[float]:
        """A future set to `time.perf_counter()` when the next line has been answered."""
        self._answered = asyncio.get_running_loop().create_future()
        return self._answered

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = 0
        try:
            while True:
                try:
                    await reader.readuntil(b"\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    break
                count += 1
                writer.write(b'{"id":%d' % count + self._tail)
                await writer.drain()
                answered = self._answered
                if answered is not None and not answered.done():
                    answered.set_result(time.perf_counter())
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the benchmark is over: either way this handler is done
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._answer, path=str(self.path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CannedReplyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@contextlib.contextmanager
def serve_in_thread(path: Path, result: bytes = EMPTY_RESULT) -> Iterator[Path]:
    """Serve a `CannedReplyServer` on `path` from its own event-loop thread; the socket
    file is removed afterwards."""
    with serve_on_loop(path, result) as (served, _):
        yield served


@contextlib.contextmanager
def serve_on_loop(path: Path, result: bytes = EMPTY_RESULT
                  ) -> Iterator[tuple[Path, asyncio.AbstractEventLoop]]:
    """`serve_in_thread`, also giving the loop, so a caller can run a cell on it (as
    `silo run` runs a cell and its membrane on one loop)."""
    server = CannedReplyServer(path, result)
    with loop_thread() as loop:
        run_on(loop, server.start())
        try:
            yield path, loop
        finally:
            # Server methods belong to the loop's thread; closing from here raced the loop.
            run_on(loop, server.stop())
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
