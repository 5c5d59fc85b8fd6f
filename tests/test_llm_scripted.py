"""The scripted provider: validation with path:line, turn-indexed replay, matching, $ref."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siloos.errors import InputError, UsageError
from siloos.llm import get_provider
from siloos.llm.scripted import ScriptedProvider
from siloos.workspace import Workspace, WorkspaceConfig

DEMO = Path(__file__).resolve().parent.parent / "siloos" / "demo"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def task_msg(payload: dict) -> dict:
    return {"role": "user", "content": "Here is your task (JSON):\n" + json.dumps(payload)}


def ask(p: ScriptedProvider, messages: list, system: str = "You are refund-agent.") -> dict:
    return p.complete(system=system, messages=messages, tools=[], max_tokens=100, model="")


SCRIPT = [
    {"match": {"system": "You are refund-agent.", "task": "120"},
     "content": [{"type": "tool_use", "name": "orders_list",
                  "input": {"customer": {"$ref": ["task", "input", "customer"]}}}]},
    {"match": {"system": "You are refund-agent.", "task": "120"},
     "content": [{"type": "tool_use", "name": "refunds_issue",
                  "input": {"order": {"$ref": ["tool", "orders_list", {"amount": 120}, "order"]},
                            "amount": 120, "reason": "damaged"}}]},
    {"match": {"system": "You are refund-agent.", "task": "120"},
     "content": [{"type": "text", "text": "done"}]},
    {"match": {"system": "You are manager-agent."},
     "content": [{"type": "text", "text": "manager here"}], "usage": {"input_tokens": 7,
                                                                     "output_tokens": 3}},
]


def test_replays_by_turn_and_resolves_refs(tmp_path):
    p = ScriptedProvider(write(tmp_path, "s.json", json.dumps(SCRIPT, indent=1)))
    msgs = [task_msg({"input": {"customer": "cust_tk_aaaaaaaaaaaa", "message": "refund 120"}})]
    first = ask(p, msgs)
    assert first["stop_reason"] == "tool_use"
    use = first["content"][0]
    assert use["input"] == {"customer": "cust_tk_aaaaaaaaaaaa"}
    assert use["name"] == "orders_list" and use["id"].startswith("toolu_")
    orders = [{"order": "ord_tk_000000000750", "amount": 750},
              {"order": "ord_tk_000000000120", "amount": 120.0}]
    msgs += [{"role": "assistant", "content": first["content"]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"],
                                           "content": json.dumps(orders)}]}]
    second = ask(p, msgs)
    assert second["content"][0]["input"] == {"order": "ord_tk_000000000120", "amount": 120,
                                             "reason": "damaged"}
    msgs += [{"role": "assistant", "content": second["content"]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x",
                                           "content": "{}"}]}]
    third = ask(p, msgs)
    assert third["stop_reason"] == "end_turn"
    assert third["usage"]["input_tokens"] > 0 and third["usage"]["output_tokens"] > 0
    # Same conversation, same reply: the provider keeps no state between calls.
    assert ask(p, msgs[:1]) == first


def test_match_selects_scenario_and_explicit_usage_is_kept(tmp_path):
    p = ScriptedProvider(write(tmp_path, "s.json", json.dumps(SCRIPT)))
    reply = ask(p, [task_msg({"input": {}})], system="You are manager-agent.")
    assert reply["content"] == [{"type": "text", "text": "manager here"}]
    assert reply["usage"] == {"input_tokens": 7, "output_tokens": 3}


def test_script_running_out_fails_clearly(tmp_path):
    p = ScriptedProvider(write(tmp_path, "s.json", json.dumps(SCRIPT)))
    msgs = [task_msg({"input": {}}), {"role": "assistant", "content": [{"type": "text",
                                                                        "text": "a"}]},
            {"role": "user", "content": "more"}]
    with pytest.raises(Exception, match=r"script ran out: 1 replies match .* reply 2"):
        ask(p, msgs, system="You are manager-agent.")
    with pytest.raises(Exception, match="script ran out: 0 replies"):
        ask(p, [task_msg({})], system="You are someone-else.")


def test_unresolvable_ref_names_file_and_line(tmp_path):
    path = write(tmp_path, "s.json", json.dumps(SCRIPT, indent=1))
    p = ScriptedProvider(path)
    msgs = [task_msg({"input": {"message": "120"}})]
    with pytest.raises(Exception, match=rf"{path}:2: \$ref .*no key 'customer'"):
        ask(p, msgs)
    first_line_of_second = json.dumps(SCRIPT, indent=1).splitlines().index(" {", 2) + 1
    msgs = [task_msg({"input": {"customer": "c", "message": "120"}}),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1",
                                               "name": "orders_list", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                          "content": json.dumps([{"amount": 5}])}]}]
    with pytest.raises(Exception, match=rf":{first_line_of_second}: .*no element matches"):
        ask(p, msgs)


def test_jsonl_script_and_last_root(tmp_path):
    lines = [json.dumps({"content": [{"type": "tool_use", "name": "a", "input": {}}]}), "",
             json.dumps({"content": [{"type": "tool_use", "name": "b",
                                      "input": {"x": {"$ref": ["last", "k", 1]}}}]})]
    p = ScriptedProvider(write(tmp_path, "s.jsonl", "\n".join(lines)))
    msgs = [{"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "a",
                                               "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                          "content": [{"type": "text",
                                                       "text": '{"k": [1, "two"]}'}]}]}]
    assert ask(p, msgs)["content"][0]["input"] == {"x": "two"}


@pytest.mark.parametrize("text,line,message", [
    ('[\n{"content": []}\n]', 2, "non-empty list"),
    ('[\n{"content": [{"type": "text", "text": "a"}]},\n\n{"bogus": 1}]', 4, "unknown reply key"),
    ('[\n{"content": [{"type": "tool_use", "name": "has.dot", "input": {}}]}]', 2, "tool_use name"),
    ('[\n{"content": [{"type": "text", "text": "a"}], "stop_reason": "tool_use"}]', 2,
     "needs a tool_use"),
    ('[\n{"match": {"last_user": "x"}, "content": [{"type": "text", "text": "a"}]}]', 2,
     "match must map"),
    ('[\n{"content": [{"type": "tool_use", "name": "a", "input": {"x": {"$ref": ["nope"]}}}]}]',
     2, r"\$ref must be a list"),
    ('[\n{"content": [{"type": "text", "text": "a"}], "usage": {"input_tokens": 1}}]', 2,
     "usage must be"),
    ('[\n{"content": [{"type": "text", "text": "a"}]}\n{"content": 1}]', 3, "expected ','"),
    ('[\n{"content": [{"type": "text", "text": "a"}] ', 2, "not valid JSON"),
    ('{"replies": []}', 1, "must be a JSON array"),
    ("[]", None, "holds no replies"),
])
def test_bad_scripts_report_path_and_line(tmp_path, text, line, message):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(InputError, match=message) as info:
        ScriptedProvider(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_bad_jsonl_line(tmp_path):
    path = write(tmp_path, "bad.jsonl", '{"content": [{"type": "text", "text": "a"}]}\n{oops\n')
    with pytest.raises(InputError, match=rf"{path}:2: not valid JSON"):
        ScriptedProvider(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        ScriptedProvider(tmp_path / "none.json")


def test_get_provider_specs(tmp_path, monkeypatch):
    script = write(tmp_path, "s.json", json.dumps(SCRIPT))
    cfg = WorkspaceConfig()
    assert get_provider(None, cfg) is None
    assert get_provider(None, None) is None
    p = get_provider("scripted:s.json", cfg, root=tmp_path)
    assert isinstance(p, ScriptedProvider) and p.path == script
    monkeypatch.chdir(tmp_path)
    assert get_provider("scripted:s.json", None).path == tmp_path / "s.json"
    (tmp_path / "silo.toml").write_text('[llm]\nprovider = "scripted:s.json"\n')
    ws = Workspace.load(tmp_path)
    assert isinstance(get_provider(None, ws), ScriptedProvider)
    with pytest.raises(UsageError, match="unknown LLM provider 'openai'"):
        get_provider("openai", cfg)
    with pytest.raises(UsageError, match="needs a file"):
        get_provider("scripted:", cfg)
    with pytest.raises(InputError, match="not found"):
        get_provider("scripted:missing.json", cfg, root=tmp_path)


def test_get_provider_anthropic_uses_workspace_model(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    cfg = WorkspaceConfig.from_dict({"llm": {"provider": "anthropic", "model": "claude-x"}})
    p = get_provider(None, cfg)
    assert p.default_model == "claude-x"
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        get_provider("anthropic", cfg)


@pytest.mark.parametrize("name", ["refund-120.json", "refund-750.json", "manager-750.json"])
def test_demo_scripts_are_valid(name):
    assert ScriptedProvider(DEMO / name).replies
