"""Reading one connection's newline-delimited frames, with bounds on memory and time.

`LineReader` owns the framing of design §5 on the server side: it hands out complete
lines (newline included), reports a line over `max_line` bytes as `Oversize` after
discarding it (never holding more than about one frame of it), and gives a line whose first
byte has arrived `line_seconds` to be completed (`LineTimedOut` otherwise). Without that
deadline a client could park a partial frame in host memory for as long as it likes; an
idle connection with nothing pending has no deadline (the SDK keeps its one connection
open for the whole hop).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

#: How much is read from the socket at a time.
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Oversize:
    """A line longer than allowed was discarded: its size, and whether a newline ended it
    (if not, the connection closed mid-line)."""

    size: int
    complete: bool


class LineTimedOut(Exception):
    """A line was started and not completed within the reader's `line_seconds`."""


class LineReader:
    """Complete lines from a stream, one at a time, in order."""

    def __init__(self, reader: asyncio.StreamReader, *, max_line: int,
                 line_seconds: float) -> None:
        if max_line < 1 or line_seconds <= 0:
            raise ValueError("max_line and line_seconds must be positive")
        self._reader = reader
        self.max_line = max_line
        self.line_seconds = line_seconds
        self._buf = bytearray()
        #: Start of the data not yet handed out.
        self._pos = 0
        #: `_buf[_pos:_scanned]` is known to hold no newline (each byte is searched once).
        self._scanned = 0
        #: Bytes of an over-long line discarded so far (None: not discarding).
        self._dropped: int | None = None
        #: Loop time at which the pending, incomplete line was first seen.
        self._started: float | None = None

    async def next(self) -> bytes | Oversize | None:
        """The next line (bytes ending in a newline), an `Oversize`, or None at the end of
        the stream (an incomplete last line is dropped: it is never acted on)."""
        while True:
            item = self._take()
            if item is not None:
                return item
            chunk = await self._read()
            if not chunk:
                if self._dropped is not None:
                    size, self._dropped = self._dropped, None
                    return Oversize(size, complete=False)
                return None
            self._buf += chunk

    def _take(self) -> bytes | Oversize | None:
        newline = self._buf.find(b"\n", max(self._scanned, self._pos))
        if newline < 0:
            self._hold_partial()
            return None
        start, self._pos = self._pos, newline + 1
        self._scanned = self._pos
        self._started = None  # the next partial line's clock starts when it is seen
        if self._dropped is not None:
            size, self._dropped = self._dropped + (newline - start), None
            return Oversize(size, complete=True)
        if newline - start > self.max_line:
            return Oversize(newline - start, complete=True)
        return bytes(self._buf[start:newline + 1])

    def _hold_partial(self) -> None:
        """Keep the incomplete tail, or count it away once it is longer than a frame."""
        pending = len(self._buf) - self._pos
        if self._dropped is not None or pending > self.max_line:
            self._dropped = (self._dropped or 0) + pending
            self._buf.clear()
            self._pos = self._scanned = 0
        else:
            del self._buf[:self._pos]
            self._pos, self._scanned = 0, pending
        if (pending or self._dropped is not None) and self._started is None:
            self._started = asyncio.get_running_loop().time()

    async def _read(self) -> bytes:
        if self._started is None:
            return await self._reader.read(CHUNK)
        left = self._started + self.line_seconds - asyncio.get_running_loop().time()
        if left <= 0:
            raise LineTimedOut
        try:
            return await asyncio.wait_for(self._reader.read(CHUNK), left)
        except TimeoutError:
            raise LineTimedOut from None
