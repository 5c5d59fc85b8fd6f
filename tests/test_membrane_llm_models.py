"""An agent granted `llm: {models: [...]}` is judged on the model really asked for: the one
it names, else its manifest's (handed to the membrane by the router, host side)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_membrane_support import CAPS, LIMITS, make_hop

from siloos.llm.base import LLMProvider

HI = [{"role": "user", "content": "hi"}]


class Recorder(LLMProvider):
    """Remembers the model of every request."""

    def __init__(self) -> None:
        self.models: list[str] = []

    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        self.models.append(model)
        return {"id": "m", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1}}


def hop_for(tmp_path: Path, manifest_model: str | None) -> tuple[Any, Recorder]:
    model = Recorder()
    hop = make_hop(tmp_path, caps={**CAPS, "llm": {"models": ["claude-allowed"]}},
                   limits=LIMITS, services={"llm": model, "llm_model": manifest_model})
    return hop, model


def test_the_manifest_model_fills_an_omitted_model_and_is_checked(tmp_path: Path) -> None:
    hop, model = hop_for(tmp_path, "claude-allowed")
    assert hop.send("llm", 1, messages=HI)["ok"] is True
    assert model.models == ["claude-allowed"]


def test_a_manifest_model_outside_the_grant_is_refused(tmp_path: Path) -> None:
    hop, model = hop_for(tmp_path, "claude-other")
    reply = hop.send("llm", 1, messages=HI)
    assert reply["ok"] is False and reply["error"]["code"] == 403
    assert model.models == []


def test_a_named_model_is_checked_as_named(tmp_path: Path) -> None:
    hop, model = hop_for(tmp_path, "claude-allowed")
    assert hop.send("llm", 1, messages=HI, model="claude-other")["error"]["code"] == 403
    assert hop.send("llm", 2, messages=HI, model="claude-allowed")["ok"] is True
    assert model.models == ["claude-allowed"]


def test_no_model_anywhere_is_refused_when_models_are_constrained(tmp_path: Path) -> None:
    # Fail closed: a constrained argument nobody supplied is never waved through.
    hop, model = hop_for(tmp_path, None)
    assert hop.send("llm", 1, messages=HI)["error"]["code"] == 403
    assert model.models == []
