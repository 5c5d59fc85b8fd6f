"""The LLM log: JSONL per request/reply, private file modes, totals, fail-closed guard."""

from __future__ import annotations

import json
import stat
import threading

import pytest

from siloos.errors import InputError
from siloos.llm import LLMError, LLMLog


def reply(i: int, o: int) -> dict:
    return {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": i, "output_tokens": o}}


def test_appends_records_and_totals(tmp_path):
    log = LLMLog(tmp_path / "logs")
    req = {"system": "s", "messages": [{"role": "user", "content": "email_tk_000000000001"}]}
    log.append(task_id="t1", hop=1, agent="refund-agent", model="m", request=req,
               reply=reply(10, 2))
    log.append(task_id="t1", hop=2, agent="manager-agent", model="m", request=req,
               reply=reply(5, 1))
    log.append(task_id="t1", hop=1, agent="refund-agent", model="m", request=req,
               error="anthropic: rate limited")
    log.append(task_id="t2", hop=1, agent="refund-agent", model="m", request=req,
               reply=reply(1, 1))
    lines = log.path.read_text().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert first["request"] == req and first["usage"] == {"input_tokens": 10,
                                                          "output_tokens": 2}
    assert json.loads(lines[2])["error"] == "anthropic: rate limited"
    assert log.totals("t1") == {
        ("t1", "refund-agent"): {"calls": 2, "input_tokens": 10, "output_tokens": 2},
        ("t1", "manager-agent"): {"calls": 1, "input_tokens": 5, "output_tokens": 1}}
    assert len(log.totals()) == 3
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700


def test_guard_refuses_plaintext_and_nothing_is_written(tmp_path):
    def guard(line: str) -> str | None:
        return "plaintext email address" if "@" in line else None

    log = LLMLog(tmp_path, guard=guard)
    with pytest.raises(LLMError, match="refusing to write the LLM log: plaintext email"):
        log.append(task_id="t", hop=1, agent="a", model="m",
                   request={"messages": [{"role": "user", "content": "bob@example.com"}]},
                   reply=reply(1, 1))
    assert not log.path.exists()
    assert list(log.records()) == []


def test_concurrent_appends_keep_lines_whole(tmp_path):
    log = LLMLog(tmp_path)
    big = {"messages": [{"role": "user", "content": "x" * 20000}]}

    def work(n: int) -> None:
        for _ in range(20):
            log.append(task_id=f"t{n}", hop=1, agent="a", model="m", request=big,
                       reply=reply(1, 1))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for _ in log.records()) == 80


def test_damaged_line_is_reported_with_its_number(tmp_path):
    log = LLMLog(tmp_path)
    log.append(task_id="t", hop=1, agent="a", model="m", request={}, reply=reply(1, 1))
    with log.path.open("a") as f:
        f.write("{broken\n")
    with pytest.raises(InputError, match=r"llm.jsonl:2: damaged log line"):
        log.totals()
