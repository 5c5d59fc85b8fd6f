"""Red-team review: the `llm` op's budget is checked before a call but spent after it.

`WithinTokenBudget` only asks whether the hop is already over `llm_tokens`; the cell picks
`max_tokens` (any integer) and the size of `messages` (up to a 1 MiB frame), so a single
call can cost many times the whole budget on the operator's API key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_membrane_support import CAPS, LIMITS, make_hop

from siloos.llm.base import LLMProvider


class RecordingModel(LLMProvider):
    """Remembers what it was asked for; answers with a minimal valid reply."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        self.asked.append(max_tokens)
        return {"id": "m", "type": "message", "role": "assistant", "model": "rec",
                "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1}}


def test_llm_calls_budget_holds(tmp_path: Path) -> None:
    """Holds: the number of model calls is capped by `llm_calls`."""
    model = RecordingModel()
    hop = make_hop(tmp_path, caps={**CAPS, "llm": {}}, limits={**LIMITS, "llm_calls": 2},
                   services={"llm": model})
    replies = [hop.send("llm", i, messages=[{"role": "user", "content": "hi"}])
               for i in range(3)]
    assert [r["ok"] for r in replies] == [True, True, False]
    assert replies[2]["error"]["code"] == 429 and len(model.asked) == 2


def test_one_call_cannot_ask_for_more_than_the_budget_left(tmp_path: Path) -> None:
    model = RecordingModel()
    hop = make_hop(tmp_path, caps={**CAPS, "llm": {}},
                   limits={**LIMITS, "llm_tokens": 1000}, services={"llm": model})
    hop.send("llm", 1, messages=[{"role": "user", "content": "hi"}], max_tokens=10**9)
    assert all(asked <= 1000 for asked in model.asked), f"asked for {model.asked}"
