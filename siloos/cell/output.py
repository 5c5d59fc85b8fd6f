"""Read a cell's stdout or stderr to the end, keeping at most a cap, marking what was cut.

The stream is always drained, so a chatty cell never blocks on a full pipe; bytes past the
cap are counted, not kept. Decoding is lenient (an agent may print anything).
"""

from __future__ import annotations

import asyncio

from siloos.cell.spec import TRUNCATION_MARKER

CHUNK = 64 * 1024


def cap_text(data: bytes, dropped: int) -> str:
    """Decode kept bytes and append the truncation marker when anything was dropped."""
    text = data.decode("utf-8", errors="replace")
    if dropped:
        text += TRUNCATION_MARKER.format(dropped=dropped)
    return text


async def read_capped(stream: asyncio.StreamReader | None, cap: int) -> str:
    """Drain `stream`; return its first `cap` bytes as text (plus a marker if cut)."""
    if stream is None:
        return ""
    kept = bytearray()
    dropped = 0
    while True:
        chunk = await stream.read(CHUNK)
        if not chunk:
            break
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        dropped += max(0, len(chunk) - max(room, 0))
    return cap_text(bytes(kept), dropped)
