from __future__ import annotations

import json

import pytest

from llama_client._sse import ServerSentEvent, SSEDecoder
from tests.wire import chunk, sse, usage_chunk


def decode(parts: list[bytes]) -> list[ServerSentEvent]:
    d = SSEDecoder()
    out: list[ServerSentEvent] = []
    for p in parts:
        out.extend(d.feed(p))
    out.extend(d.flush())
    return out


# A recorded-style vLLM stream, with the awkward parts a client meets in the wild mixed in:
# a keep-alive comment, an event/id/retry field, a multi-line data field and CRLF line ends.
RECORDED = (
    sse(chunk(role="assistant", content=""), chunk(content="Bonjour ☃ 🦙"), done=False)
    + b": keep-alive\r\n\r\n"
    + b'event: message\r\nid: 7\r\nretry: 1500\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    + sse(chunk(content="!", finish="stop"), usage_chunk())
)


def test_basic_events_and_done() -> None:
    events = decode([RECORDED])
    datas = [e.data for e in events]
    assert datas[-1] == "[DONE]"
    assert json.loads(datas[1])["choices"][0]["delta"]["content"] == "Bonjour ☃ 🦙"
    multi = events[2]
    assert multi.data == '{"a":\n1}'
    assert (multi.event, multi.id, multi.retry) == ("message", "7", 1500)
    assert len(events) == 6  # the comment produced no event


def test_every_split_position_gives_the_same_events() -> None:
    expected = decode([RECORDED])
    for i in range(len(RECORDED) + 1):
        assert decode([RECORDED[:i], RECORDED[i:]]) == expected, i


def test_byte_by_byte() -> None:
    assert decode([RECORDED[i : i + 1] for i in range(len(RECORDED))]) == decode([RECORDED])


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    body = b"data: one" + eol + b"data: two" + eol + eol + b"data: three" + eol + eol
    assert [e.data for e in decode([body])] == ["one\ntwo", "three"]


def test_cr_then_lf_in_next_chunk_is_one_line_end() -> None:
    # "data: x\r" | "\n\r\n": the CRLF split across reads must not create an extra blank line.
    assert [e.data for e in decode([b"data: x\r", b"\n\r\n", b"data: y\r\n\r\n"])] == ["x", "y"]


def test_final_event_without_trailing_blank_line_is_delivered_on_flush() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: last") == []
    assert [e.data for e in d.flush()] == ["last"]


def test_comments_and_unknown_fields_are_ignored() -> None:
    events = decode([b": ping\n\nfoo: bar\ndata: x\n\n:\n\n"])
    assert [e.data for e in events] == ["x"]


def test_field_without_space_and_empty_data() -> None:
    events = decode([b"data:tight\n\ndata:\n\n"])
    assert [e.data for e in events] == ["tight", ""]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode([b"event: ping\n\n"]) == []


def test_utf8_split_inside_a_character() -> None:
    raw = "data: é🦙\n\n".encode()
    cut = raw.index("🦙".encode()) + 2
    assert [e.data for e in decode([raw[:cut], raw[cut:]])] == ["é🦙"]


def test_last_event_id_and_invalid_retry() -> None:
    d = SSEDecoder()
    events = d.feed(b"id: 42\nretry: soon\ndata: x\n\n")
    assert events[0].retry is None and events[0].id == "42"
    assert d.last_event_id == "42"
