"""Review finding 5: one cell cannot pin host memory through many or stalled connections.

A membrane serves at most `max_connections` connections at once (more get one 429 line and
are closed) and a frame must be completed within `line_seconds` of its first byte. The
framing itself (`LineReader`) is tested on an in-memory stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from test_membrane_support import Hop, ServedMembrane, lines, make_hop

from siloos.membrane.lines import LineReader, LineTimedOut, Oversize
from siloos.membrane.server import MAX_CONNECTIONS, Membrane


def membrane_for(hop: Hop, **limits: Any) -> Membrane:
    hop.membrane.close_journal()  # one live membrane per hop
    return Membrane(hop.membrane.session, verifier=hop.verifier, registry=hop.registry,
                    store=hop.store, tokenizer=hop.tokenizer, services=hop.services, **limits)


def connect(path: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(10)
    conn.connect(str(path))
    return conn


def read_all(conn: socket.socket) -> list[dict[str, Any]]:
    """Every reply line until the membrane closes the connection."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return [json.loads(line) for line in data.splitlines()]


def test_the_default_limit_leaves_room_for_the_sdk_and_little_else() -> None:
    assert 1 <= MAX_CONNECTIONS <= 64


def test_connections_over_the_limit_get_one_429_line_and_are_closed(tmp_path: Path) -> None:
    hop = make_hop(tmp_path / "ws")
    path = tmp_path / "m.sock"
    with ServedMembrane(membrane_for(hop, max_connections=2), path):
        first, second = connect(path), connect(path)
        try:
            for n, conn in enumerate((first, second)):
                conn.sendall(hop.frame("task", n))
                assert next(lines(conn, 1))["ok"] is True
            extra = connect(path)
            (refused,) = read_all(extra)
            extra.close()
            assert refused == {"id": None, "ok": False, "error": {
                "code": 429, "type": "too_many_connections",
                "message": "too many connections to this membrane (at most 2)"}}
            # The served connections are unaffected.
            second.sendall(hop.frame("task", 7))
            assert next(lines(second, 1))["id"] == 7
        finally:
            first.close()
        # A freed slot serves again (the server notices the close asynchronously).
        for _ in range(200):
            again = connect(path)
            again.sendall(hop.frame("task", 9))
            reply = next(lines(again, 1))
            again.close()
            if reply["ok"]:
                break
            time.sleep(0.02)
        assert reply["ok"] is True and reply["id"] == 9
        second.close()
    assert any(row["code"] == 429 and row["op"] == "connection" for row in hop.audit())


def test_a_stalled_partial_frame_is_cut_off_and_never_acted_on(tmp_path: Path) -> None:
    hop = make_hop(tmp_path / "ws")
    path = tmp_path / "m.sock"
    with ServedMembrane(membrane_for(hop, line_seconds=0.3), path):
        conn = connect(path)
        whole = hop.frame("call", 1, tool="refunds.issue",
                          args={"order": hop.tokens["ord"], "amount": 10, "reason": "r"})
        conn.sendall(whole[:-1])  # everything but the newline
        (reply,) = read_all(conn)
        conn.close()
    assert reply["ok"] is False and reply["id"] is None
    assert reply["error"]["code"] == 400 and reply["error"]["type"] == "frame_timeout"
    assert hop.backoffice.refunds() == []


def test_dripping_bytes_does_not_extend_the_deadline(tmp_path: Path) -> None:
    """The deadline runs from a frame's first byte, not from the last byte received."""
    hop = make_hop(tmp_path / "ws")
    path = tmp_path / "m.sock"
    with ServedMembrane(membrane_for(hop, line_seconds=0.3), path):
        conn = connect(path)
        cut_off = False
        for _ in range(100):  # up to ~5 s of dripping, far past the 0.3 s deadline
            try:
                conn.sendall(b" ")
            except OSError:
                cut_off = True
                break
            with contextlib.suppress(TimeoutError):
                conn.settimeout(0.05)
                if conn.recv(65536):
                    cut_off = True
                    break
        conn.close()
    assert cut_off, "a frame dripped a byte at a time stayed open"


def test_an_idle_connection_with_nothing_pending_stays_open(tmp_path: Path) -> None:
    hop = make_hop(tmp_path / "ws")
    path = tmp_path / "m.sock"
    with ServedMembrane(membrane_for(hop, line_seconds=0.1), path):
        conn = connect(path)
        conn.sendall(hop.frame("task", 1))
        assert next(lines(conn, 1))["id"] == 1
        time.sleep(0.5)  # several deadlines long, with no partial frame
        conn.sendall(hop.frame("task", 2))
        assert next(lines(conn, 1))["id"] == 2
        conn.close()


def test_limits_must_be_positive(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    for limits in ({"max_connections": 0}, {"line_seconds": 0}):
        with pytest.raises(ValueError):
            membrane_for(hop, **limits)


# -- LineReader on an in-memory stream ------------------------------------------------


def read_lines(data: bytes, *, max_line: int = 10, eof: bool = True) -> list[Any]:
    async def go() -> list[Any]:
        stream = asyncio.StreamReader()
        stream.feed_data(data)
        if eof:
            stream.feed_eof()
        reader = LineReader(stream, max_line=max_line, line_seconds=0.2)
        out: list[Any] = []
        try:
            while (item := await reader.next()) is not None:
                out.append(item)
        except LineTimedOut:
            out.append("timed out")
        return out

    return asyncio.run(go())


def test_lines_come_out_whole_and_in_order() -> None:
    assert read_lines(b"a\nbb\n\nccc\n") == [b"a\n", b"bb\n", b"\n", b"ccc\n"]


def test_a_line_of_exactly_the_limit_is_a_line_and_one_more_byte_is_not() -> None:
    assert read_lines(b"x" * 10 + b"\n") == [b"x" * 10 + b"\n"]
    assert read_lines(b"x" * 11 + b"\nok\n") == [Oversize(11, complete=True), b"ok\n"]


def test_an_oversize_line_spanning_many_reads_is_counted_not_kept() -> None:
    big = b"y" * (3 * 1024 * 1024)
    assert read_lines(big + b"\nnext\n", max_line=1024) == [
        Oversize(len(big), complete=True), b"next\n"]


def test_the_end_of_the_stream_mid_line_drops_the_line() -> None:
    assert read_lines(b"done\nhalf") == [b"done\n"]
    assert read_lines(b"done\n" + b"z" * 50, max_line=10) == [
        b"done\n", Oversize(50, complete=False)]


def test_an_unfinished_line_times_out_without_eof() -> None:
    assert read_lines(b"first\npartial", eof=False) == [b"first\n", "timed out"]


def test_line_reader_limits_must_be_positive() -> None:
    async def refused(**kwargs: Any) -> bool:
        try:
            LineReader(asyncio.StreamReader(), **kwargs)
        except ValueError:
            return True
        return False

    assert asyncio.run(refused(max_line=0, line_seconds=1.0))
    assert asyncio.run(refused(max_line=5, line_seconds=0))
