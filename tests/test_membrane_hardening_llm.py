"""Review finding 8: one `llm` call can never ask for more tokens than the hop has left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_membrane_support import CAPS, LIMITS, Hop, make_hop

from siloos.llm.base import LLMProvider

HI = [{"role": "user", "content": "hi"}]


class MeteredModel(LLMProvider):
    """Remembers each max_tokens it was given; reports `cost` tokens used per reply."""

    def __init__(self, cost: int) -> None:
        self.cost = cost
        self.asked: list[int] = []

    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        self.asked.append(max_tokens)
        return {"id": "m", "type": "message", "role": "assistant", "model": "metered",
                "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": self.cost // 2, "output_tokens": self.cost // 2}}


def hop_with(tmp_path: Path, budget: int, cost: int) -> tuple[Hop, MeteredModel]:
    model = MeteredModel(cost)
    hop = make_hop(tmp_path, caps={**CAPS, "llm": {}},
                   limits={**LIMITS, "llm_tokens": budget}, services={"llm": model})
    return hop, model


def test_max_tokens_follows_the_budget_left_call_by_call(tmp_path: Path) -> None:
    hop, model = hop_with(tmp_path, budget=1000, cost=400)
    replies = [hop.send("llm", n, messages=HI, max_tokens=10**9) for n in range(4)]
    assert [r["ok"] for r in replies] == [True, True, True, False]
    assert model.asked == [1000, 600, 200]
    assert replies[3]["error"]["code"] == 429 and replies[3]["id"] == 3
    capped = [e for e in hop.audit() if e["op"] == "llm" and e["ok"]]
    assert [e["detail"]["max_tokens_capped"] for e in capped] == [1000, 600, 200]


def test_a_modest_max_tokens_is_passed_unchanged(tmp_path: Path) -> None:
    hop, model = hop_with(tmp_path, budget=1000, cost=10)
    assert hop.send("llm", 1, messages=HI, max_tokens=300)["ok"] is True
    assert model.asked == [300]
    (row,) = [e for e in hop.audit() if e["op"] == "llm"]
    assert "max_tokens_capped" not in row["detail"]


def test_an_omitted_max_tokens_gets_the_default_capped_by_the_budget(tmp_path: Path) -> None:
    hop, model = hop_with(tmp_path, budget=1500, cost=1000)
    assert hop.send("llm", 1, messages=HI)["ok"] is True
    assert hop.send("llm", 2, messages=HI)["ok"] is True
    assert model.asked == [1024, 500]


def test_a_max_tokens_below_one_is_refused_before_the_model(tmp_path: Path) -> None:
    hop, model = hop_with(tmp_path, budget=1000, cost=10)
    for n, asked in enumerate((0, -5)):
        reply = hop.send("llm", n, messages=HI, max_tokens=asked)
        assert reply["ok"] is False and reply["error"]["code"] == 400
    assert model.asked == []
