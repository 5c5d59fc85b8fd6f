"""The `scripted:FILE` provider: deterministic canned replies for tests and the offline demo.

A script is a JSON array of replies (``.json``) or one reply object per line (``.jsonl``;
blank lines are skipped). ``scripted:DIR`` loads every ``*.json`` / ``*.jsonl`` file in a
folder, in name order, as one script (the offline demo's ``siloos/demo``). A reply is::

    {"match": {"system": "You are refund-agent.", "task": "120"},    # optional
     "content": [{"type": "text", "text": "..."},
                 {"type": "tool_use", "name": "orders_list",
                  "input": {"customer": {"$ref": ["task", "input", "customer"]}}}],
     "stop_reason": "tool_use",                                      # optional
     "usage": {"input_tokens": 10, "output_tokens": 5},              # optional
     "comment": "free text, ignored"}                                # optional

Choosing a reply (stateless, so one provider can serve many tasks and hops at once):

1. The *candidates* are the replies whose every ``match`` entry is a substring of its
   field: ``system`` is the request's system prompt (the default loop puts "You are
   <agent>." in it) and ``task`` is the text of the conversation's first user message
   (the loop puts the task payload there as JSON). Both stay the same for a whole
   conversation, which is why they are the only match keys: a conversation's candidate
   list never changes under it. A reply without ``match`` is a candidate everywhere.
2. The reply used is ``candidates[n]``, where n is the number of assistant turns already
   in the request's messages. When there is no such reply, the script has run out and the
   call fails with an LLMError naming the file and the conversation's turn.

Values the agent only learns at run time (tokens such as ``ord_tk_…``) are written as a
reference, ``{"$ref": [root, step, ...]}``, anywhere inside a tool_use ``input``. It is
replaced by the value found by following the steps from the root:

- roots: ``"task"`` — the first JSON object in the first user message (the task payload);
  ``"last"`` — the latest tool result; ``"tool", NAME`` — the latest result of the tool
  called NAME (its Messages-API name, e.g. ``orders_list``). A tool result's text is
  parsed as JSON when it is JSON, else used as the string it is.
- steps: a string selects an object key, an integer a list index, and an object selects
  the first list element whose fields equal all of its fields (``{"amount": 120}``).

A reference that does not resolve fails the call with the file, line and path, so a
scenario that went off script stops loudly instead of inventing arguments. Missing
``usage`` is estimated from the sizes of request and reply (about four characters per
token), so budgets behave the same on every run. The file is validated when the provider
is built; every problem is reported as ``path:line: what is wrong``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siloos.errors import InputError
from siloos.llm.base import STOP_REASONS, LLMError, LLMProvider, check_reply

MATCH_KEYS = ("system", "task")
REPLY_KEYS = {"match", "content", "stop_reason", "usage", "comment"}
ROOTS = ("task", "last", "tool")


@dataclass(frozen=True)
class ScriptedReply:
    """One validated reply from the script, with the line it starts on."""

    path: Path
    line: int
    match: dict[str, str]
    content: list[dict[str, Any]]
    stop_reason: str
    usage: dict[str, int] | None

    def matches(self, system: str, task_text: str) -> bool:
        fields = {"system": system, "task": task_text}
        return all(needle in fields[key] for key, needle in self.match.items())


class ScriptedProvider(LLMProvider):
    """Replays a script of replies; see the module docstring for the format and rules."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir()
                           if p.suffix in (".json", ".jsonl") and p.is_file())
            if not files:
                raise InputError("no .json or .jsonl scripts in this folder", path=self.path)
            self.replies = [r for f in files for r in load_script(f)]
        else:
            self.replies = load_script(self.path)

    def __repr__(self) -> str:
        return f"ScriptedProvider({str(self.path)!r}, {len(self.replies)} replies)"

    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        if not isinstance(messages, list):
            raise LLMError("messages must be a list")
        task_text = _first_user_text(messages)
        turn = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
        candidates = [r for r in self.replies if r.matches(system or "", task_text)]
        if turn >= len(candidates):
            raise LLMError(f"{self.path}: script ran out: {len(candidates)} replies match this "
                           f"conversation and reply {turn + 1} was asked for")
        reply = candidates[turn]
        results = _ToolResults(messages)
        content = []
        for i, block in enumerate(reply.content):
            block = dict(block)
            if block["type"] == "tool_use":
                where = f"{reply.path}:{reply.line}"
                block["input"] = _resolve(block["input"], results, task_text, where)
                block.setdefault("id", f"toolu_scripted_{turn:03d}_{i:02d}")
            content.append(block)
        usage = reply.usage or _estimate_usage(system, messages, tools, content)
        return check_reply({
            "id": f"msg_scripted_{turn:03d}", "type": "message", "role": "assistant",
            "model": model or "scripted", "content": content,
            "stop_reason": reply.stop_reason, "stop_sequence": None, "usage": usage,
        })


def load_script(path: Path) -> list[ScriptedReply]:
    """Read and validate a script file; every problem is an InputError at path:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("scripted replies file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read scripted replies: {err}", path=path) from None
    entries = _jsonl_entries(text, path) if path.suffix == ".jsonl" else _json_entries(text, path)
    if not entries:
        raise InputError("the script holds no replies", path=path)
    return [_validate(entry, line, path) for line, entry in entries]


def _jsonl_entries(text: str, path: Path) -> list[tuple[int, Any]]:
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entries.append((lineno, json.loads(raw)))
        except json.JSONDecodeError as err:
            raise InputError(f"not valid JSON: {err.msg}", path=path, line=lineno) from None
    return entries


def _json_entries(text: str, path: Path) -> list[tuple[int, Any]]:
    """Decode a JSON array element by element, remembering the line each one starts on."""
    decoder = json.JSONDecoder()

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def skip_ws(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    pos = skip_ws(0)
    if pos >= len(text) or text[pos] != "[":
        raise InputError("a .json script must be a JSON array of replies (or use .jsonl)",
                         path=path, line=line_of(pos))
    entries: list[tuple[int, Any]] = []
    pos = skip_ws(pos + 1)
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as err:
                raise InputError(f"not valid JSON: {err.msg}", path=path,
                                 line=err.lineno) from None
            entries.append((line_of(pos), value))
            pos = skip_ws(end)
            if pos < len(text) and text[pos] == ",":
                pos = skip_ws(pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise InputError("expected ',' or ']' between replies", path=path, line=line_of(pos))
    if skip_ws(pos) != len(text):
        raise InputError("unexpected text after the array", path=path, line=line_of(pos))
    return entries


def _validate(entry: Any, line: int, path: Path) -> ScriptedReply:
    def bad(message: str) -> InputError:
        return InputError(message, path=path, line=line)

    if not isinstance(entry, dict):
        raise bad("a reply must be a JSON object")
    unknown = sorted(set(entry) - REPLY_KEYS)
    if unknown:
        raise bad(f"unknown reply key(s): {', '.join(unknown)}")
    match = entry.get("match", {})
    if not isinstance(match, dict) or not all(
            k in MATCH_KEYS and isinstance(v, str) and v for k, v in match.items()):
        raise bad(f"match must map {' / '.join(MATCH_KEYS)} to non-empty strings")
    content = entry.get("content")
    if not isinstance(content, list) or not content:
        raise bad("content must be a non-empty list of blocks")
    has_tool_use = False
    for i, block in enumerate(content):
        if not isinstance(block, dict):
            raise bad(f"content[{i}] must be an object")
        kind = block.get("type")
        if kind == "text":
            if not isinstance(block.get("text"), str) or set(block) - {"type", "text"}:
                raise bad(f"content[{i}]: a text block is {{type, text}} with a string text")
        elif kind == "tool_use":
            has_tool_use = True
            if set(block) - {"type", "id", "name", "input"}:
                raise bad(f"content[{i}]: a tool_use block is {{type, id?, name, input}}")
            name = block.get("name")
            if not isinstance(name, str) or not name or len(name) > 64 or not all(
                    c.isascii() and (c.isalnum() or c in "_-") for c in name):
                raise bad(f"content[{i}]: tool_use name must match ^[a-zA-Z0-9_-]{{1,64}}$")
            if "id" in block and not isinstance(block["id"], str):
                raise bad(f"content[{i}]: tool_use id must be a string")
            if not isinstance(block.get("input"), dict):
                raise bad(f"content[{i}]: tool_use input must be an object")
            _check_refs(block["input"], bad)
        else:
            raise bad(f"content[{i}]: block type must be text or tool_use")
    stop_reason = entry.get("stop_reason", "tool_use" if has_tool_use else "end_turn")
    if stop_reason not in STOP_REASONS:
        raise bad(f"stop_reason must be one of {', '.join(STOP_REASONS)}")
    if stop_reason == "tool_use" and not has_tool_use:
        raise bad("stop_reason tool_use needs a tool_use block")
    usage = entry.get("usage")
    if usage is not None and not (
            isinstance(usage, dict) and set(usage) == {"input_tokens", "output_tokens"}
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    for v in usage.values())):
        raise bad("usage must be {input_tokens, output_tokens} with non-negative integers")
    return ScriptedReply(path=path, line=line, match=dict(match), content=content,
                         stop_reason=stop_reason, usage=dict(usage) if usage else None)


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"$ref"}


def _check_refs(value: Any, bad: Any) -> None:
    """Refs are checked for shape at load time so a typo fails before the demo runs."""
    if _is_ref(value):
        path = value["$ref"]
        if not isinstance(path, list) or not path or path[0] not in ROOTS:
            raise bad(f"$ref must be a list starting with one of {', '.join(ROOTS)}")
        if path[0] == "tool" and (len(path) < 2 or not isinstance(path[1], str)):
            raise bad('$ref ["tool", NAME, ...] needs the tool name')
        for step in path[1:]:
            ok = (isinstance(step, str) or (isinstance(step, int) and not isinstance(step, bool))
                  or (isinstance(step, dict) and step))
            if not ok:
                raise bad(f"$ref step {step!r} must be a key, an index or a non-empty object")
    elif isinstance(value, dict):
        for item in value.values():
            _check_refs(item, bad)
    elif isinstance(value, list):
        for item in value:
            _check_refs(item, bad)


class _ToolResults:
    """The tool results already in a conversation, by tool name, latest last."""

    def __init__(self, messages: list[Any]) -> None:
        names: dict[str, str] = {}
        self.ordered: list[tuple[str, Any]] = []
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("content"), list):
                continue
            for block in message["content"]:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_use":
                    names[str(block.get("id"))] = str(block.get("name"))
                elif block.get("type") == "tool_result":
                    name = names.get(str(block.get("tool_use_id")), "")
                    self.ordered.append((name, _result_value(block.get("content"))))

    def latest(self, name: str | None) -> tuple[bool, Any]:
        for tool, value in reversed(self.ordered):
            if name is None or tool == name:
                return True, value
        return False, None


def _result_value(content: Any) -> Any:
    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content
                          if isinstance(b, dict) and b.get("type") == "text")
    if not isinstance(content, str):
        return content
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content


def _first_user_text(messages: list[Any]) -> str:
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(b.get("text", "") for b in content
                               if isinstance(b, dict) and b.get("type") == "text")
            return ""
    return ""


def _task_object(task_text: str) -> Any:
    start = task_text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(task_text, start)
    except json.JSONDecodeError:
        return None
    return value


def _resolve(value: Any, results: _ToolResults, task_text: str, where: str) -> Any:
    if _is_ref(value):
        return _follow(value["$ref"], results, task_text, where)
    if isinstance(value, dict):
        return {k: _resolve(v, results, task_text, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results, task_text, where) for v in value]
    return value


def _follow(path: list[Any], results: _ToolResults, task_text: str, where: str) -> Any:
    shown = json.dumps(path)
    root = path[0]
    if root == "task":
        current, steps = _task_object(task_text), path[1:]
        if current is None:
            raise LLMError(f"{where}: $ref {shown}: the first user message holds no JSON task")
    else:
        name = path[1] if root == "tool" else None
        found, current = results.latest(name)
        if not found:
            what = f"no result of tool {name!r}" if name else "no tool result"
            raise LLMError(f"{where}: $ref {shown}: the conversation has {what} yet")
        steps = path[2:] if root == "tool" else path[1:]
    for step in steps:
        if isinstance(step, dict):
            hit = [item for item in current if isinstance(item, dict) and all(
                item.get(k) == v for k, v in step.items())] if isinstance(current, list) else []
            if not hit:
                raise LLMError(f"{where}: $ref {shown}: no element matches {json.dumps(step)}")
            current = hit[0]
        elif isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                raise LLMError(f"{where}: $ref {shown}: index {step} is out of range")
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                raise LLMError(f"{where}: $ref {shown}: no key {step!r}")
            current = current[step]
    return current


def _estimate_usage(system: str, messages: list[Any], tools: list[Any],
                    content: list[dict[str, Any]]) -> dict[str, int]:
    request = json.dumps({"system": system, "messages": messages, "tools": tools},
                         sort_keys=True, default=str)
    reply = json.dumps(content, sort_keys=True, default=str)
    return {"input_tokens": max(1, len(request) // 4), "output_tokens": max(1, len(reply) // 4)}
