"""The membrane over a real unix socket: malformed frames, key attacks the membrane layer
adds, pipelining, oversize lines, connections that die mid-line. After every attack a
valid call still works on a fresh connection."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

import pytest
from test_membrane_support import AGENT, CAPS, LIMITS, Hop, lines, served

from siloos.keys.mint import mint_base_key, mint_task_key
from siloos.membrane.protocol import MAX_FRAME


@pytest.fixture
def sock_path(tmp_path):
    return tmp_path / "membrane.sock"


def connect(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(str(path))
    return s


def exchange(path, payload: bytes, count: int = 1) -> list[dict]:
    with connect(path) as s:
        s.sendall(payload)
        return list(lines(s, count))


def valid_call_works(hop: Hop, path) -> None:
    reply = exchange(path, hop.frame("call", 99, tool="orders.get",
                                     args={"order": hop.tokens["ord"]}))[0]
    assert reply["ok"] is True and reply["id"] == 99, reply
    assert reply["result"]["order"] == hop.tokens["ord"]


MALFORMED = [
    (b"not json at all\n", 400, None),
    (b"[1, 2, 3]\n", 400, None),
    (b'"a string"\n', 400, None),
    (b"\n", 400, None),
    (b'{"v": 1, "op": "task"}\n', 400, None),                                   # no id
    (b'{"v": 1, "id": {"x": 1}, "op": "task"}\n', 400, None),                   # id type
    (b'{"v": 2, "id": 5, "op": "task"}\n', 400, 5),                             # version
    (b'{"v": "1", "id": 5, "op": "task"}\n', 400, 5),
    (b'{"v": true, "id": 5, "op": "task"}\n', 400, 5),
    (b'{"id": "a", "op": "task"}\n', 400, "a"),                                 # no v
    (b'{"v": 1, "id": 5}\n', 400, 5),                                           # no op
    (b'{"v": 1, "id": 5, "op": 3}\n', 400, 5),
    (b'{"v": 1, "id": 5, "op": "reboot"}\n', 404, 5),                           # unknown op
    (b'{"v": 1, "id": 5, "op": "call", "args": {}}\n', 400, 5),                 # no tool
    (b'{"v": 1, "id": 5, "op": "call", "tool": 7}\n', 400, 5),
    (b'{"v": 1, "id": 5, "op": "call", "tool": "x", "args": "a=1"}\n', 400, 5),
    (b'{"v": 1, "id": 5, "op": "finish", "status": "200"}\n', 400, 5),
    (b'{"v": 1, "id": 5, "op": "note", "text": "x", "extra": 1}\n', 400, 5),
    (b'{"v": 1, "id": 5, "op": "task", "base_key": 12}\n', 400, 5),
    (b'{"v": 1, "id": 5, "id": 6, "op": "task"}\n', 400, None),                 # duplicate
    (b'{"v": 1, "id": 5, "op": "task", "x": NaN}\n', 400, None),
    (b'{"v": 1, "id": "\\ud800", "op": "task"}\n', 400, None),
    (b"\xff\xfe{}\n", 400, None),
    (b"[" * 100000 + b"\n", 400, None),
]


@pytest.mark.parametrize(("payload", "code", "echo_id"), MALFORMED)
def test_malformed_frames_get_an_error_and_an_audit_row(hop, sock_path, payload, code, echo_id):
    with served(hop, sock_path):
        with connect(sock_path) as s:
            s.sendall(payload)
            # Then a valid request on the same connection: it stays usable.
            s.sendall(hop.frame("task", "after"))
            bad, good = lines(s, 2)
        assert bad["ok"] is False and bad["error"]["code"] == code, bad
        assert bad["id"] == echo_id
        assert good["ok"] is True and good["id"] == "after"
        refusals = [r for r in hop.audit() if not r["ok"]]
        assert refusals and refusals[-1]["code"] == code
        assert refusals[-1]["reason"] == bad["error"]["message"]
        valid_call_works(hop, sock_path)


def test_missing_keys_are_401(hop, sock_path):
    with served(hop, sock_path):
        reply = exchange(sock_path, b'{"v": 1, "id": 1, "op": "task"}\n')[0]
        assert reply["error"]["code"] == 401 and reply["error"]["type"] == "unauthorized"
        assert hop.last_audit()["reason"] == "missing base_key"
        valid_call_works(hop, sock_path)


def test_oversize_line_is_413_and_the_connection_stays_usable(hop, sock_path):
    big = b'{"v":1,"id":1,"op":"note","text":"' + b"a" * (MAX_FRAME + 10) + b'"}\n'
    with served(hop, sock_path):
        with connect(sock_path) as s:
            s.sendall(big + hop.frame("task", 2))
            too_big, after = lines(s, 2)
        assert too_big["ok"] is False and too_big["error"]["code"] == 413
        assert too_big["error"]["type"] == "frame_too_large" and too_big["id"] is None
        assert after["ok"] is True and after["id"] == 2
        assert any(r["code"] == 413 for r in hop.audit())
        valid_call_works(hop, sock_path)


def test_a_line_of_exactly_the_limit_is_read(hop, sock_path):
    head = b'{"v":1,"id":1,"op":"note","text":"'
    tail = b'"}'
    frame = head + b"a" * (MAX_FRAME - len(head) - len(tail)) + tail
    assert len(frame) == MAX_FRAME
    with served(hop, sock_path):
        reply = exchange(sock_path, frame + b"\n")[0]
        # Read and parsed (it then fails the key check): not refused as too large.
        assert reply["error"]["code"] == 401


def test_pipelined_requests_are_answered_in_order(hop, sock_path):
    n = 60
    batch = b"".join(
        hop.frame("call", i, tool="orders.get", args={"order": hop.tokens["ord"]})
        if i % 3 == 0 else (b"garbage\n" if i % 3 == 1 else hop.frame("task", i))
        for i in range(n))
    with served(hop, sock_path):
        with connect(sock_path) as s:
            s.sendall(batch)
            replies = list(lines(s, n))
    for i, reply in enumerate(replies):
        if i % 3 == 1:
            assert reply["ok"] is False and reply["error"]["code"] == 400
        else:
            assert reply["ok"] is True and reply["id"] == i


def test_a_connection_closing_mid_line_does_not_affect_others(hop, sock_path):
    with served(hop, sock_path):
        steady = connect(sock_path)
        steady.sendall(hop.frame("task", 1))
        dying = connect(sock_path)
        dying.sendall(b'{"v": 1, "id": 2, "op": "call", "tool": "refunds.issue", "ar')
        dying.close()
        steady.sendall(hop.frame("task", 3))
        first, second = lines(steady, 2)
        steady.close()
        assert first["id"] == 1 and second["id"] == 3 and second["ok"]
        assert hop.backoffice.refunds("O-5001") == []
        valid_call_works(hop, sock_path)


def test_socket_file_is_connectable_by_a_cell_uid(hop, sock_path):
    with served(hop, sock_path):
        mode = stat.S_IMODE(os.stat(sock_path).st_mode)
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode) and mode == 0o666
    assert not sock_path.exists()


def test_start_refuses_to_replace_a_regular_file(hop, sock_path):
    sock_path.write_text("precious")
    with pytest.raises(FileExistsError):
        with served(hop, sock_path):
            pass
    assert sock_path.read_text() == "precious"


# -- key attacks the membrane layer adds --------------------------------------------------

def test_base_and_task_keys_swapped_are_401(hop, sock_path):
    with served(hop, sock_path):
        body = {"v": 1, "id": 1, "op": "task", "base_key": hop.task_key,
                "task_key": hop.base_key}
        reply = exchange(sock_path, (json.dumps(body) + "\n").encode())[0]
        assert reply["error"]["code"] == 401
        body["task_key"] = hop.task_key  # the task key in both slots
        reply = exchange(sock_path, (json.dumps(body) + "\n").encode())[0]
        assert reply["error"]["code"] == 401
        assert hop.last_audit()["code"] == 401 and hop.last_audit()["reason"]
        valid_call_works(hop, sock_path)


def test_another_agents_base_key_is_refused(hop, sock_path):
    other = mint_base_key(hop.ring, agent="manager-agent", version="1.0.0", digest="cd" * 32,
                          caps=CAPS, escalate_to=[], limits=LIMITS)
    with served(hop, sock_path):
        body = {"v": 1, "id": 1, "op": "call", "base_key": other, "task_key": hop.task_key,
                "tool": "orders.get", "args": {"order": hop.tokens["ord"]}}
        reply = exchange(sock_path, (json.dumps(body) + "\n").encode())[0]
        assert reply["error"]["code"] in (401, 403)
        assert hop.last_audit()["ok"] is False and hop.last_audit()["reason"]
        valid_call_works(hop, sock_path)


def test_task_key_for_another_task_is_403(hop, sock_path):
    minted = mint_task_key(hop.ring, agent=AGENT, task_id="task_someoneelse01", hop=1,
                           customer_token=hop.tokens["cust"], case_token=None,
                           wall_seconds=60)
    hop_key = hop.task_key
    hop.task_key = minted.token
    with served(hop, sock_path):
        reply = exchange(sock_path, hop.frame("task"))[0]
        assert reply["error"]["code"] == 403
        assert "another task" in hop.last_audit()["reason"]
        hop.task_key = hop_key
        valid_call_works(hop, sock_path)


def test_revoked_task_key_is_409(hop, sock_path):
    with served(hop, sock_path):
        hop.store.revoke(hop.task_jti, task_id=hop.task_id, hop=1, reason="router")
        reply = exchange(sock_path, hop.frame("task"))[0]
        assert reply["error"]["code"] == 409 and reply["error"]["type"] == "task_inactive"
        assert hop.last_audit()["code"] == 409


def test_finished_tasks_key_is_409_on_a_fresh_connection(hop, sock_path):
    with served(hop, sock_path):
        assert exchange(sock_path, hop.frame("finish", status=200))[0]["ok"] is True
        reply = exchange(sock_path, hop.frame("call", tool="orders.get",
                                              args={"order": hop.tokens["ord"]}))[0]
        assert reply["error"]["code"] == 409
        assert hop.last_audit()["code"] == 409


def test_expired_keys_are_401(hop, sock_path):
    old_base = mint_base_key(hop.ring, agent=AGENT, version="1.0.0", digest="cd" * 32,
                             caps=CAPS, escalate_to=[], limits=LIMITS, ttl_seconds=1,
                             now=time.time() - 3600)
    good = hop.base_key
    hop.base_key = old_base
    with served(hop, sock_path):
        reply = exchange(sock_path, hop.frame("task"))[0]
        assert reply["error"]["code"] == 401
        hop.base_key = good
        valid_call_works(hop, sock_path)


def test_forged_signature_is_401(hop, sock_path):
    head, payload, sig = hop.base_key.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}AAAA"
    good = hop.base_key
    hop.base_key = forged
    with served(hop, sock_path):
        assert exchange(sock_path, hop.frame("task"))[0]["error"]["code"] == 401
        hop.base_key = good
        valid_call_works(hop, sock_path)
