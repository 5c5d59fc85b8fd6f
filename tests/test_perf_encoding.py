"""The cheaper encoders and decoders say exactly what the plain ones said.

`utc_now` (formatted once per second) against `strftime` across second boundaries;
`encode_ok_json` against `encode_ok`; the prebuilt frame decoder against the refusals
the per-call one gave (duplicates, NaN, overflowing numbers with the id still echoed,
a byte-order mark).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from siloos.membrane.protocol import FrameError, encode_ok, encode_ok_json, parse_request
from siloos.store import encoding
from siloos.store.encoding import canonical, dumps


@pytest.mark.parametrize("ns", [0, 1_700_000_000_000_000_000, 1_700_000_000_999_999_999,
                                1_700_000_001_000_000_000, 1_700_000_001_000_001_000,
                                1_700_000_060_123_456_789])
def test_utc_now_matches_strftime(monkeypatch, ns):
    monkeypatch.setattr(encoding.time, "time_ns", lambda: ns)
    expected = datetime.fromtimestamp(ns // 1000 / 1_000_000, UTC)
    micros = (ns // 1000) % 1_000_000
    assert encoding.utc_now() == expected.strftime("%Y-%m-%dT%H:%M:%S.") + f"{micros:06d}Z"


def test_utc_now_moves_on_with_the_clock(monkeypatch):
    times = iter([5_000_000_000, 5_999_999_000, 6_000_000_000])
    monkeypatch.setattr(encoding.time, "time_ns", lambda: next(times))
    assert [encoding.utc_now() for _ in range(3)] == [
        "1970-01-01T00:00:05.000000Z", "1970-01-01T00:00:05.999999Z",
        "1970-01-01T00:00:06.000000Z"]


@pytest.mark.parametrize("request_id", [0, 7, "abc", "ünï", None])
@pytest.mark.parametrize("result", [{}, {"a": 1, "b": [True, None, 2.5]}, {"t": "é\u2028x\n"}])
def test_reply_from_recorded_text_reads_as_the_plain_reply(request_id, result):
    line = encode_ok_json(request_id, canonical(result).text)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == json.loads(encode_ok(request_id, result))


def test_canonical_is_dumps_and_refuses_what_is_not_json():
    value = {"z": 1, "a": {"y": [1, "é"]}}
    assert canonical(value).text == dumps(value) == '{"a":{"y":[1,"é"]},"z":1}'
    for bad in (float("nan"), {"a": object()}):
        with pytest.raises((TypeError, ValueError)):
            canonical(bad)


def frame(text: str) -> bytes:
    return text.encode() + b"\n"


@pytest.mark.parametrize(("text", "message"), [
    ('{"v":1,"id":1,"op":"task","op":"note"}', "duplicate field 'op'"),
    ('{"v":1,"id":1,"op":"call","tool":"t","args":{"a":1,"a":2}}', "duplicate field 'a'"),
    ('{"v":1,"id":1,"op":"task","x":NaN}', "NaN is not JSON"),
    ('\ufeff{"v":1,"id":1,"op":"task"}', "Unexpected UTF-8 BOM"),
])
def test_frames_refused_as_before(text, message):
    with pytest.raises(FrameError) as caught:
        parse_request(frame(text))
    assert caught.value.code == 400 and message in caught.value.message


def test_an_overflowing_number_is_refused_with_the_frame_id_echoed():
    with pytest.raises(FrameError) as caught:
        parse_request(frame('{"v":1,"id":42,"op":"call","tool":"t","args":{"n":1e309}}'))
    assert caught.value.code == 400 and caught.value.request_id == 42
    assert "1e309 is out of range" in caught.value.message


def test_a_good_frame_parses_with_floats_kept():
    request = parse_request(frame('{"v":1,"id":3,"op":"call","tool":"t","args":{"n":1.5}}'))
    assert request.args == {"n": 1.5} and request.id == 3
