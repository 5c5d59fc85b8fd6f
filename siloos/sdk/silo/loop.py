"""The default agent loop: think with the model, act through the membrane (design §12).

Runs inside the cell and uses only the standard library and the `silo` client. The
system prompt is the agent's own folder (AGENT.md body, policies, procedures, examples,
message templates) plus the task's `outcomes`; the tools are the agent's capabilities
(except `llm` itself) plus `finish` and `escalate`. Each model turn's tool calls go
through `silo.call`; a refusal from the membrane goes back to the model as a tool error so
it can change course, never as a crash. The loop ends when the model finishes or
escalates, when a budget runs out (status 500, "budget exhausted"), when the model stops
without finishing (400) or when `max_turns` model turns pass without an ending (400).

The tool list is the task payload's `tools`: the router builds it from the agent's
capabilities and the exit registry (names are exit names, each with its argument schema).
A payload without one finishes the hop 500 ("no tool list in the task payload") before
the model is asked anything: the loop never guesses its tools. The escalate tool's target
list is read from the base key's `escalate_to` claim (a JWT is signed, not encrypted, so
the cell can read it); the membrane still checks every call and every escalation.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import silo
from silo.toolnames import ToolNameError, exit_to_tool_name, tool_to_exit_name

DEFAULT_AGENT_DIR = "/agent"
STATUSES = (200, 301, 302, 400, 500)
FINISH, ESCALATE = "finish", "escalate"
#: Exits the loop never offers as tools: `llm` is the loop's own thinking.
NOT_TOOLS = frozenset({"llm"})
#: Codes after which nothing more can be done in this hop: bad keys, task over, or the
#: membrane unreachable (0). These propagate; the cell's exit status reports them.
FATAL_CODES = frozenset({0, 401, 409})
NOT_FOUND_CODE = 404
NO_TOOLS = "no tool list in the task payload"
BUDGET_CODE = 429
SECTIONS = (("policies", "Policies"), ("procedures", "Procedures"), ("examples", "Examples"),
            ("templates", "Message templates (for email.send; variables in {{ }})"))

WORKING_RULES = """\
# How you work here
- Personal data is replaced by tokens such as `email_tk_…` or `ord_tk_…`. Pass tokens to
  tools exactly as you received them; never invent or alter one.
- Act only through the tools. A refused call comes back as an error with the reason: do
  not repeat it unchanged; change course or escalate.
- When the task is done, call `finish` with status 200 and a summary object. To hand the
  task on, consult someone, or bring in a person, call `escalate`. Every task must end
  with one of these two tools; ending your turn without them leaves the task unfinished.
"""


def run_agent(max_turns: int = 30, *, agent_dir: str = DEFAULT_AGENT_DIR,
              max_tokens: int = 2048) -> dict[str, Any]:
    """Run the task to its end; returns the finish that was sent {status, summary, ...}."""
    payload = silo.task()
    built = build_tools(payload)
    if built is None:
        return _finish(500, {"reason": NO_TOOLS})
    tools, exit_names = built
    system = build_system_prompt(payload, agent_dir)
    messages: list[dict[str, Any]] = [{"role": "user", "content": task_message(payload)}]
    for _turn in range(max_turns):
        try:
            reply = silo.llm(messages, system=system, tools=tools, max_tokens=max_tokens)
        except silo.MembraneError as err:
            if err.code in FATAL_CODES:
                raise
            if err.code == NOT_FOUND_CODE and not messages[1:]:
                # No provider behind the membrane: nothing to reason with, so say so
                # honestly and hand the task to a person rather than fail it.
                return _finish(400, {"reason": "no model configured"})
            reason = "budget exhausted" if err.code == BUDGET_CODE else "model call failed"
            return _finish(500, {"reason": reason, "detail": err.message})
        if not isinstance(reply, dict):
            return _finish(500, {"reason": "model call failed",
                                 "detail": "the membrane returned no message"})
        content = _clean_content(reply.get("content"))
        uses = [b for b in content if b.get("type") == "tool_use"]
        if not uses:
            if reply.get("stop_reason") in ("max_tokens", "pause_turn") and content:
                # Cut off mid-thought: let the model carry on from where it stopped.
                messages.append({"role": "assistant", "content": content})
                messages.append({"role": "user", "content": "Continue. End the task with "
                                 "`finish` or `escalate`."})
                continue
            return _finish(400, {"reason": "model stopped without finishing",
                                 "last_message": _last_text(content)})
        messages.append({"role": "assistant", "content": content})
        results: list[dict[str, Any]] = []
        for use in uses:
            outcome = _run_tool(use, exit_names)
            if isinstance(outcome, _Ended):
                return outcome.finish
            results.append(outcome)
        messages.append({"role": "user", "content": results})
    return _finish(400, {"reason": "turn limit reached without finishing",
                         "max_turns": max_turns})


class _Ended:
    """The hop is over: `finish` holds what was sent to the membrane."""

    def __init__(self, finish: dict[str, Any]) -> None:
        self.finish = finish


def _run_tool(use: dict[str, Any], exit_names: dict[str, str]) -> dict[str, Any] | _Ended:
    """One tool_use -> its tool_result block, or _Ended when the hop finished."""
    name, args, use_id = use["name"], use["input"], use["id"]
    if name in (FINISH, ESCALATE):
        try:
            status, summary, output, redirect = (
                finish_args(args) if name == FINISH else escalate_args(args))
        except ValueError as err:
            return tool_error(use_id, f"{name}: {err}")
        try:
            return _Ended(_finish(status, summary, output, redirect))
        except silo.MembraneError as err:
            if err.code in FATAL_CODES:
                raise
            # e.g. an escalation target the base key does not allow: let the model fix it.
            return tool_error(use_id, f"{name} refused ({err.code} {err.type}): {err.message}")
    exit_name = exit_names.get(name)
    if exit_name is None:
        return tool_error(use_id, f"unknown tool {name!r}; use one of the tools offered")
    try:
        result = silo.call(exit_name, **args)
    except silo.MembraneError as err:
        if err.code in FATAL_CODES:
            raise
        if err.code == BUDGET_CODE:
            return _Ended(_finish(500, {"reason": "budget exhausted", "detail": err.message}))
        return tool_error(use_id, f"{exit_name} refused ({err.code} {err.type}): {err.message}")
    return {"type": "tool_result", "tool_use_id": use_id,
            "content": json.dumps(result, ensure_ascii=False, sort_keys=True)}


def tool_error(use_id: str, message: str) -> dict[str, Any]:
    """A tool_result the model reads as a failed call."""
    return {"type": "tool_result", "tool_use_id": use_id, "is_error": True, "content": message}


def _finish(status: int, summary: dict[str, Any], output: dict[str, Any] | None = None,
            redirect: str | None = None) -> dict[str, Any]:
    # exit=False: the loop returns what it sent, and main.py decides how the process ends.
    silo.finish(status, summary=summary, output=output or {}, redirect=redirect, exit=False)
    return {"status": status, "summary": summary, "output": output or {}, "redirect": redirect}


def finish_args(args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any], str | None]:
    """Check the model's `finish` input; ValueError says what to fix."""
    status = args.get("status")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if status not in STATUSES or isinstance(status, bool):
        raise ValueError(f"status must be one of {', '.join(map(str, STATUSES))}")
    summary = _as_object(args.get("summary"), "summary")
    output = _as_object(args.get("output"), "output")
    redirect = args.get("redirect")
    if status in (301, 302):
        if not isinstance(redirect, str) or not redirect:
            raise ValueError(f"status {status} needs a redirect target")
    elif redirect not in (None, ""):
        raise ValueError("redirect is only for status 301 or 302")
    else:
        redirect = None
    return status, summary, output, redirect


def escalate_args(args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any], str | None]:
    """`escalate {target, reason, consult?, details?}` -> 301 / 302 / 400 (target human)."""
    target, reason = args.get("target"), args.get("reason")
    if not isinstance(target, str) or not target:
        raise ValueError("target must name an agent, or 'human'")
    if not isinstance(reason, str) or not reason:
        raise ValueError("reason must be a non-empty string")
    summary = {**_as_object(args.get("details"), "details"), "reason": reason}
    if target == "human":
        return 400, summary, {}, None
    return (302 if args.get("consult") is True else 301), summary, {}, target


def _as_object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"text": value}
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


def _clean_content(content: Any) -> list[dict[str, Any]]:
    """Keep the blocks the loop understands, in the shape the API accepts back."""
    out: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            if block["text"]:
                out.append({"type": "text", "text": block["text"]})
        elif (kind == "tool_use" and isinstance(block.get("id"), str)
              and isinstance(block.get("name"), str) and isinstance(block.get("input"), dict)):
            out.append({"type": "tool_use", "id": block["id"], "name": block["name"],
                        "input": block["input"]})
        elif isinstance(kind, str) and kind not in ("text", "tool_use"):
            out.append(block)  # thinking and other blocks go back to the model untouched
    return out


def _last_text(content: list[dict[str, Any]]) -> str:
    texts = [b["text"] for b in content if b.get("type") == "text"]
    return texts[-1][:1000] if texts else ""


# --- the task message and the system prompt -------------------------------------------------

def task_message(payload: dict[str, Any]) -> str:
    """The first user message: the task as JSON (scripted replies read it back, too)."""
    task = {k: payload.get(k) for k in ("task_id", "agent", "input", "history")}
    return "Here is your task (JSON):\n" + json.dumps(task, ensure_ascii=False, indent=2)


def build_system_prompt(payload: dict[str, Any], agent_dir: str = DEFAULT_AGENT_DIR) -> str:
    """AGENT.md body, policies, procedures, examples, templates, outcomes, working rules."""
    agent = str(payload.get("agent") or "an agent")
    parts = [f"You are {agent}."]
    body = split_frontmatter(_read(os.path.join(agent_dir, "AGENT.md")))[1].strip()
    if body:
        parts.append(body)
    for folder, title in SECTIONS:
        docs = _read_folder(os.path.join(agent_dir, folder))
        if docs:
            parts.append(f"# {title}\n\n" + "\n\n".join(
                f"## {name}\n\n{text.strip()}" for name, text in docs))
    outcomes = payload.get("outcomes")
    if isinstance(outcomes, dict) and outcomes:
        lines = [f"- {code}: {what}" for code, what in sorted(outcomes.items())]
        parts.append("# What each finishing status leads to\n\n" + "\n".join(lines))
    parts.append(WORKING_RULES)
    return "\n\n".join(parts)


def split_frontmatter(text: str) -> tuple[str, str]:
    """(frontmatter, body): frontmatter is between a first line `---` and the next `---`."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return "", text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1:])
    return "", text  # an unclosed block is not frontmatter


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return ""


def _read_folder(folder: str) -> list[tuple[str, str]]:
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".md"))
    except OSError:
        return []
    docs = [(name[:-3], _read(os.path.join(folder, name))) for name in names]
    return [(name, text) for name, text in docs if text.strip()]


# --- tools ------------------------------------------------------------------------------------

def build_tools(payload: dict[str, Any], environ: dict[str, str] | None = None
                ) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    """(Messages-API tools, tool name -> exit name) from the payload's `tools`, plus the
    loop's own `finish` and `escalate`; None when the payload carries no tool list."""
    specs = _payload_tools(payload.get("tools"))
    if specs is None:
        return None
    env = os.environ if environ is None else environ
    escalate_to = jwt_claims(env.get("SILO_BASE_KEY", "")).get("escalate_to")
    if isinstance(escalate_to, list):
        escalate_to = [t for t in escalate_to if isinstance(t, str)]
    else:
        escalate_to = None
    tools: list[dict[str, Any]] = []
    exit_names: dict[str, str] = {}
    for spec in specs:
        if spec["name"] in NOT_TOOLS:
            continue
        try:
            tool_name = exit_to_tool_name(spec["name"])
        except ToolNameError:
            continue  # not an exit name the membrane could serve
        if tool_name in (FINISH, ESCALATE) or tool_name in exit_names:
            continue  # the loop's own tools win; an exit cannot shadow them
        exit_names[tool_name] = tool_to_exit_name(tool_name)
        tools.append({"name": tool_name, "description": spec["description"],
                      "input_schema": spec["input_schema"]})
    tools += [finish_tool(), escalate_tool(escalate_to)]
    return tools, exit_names


def _payload_tools(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    specs = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        schema = item.get("input_schema")
        specs.append({
            "name": item["name"],
            "description": str(item.get("description") or f"The `{item['name']}` exit."),
            "input_schema": schema if isinstance(schema, dict) else {"type": "object"},
        })
    return specs


def finish_tool() -> dict[str, Any]:
    """End the hop with a status (design §5 `finish`)."""
    return {
        "name": FINISH,
        "description": ("End your work on this task. 200 done; 301 hand off to `redirect`; "
                        "302 consult `redirect` and get the task back; 400 a person must "
                        "take over; 500 abort. `summary` is what the next reader needs."),
        "input_schema": {
            "type": "object",
            "properties": {
                "status": {"type": "integer", "enum": list(STATUSES)},
                "summary": {"type": "object"},
                "output": {"type": "object"},
                "redirect": {"type": "string"},
            },
            "required": ["status", "summary"],
        },
    }


def escalate_tool(targets: list[str] | None = None) -> dict[str, Any]:
    """Hand off (301), consult (302, `consult: true`) or bring in a person (target human)."""
    target: dict[str, Any] = {"type": "string"}
    if targets:
        target["enum"] = list(targets)
    return {
        "name": ESCALATE,
        "description": ("Pass the task on: to another agent (hand off; set consult to true to "
                        "get the task back with their answer), or to `human` for a person."),
        "input_schema": {
            "type": "object",
            "properties": {
                "target": target,
                "reason": {"type": "string"},
                "consult": {"type": "boolean"},
                "details": {"type": "object"},
            },
            "required": ["target", "reason"],
        },
    }


def jwt_claims(token: str) -> dict[str, Any]:
    """A compact JWT's claims, unverified (the membrane verifies); {} when unreadable."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return {}
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}
