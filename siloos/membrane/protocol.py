"""Wire protocol v1 (design §5): parse one request line, encode one reply line.

A frame is one UTF-8 JSON object per newline-terminated line, at most `MAX_FRAME` bytes.
Parsing is strict on purpose: anything that is not exactly a v1 request is refused with a
`FrameError` carrying the protocol code, and never reaches the key checks. Nothing here
raises anything else on any input.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

#: A line longer than this (newline excluded) is refused with 413.
MAX_FRAME = 1024 * 1024
#: Objects/arrays nested deeper than this are refused (400): far more than any request
#: needs, far less than what would overflow a recursive walk of the value.
MAX_DEPTH = 64
VERSION = 1

#: Error types by protocol code, used when a refusal does not name a more precise type.
DEFAULT_TYPES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    409: "task_inactive", 413: "frame_too_large", 429: "budget_exhausted", 500: "exit_failed",
}

# Each op's own fields: name -> (JSON type, required). Types are checked exactly; a bool is
# never accepted where a number is expected. Fields not listed here are refused (400), so a
# client cannot smuggle meaning the membrane does not check.
_OBJECT, _ARRAY, _STRING, _INTEGER = "object", "array", "string", "integer"
OP_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "task": {},
    "call": {"tool": (_STRING, True), "args": (_OBJECT, False)},
    "note": {"text": (_STRING, True)},
    "finish": {"status": (_INTEGER, True), "summary": (_OBJECT, False),
               "redirect": (_STRING, False), "output": (_OBJECT, False)},
    "llm": {"messages": (_ARRAY, True), "system": (_STRING, False), "tools": (_ARRAY, False),
            "max_tokens": (_INTEGER, False), "model": (_STRING, False)},
}
ENVELOPE = ("v", "id", "op", "base_key", "task_key")
_ENVELOPE = frozenset(ENVELOPE)
#: The exact Python type the decoder makes for each JSON type of `OP_FIELDS` (a bool is
#: not an int here: `type(True) is bool`).
_DECODED_TYPE: dict[str, type] = {_OBJECT: dict, _ARRAY: list, _STRING: str, _INTEGER: int}

RequestId = int | str | None


class FrameError(Exception):
    """A frame that is not a valid v1 request; `request_id` is echoed when it was readable."""

    def __init__(self, code: int, message: str, *, request_id: RequestId = None,
                 error_type: str | None = None, op: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.type = error_type or DEFAULT_TYPES.get(code, "bad_request")
        self.message = message
        self.request_id = request_id
        self.op = op


class Request(NamedTuple):
    """One parsed v1 request. Keys are None when absent (the key step refuses that, 401).
    (A named tuple: one is made per request, at a fraction of a frozen dataclass's cost.)"""

    id: int | str
    op: str
    base_key: str | None
    task_key: str | None
    fields: Mapping[str, Any] = MappingProxyType({})

    @property
    def tool(self) -> str | None:
        return self.fields.get("tool")

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.fields.get("args") or {})


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return _INTEGER
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return _STRING
    if isinstance(value, list):
        return _ARRAY
    if isinstance(value, dict):
        return _OBJECT
    return "null"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two readers of one frame must never see two meanings: duplicate names are refused.
    obj = dict(pairs)
    if len(obj) != len(pairs):  # some name came twice: say which
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate field {key!r}")
            seen.add(key)
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _NotFinite(ValueError):
    """A number that reads as infinity (1e309): the fast decoder stops at it."""


def _finite_float(spelled: str) -> float:
    number = float(spelled)
    if not math.isfinite(number):
        raise _NotFinite(spelled)
    return number


#: Built once: `json.loads` with hooks builds a new decoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants,
                            parse_float=_finite_float)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _has_lone_surrogate(value: Any) -> bool:
    # json.loads accepts "\ud800"; such a string cannot be stored or re-encoded as UTF-8.
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def decode_json(line: bytes) -> Any:
    """Decode one line as strict JSON; raises FrameError(400/413) on anything else."""
    value, problem = _decode(line)
    if problem is not None:
        raise FrameError(400, problem)
    return value


def _decode(line: bytes) -> tuple[Any, str | None]:
    """(value, problem): a line that is not JSON at all raises FrameError; JSON whose values
    are refused (a non-finite number, nesting deeper than `MAX_DEPTH`) comes back with the
    reason, so that `parse_request` can still echo the frame's id in its refusal."""
    if len(line) > MAX_FRAME:
        raise FrameError(413, f"frame of {len(line)} bytes exceeds the {MAX_FRAME}-byte limit")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(400, "frame is not valid UTF-8") from None
    if text.startswith("\ufeff"):  # refused as json.loads refuses it (the decoder would not)
        bom = json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        raise FrameError(400, f"frame is not valid JSON: {bom}")
    try:
        value = _DECODER.decode(text)
    except _NotFinite:
        # Rare: decode again, keeping the value, so the refusal can echo the frame's id.
        return _decode_overflowing(text)
    except RecursionError:
        raise FrameError(400, "frame is nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, duplicates, NaN, over-long integers
        raise FrameError(400, f"frame is not valid JSON: {err}") from None
    return _checked(text, value)


def _decode_overflowing(text: str) -> tuple[Any, str | None]:
    """`_decode` for a text holding a number that overflows to infinity."""
    overflowed: list[str] = []

    def finite_float(spelled: str) -> float:
        # 1e309 reads as inf, which no store or reply can carry as JSON: refused like NaN.
        number = float(spelled)
        if not math.isfinite(number):
            overflowed.append(spelled)
        return number

    try:
        value = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants,
                                 parse_float=finite_float).decode(text)
    except RecursionError:
        raise FrameError(400, "frame is nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, duplicates, NaN, over-long integers
        raise FrameError(400, f"frame is not valid JSON: {err}") from None
    if overflowed:
        return value, f"number {overflowed[0][:40]} is out of range (not a finite number)"
    return _checked(text, value)


def _checked(text: str, value: Any) -> tuple[Any, str | None]:
    """The checks on a decoded value that still let its id be echoed (or not)."""
    if _too_deep(text, value):
        return value, f"frame is nested too deeply (more than {MAX_DEPTH} levels)"
    # Decoded UTF-8 never holds a surrogate; only a \uD800-\uDFFF escape can make one.
    # (Checked after the depth, which keeps this recursive walk within bounds.)
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise FrameError(400, "frame contains an unpaired surrogate")
    return value, None


def _too_deep(text: str, value: Any) -> bool:
    """Whether `value` nests objects/arrays more than `MAX_DEPTH` levels deep.

    Everything after the parser walks values recursively (tokenizing, auditing, storing);
    bounding the depth here keeps every one of those walks far from Python's recursion
    limit. Iterative, so that the check itself cannot overflow."""
    if not isinstance(value, dict | list) or text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # fewer brackets than levels: cannot be too deep (the common case)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_request(line: bytes) -> Request:
    """Parse and validate one request line (with or without its trailing newline)."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    value, problem = _decode(line)
    if not isinstance(value, dict):
        raise FrameError(400, problem or f"frame must be a JSON object, got {_json_type(value)}")
    raw_id = value.get("id")
    if "id" not in value:
        raise FrameError(400, problem or "missing field 'id'")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        raise FrameError(400, problem or f"field 'id' must be an integer or a string, "
                                         f"got {_json_type(raw_id)}")
    request_id: int | str = raw_id
    if problem is not None:
        raise FrameError(400, problem, request_id=request_id)
    if "v" not in value:
        raise FrameError(400, "missing field 'v'", request_id=request_id)
    if type(value["v"]) is not int or value["v"] != VERSION:  # 1.0 and true are not 1
        raise FrameError(400, f"unsupported protocol version {value['v']!r} (this is v1)",
                         request_id=request_id)
    op = value.get("op")
    if "op" not in value:
        raise FrameError(400, "missing field 'op'", request_id=request_id)
    if not isinstance(op, str):
        raise FrameError(400, f"field 'op' must be a string, got {_json_type(op)}",
                         request_id=request_id)
    spec = OP_FIELDS.get(op)
    if spec is None:
        raise FrameError(404, f"unknown op {op[:64]!r}", request_id=request_id)
    for name in ("base_key", "task_key"):
        if name in value and not isinstance(value[name], str):
            raise FrameError(400, f"field {name!r} must be a string, "
                                  f"got {_json_type(value[name])}", request_id=request_id, op=op)
    fields: dict[str, Any] = {}
    for name, item in value.items():
        if name in _ENVELOPE:
            continue
        if name not in spec:
            raise FrameError(400, f"op {op!r} has no field {name[:64]!r}",
                             request_id=request_id, op=op)
        wanted, required = spec[name]
        if item is None and not required:
            continue  # an optional field sent as null is the same as leaving it out
        if type(item) is not _DECODED_TYPE[wanted]:
            raise FrameError(400, f"field {name!r} must be {_article(wanted)}, "
                                  f"got {_json_type(item)}", request_id=request_id, op=op)
        fields[name] = item
    for name, (_, required) in spec.items():
        if required and name not in fields:
            raise FrameError(400, f"op {op!r} needs field {name!r}", request_id=request_id, op=op)
    return Request(id=request_id, op=op, base_key=value.get("base_key"),
                   task_key=value.get("task_key"), fields=fields)


def _article(json_type: str) -> str:
    return f"an {json_type}" if json_type[0] in "aeiou" else f"a {json_type}"


# Built once: `json.dumps` with options builds a new encoder on every call.
_OK_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_ERROR_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode_ok(request_id: RequestId, result: Any) -> bytes:
    """The success reply line. `result` must be JSON-serializable (ValueError/TypeError if not)."""
    body = {"id": request_id, "ok": True, "result": result}
    return (_OK_ENCODER.encode(body) + "\n").encode("utf-8")


def encode_ok_json(request_id: RequestId, result_json: str) -> bytes:
    """The success reply line around a result already encoded as JSON text (the canonical
    text a call's result was recorded as), so it is not encoded a second time.

    `result_json` must be one JSON value without a raw newline (true of any text
    `json.dumps` makes); UnicodeEncodeError (a ValueError) if it cannot be UTF-8."""
    # An int id (what the SDK sends) is its own JSON text; anything else is encoded.
    head = str(request_id) if type(request_id) is int else _OK_ENCODER.encode(request_id)
    return f'{{"id":{head},"ok":true,"result":{result_json}}}\n'.encode()


def encode_error(request_id: RequestId, code: int, message: str,
                 error_type: str | None = None) -> bytes:
    """The error reply line."""
    body = {"id": request_id, "ok": False,
            "error": {"code": code, "type": error_type or DEFAULT_TYPES.get(code, "error"),
                      "message": message}}
    return (_ERROR_ENCODER.encode(body) + "\n").encode("utf-8")
