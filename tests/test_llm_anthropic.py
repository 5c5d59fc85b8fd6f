"""The anthropic provider with the real `anthropic` client against a local Messages API."""

from __future__ import annotations

import json

import pytest
from fakes.messages_api import FakeMessagesAPI, text_reply, tool_use_reply

from siloos.errors import UsageError
from siloos.llm import LLMError
from siloos.llm.anthropic_provider import AnthropicProvider

KEY = "sk-ant-test-0123456789abcdef"


@pytest.fixture
def api():
    with FakeMessagesAPI() as server:
        yield server


def provider(api: FakeMessagesAPI, **kw) -> AnthropicProvider:
    kw.setdefault("default_model", "claude-test")
    return AnthropicProvider(api_key=KEY, base_url=api.base_url, max_retries=0, **kw)


def test_key_header_reaches_the_host_and_body_carries_the_request(api):
    api.enqueue(tool_use_reply("orders_get", {"order": "ord_tk_1b2c3d4e5f60"}))
    p = provider(api, default_model="claude-test")
    tools = [{"name": "orders_get", "description": "One order.",
              "input_schema": {"type": "object", "properties": {"order": {"type": "string"}}}}]
    messages = [{"role": "user", "content": "refund ord_tk_1b2c3d4e5f60"}]
    reply = p.complete(system="You are refund-agent.", messages=messages, tools=tools,
                       max_tokens=300, model="")
    (req,) = api.requests
    assert req["path"] == "/v1/messages"
    headers = req["headers"]
    assert headers.get("x-api-key") == KEY or headers.get("authorization") == f"Bearer {KEY}"
    body = req["body"]
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 300
    assert body["system"] == "You are refund-agent."
    assert body["messages"] == messages
    assert body["tools"] == tools
    assert reply["stop_reason"] == "tool_use"
    assert reply["content"][1] == {"type": "tool_use", "id": "toolu_fake_1", "name": "orders_get",
                                   "input": {"order": "ord_tk_1b2c3d4e5f60"}}
    assert reply["usage"]["input_tokens"] == 120
    assert reply["model"] == "claude-test"


def test_explicit_model_wins_and_empty_tools_are_left_out(api):
    api.enqueue(text_reply("hello"))
    reply = provider(api).complete(system="", messages=[{"role": "user", "content": "hi"}],
                                   tools=[], max_tokens=10, model="claude-other")
    body = api.requests[0]["body"]
    assert body["model"] == "claude-other"
    assert "tools" not in body and "system" not in body
    assert reply["content"] == [{"type": "text", "text": "hello"}]
    assert reply["stop_reason"] == "end_turn"


def test_tool_use_then_end_turn_conversation(api):
    api.enqueue(tool_use_reply("orders_list", {"customer": "cust_tk_aaaaaaaaaaaa"}),
                text_reply("All done"))
    p = provider(api)
    msgs = [{"role": "user", "content": "go"}]
    first = p.complete(system="s", messages=msgs, tools=[], max_tokens=50, model="")
    msgs += [{"role": "assistant", "content": first["content"]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_fake_1",
                                           "content": json.dumps([{"order": "ord_tk_x"}])}]}]
    second = p.complete(system="s", messages=msgs, tools=[], max_tokens=50, model="")
    assert second["stop_reason"] == "end_turn"
    assert api.requests[1]["body"]["messages"][2]["content"][0]["tool_use_id"] == "toolu_fake_1"


@pytest.mark.parametrize("status,kind,expected", [
    (401, "authentication_error", "authentication failed"),
    (429, "rate_limit_error", "rate limited"),
    (400, "invalid_request_error", "API error 400: invalid_request_error: bad thing"),
    (500, "api_error", "API error 500"),
])
def test_sdk_errors_become_one_line_llm_errors(api, status, kind, expected):
    api.enqueue((status, kind, "bad thing"))
    with pytest.raises(LLMError) as info:
        provider(api).complete(system="", messages=[{"role": "user", "content": "x"}], tools=[],
                               max_tokens=5, model="")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and KEY not in message


def test_error_echoing_the_key_is_redacted(api):
    api.enqueue((400, "invalid_request_error", f"bad header {KEY}"))
    with pytest.raises(LLMError) as info:
        provider(api).complete(system="", messages=[{"role": "user", "content": "x"}], tools=[],
                               max_tokens=5, model="")
    assert KEY not in str(info.value) and "[redacted]" in str(info.value)


def test_unreachable_host_is_an_llm_error():
    with FakeMessagesAPI() as server:
        url = server.base_url
    p = AnthropicProvider(api_key=KEY, base_url=url, max_retries=0, timeout=5,
                          default_model="claude-test")
    with pytest.raises(LLMError, match="cannot reach"):
        p.complete(system="", messages=[{"role": "user", "content": "x"}], tools=[],
                   max_tokens=5, model="")


def test_malformed_reply_is_refused(api):
    bad = text_reply("x")
    bad["usage"] = {"input_tokens": -1, "output_tokens": 1}
    api.enqueue(bad)
    with pytest.raises(LLMError, match="input_tokens"):
        provider(api).complete(system="", messages=[{"role": "user", "content": "x"}], tools=[],
                               max_tokens=5, model="")


def test_missing_key_is_a_clear_usage_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider()


def test_key_and_base_url_read_from_host_environment(api, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    api.enqueue(text_reply())
    p = AnthropicProvider(max_retries=0, default_model="claude-test")
    assert KEY not in repr(p)
    p.complete(system="", messages=[{"role": "user", "content": "x"}], tools=[], max_tokens=5,
               model="")
    headers = api.requests[0]["headers"]
    assert KEY in (headers.get("x-api-key", ""), headers.get("authorization", "")[7:])
