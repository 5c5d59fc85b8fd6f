"""Red-team review: what one cell can do to the host through the membrane socket alone.

A cell may hold up to `pids` processes x `RLIMIT_NOFILE` (32 x 64 by default) sockets to its
membrane, and each connection may park up to one frame (1 MiB) of unterminated line in the
membrane's reader buffer. Measured during the review: 300 such connections pinned about
315 MiB in the host process, indefinitely; the membrane runs inside the router process
(`silo run`, `silo serve` workers), so this is host memory shared with every other task.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from test_membrane_support import lines, make_hop, served

#: A cell needs one connection (the SDK's); a few more are generous.
REASONABLE_CONNECTIONS = 64
OPENED = 100


def answered(conn: socket.socket, frame: bytes) -> bool:
    try:
        conn.sendall(frame)
        return next(lines(conn, 1)).get("id") == 1
    except (AssertionError, OSError, StopIteration):
        return False


def test_one_cell_cannot_hold_unbounded_connections(tmp_path: Path) -> None:
    hop = make_hop(tmp_path / "ws")
    path = tmp_path / "m.sock"
    conns: list[socket.socket] = []
    try:
        with served(hop, path):
            for _ in range(OPENED):
                conn = socket.socket(socket.AF_UNIX)
                conn.settimeout(10)
                conn.connect(str(path))
                conns.append(conn)
            served_count = sum(answered(c, hop.frame("task")) for c in conns)
    finally:
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
    assert served_count <= REASONABLE_CONNECTIONS, f"{served_count} connections served"


def test_a_partial_line_on_one_connection_does_not_block_another(tmp_path: Path) -> None:
    """Holds: connections are independent; a parked half-frame stalls only itself."""
    hop = make_hop(tmp_path / "ws")
    path = tmp_path / "m.sock"
    with served(hop, path):
        parked = socket.socket(socket.AF_UNIX)
        parked.connect(str(path))
        parked.sendall(b'{"v": 1, "id": 1, "op": "task"' + b" " * 65536)
        other = socket.socket(socket.AF_UNIX)
        other.settimeout(10)
        other.connect(str(path))
        try:
            assert answered(other, hop.frame("task"))
        finally:
            parked.close()
            other.close()
