"""Hostile JSON from the server: only documented errors, each showing what arrived.

Through real sockets, for each client kind (sync, async, async over aiohttp):

- JSON nested 10,000 levels deep (a bare RecursionError before) in a 200 body, in one field
  of a completion, in an error body (500, 400), in an SSE event, in an ``event: error`` frame
  and in a JSON body answering a streamed call;
- streamed chunks that ``stream()`` cannot fold into one ChatCompletion: a choice that also
  carries a ``message`` (a TypeError before), fields of the wrong type (``raw_finish_reason:
  5``: a bare pydantic ValidationError before).

Hypothesis: any chunks (valid as chunks, with any extra fields at every level) fold into a
ChatCompletion or raise ResponseValidationError, and no extra field the server sent is lost;
error_info reads any body, however deep, without raising.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_client import (
    BadRequestError,
    ChatCompletionChunk,
    InternalServerError,
    ResponseValidationError,
    StreamError,
)
from llama_client._chat_stream import ChatCompletionAccumulator
from llama_client.errors import error_info
from tests.faultserver import FaultServer, respond, sse_stream
from tests.wire import FAULT, completion_body, delta_chunk, sse_events

DEPTH = 10_000
DEEP = "[" * DEPTH + "]" * DEPTH
#: Deep enough to be refused by the JSON parsers, shallow enough for json.loads: the band
#: where a body parses but json.dumps deeper in the stack could still overflow.
MIDDLE = "[" * 900 + "]" * 900


def deep_value(depth: int = DEPTH) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def completion_with(field_json: str, where: str) -> bytes:
    """A completion body whose ``where`` field holds raw JSON text ``field_json``."""
    body = completion_body(server=FAULT)
    placeholder = "__PLACEHOLDER__"
    if where == "logprobs":
        body["choices"][0]["logprobs"] = placeholder
    elif where == "message.extra":
        body["choices"][0]["message"]["extra"] = placeholder
    elif where == "tool_call.arguments":
        body["choices"][0]["message"]["tool_calls"] = [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": placeholder}}
        ]
    elif where == "usage":
        body["usage"] = placeholder
    return json.dumps(body).replace(json.dumps(placeholder), field_json).encode()


# ------------------------------------------------------------------------------ deep bodies


def test_200_body_nested_10000_deep(make: Any, server: FaultServer) -> None:
    server.script(respond(200, b'{"choices": ' + DEEP.encode() + b"}"))
    h = make()
    with pytest.raises(ResponseValidationError) as info:
        h.create()
    assert '{"choices": [[[[' in str(info.value)  # a preview of what arrived
    assert len(str(info.value)) < 5000
    assert h.busy_connections() == 0


@pytest.mark.parametrize("where", ["logprobs", "message.extra", "tool_call.arguments", "usage"])
@pytest.mark.parametrize("nesting", [DEEP, MIDDLE], ids=["10000", "900"])
def test_completion_field_nested_deep(
    make: Any, server: FaultServer, where: str, nesting: str
) -> None:
    server.script(respond(200, completion_with(nesting, where)))
    with pytest.raises(ResponseValidationError) as info:
        make().create()
    assert "chatcmpl-fault" in str(info.value)


@pytest.mark.parametrize(
    ("code", "cls"), [(500, InternalServerError), (400, BadRequestError)], ids=["500", "400"]
)
@pytest.mark.parametrize("nesting", [DEEP, MIDDLE], ids=["10000", "900"])
@pytest.mark.parametrize(
    "shape",
    ['{"error": %s}', '{"error": {"message": %s, "code": %s}}', '{"detail": %s}', "%s"],
    ids=["error", "message+code", "detail", "bare"],
)
def test_error_body_nested_deep(
    make: Any, server: FaultServer, code: int, cls: type, nesting: str, shape: str
) -> None:
    body = shape.replace("%s", nesting).encode()
    server.script(respond(code, body))
    with pytest.raises(cls) as info:
        make(max_retries=0).create()
    assert info.value.status_code == code
    assert "[[[[" in str(info.value)
    assert len(str(info.value)) < 5000


def test_sse_event_nested_deep(make: Any, server: FaultServer) -> None:
    server.script(sse_stream(sse_events(delta_chunk("Hi"), DEEP)))
    chunks, exc = make().stream()
    assert [c.choices[0].delta.content for c in chunks] == ["Hi"]
    assert isinstance(exc, ResponseValidationError)
    assert "[[[[" in str(exc) and len(str(exc)) < 5000


@pytest.mark.parametrize(
    "data",
    [DEEP, '{"error": ' + DEEP + "}", '{"error": {"message": ' + MIDDLE + "}}", "not json", "{}"],
    ids=["deep", "error-deep", "message-900", "text", "no-error-key"],
)
def test_error_event_is_stream_error_whatever_its_data(
    make: Any, server: FaultServer, data: str
) -> None:
    error = b"event: error\ndata: " + data.encode() + b"\n\n"
    pieces = [*sse_events(delta_chunk("Hi"), done=False), error]
    server.script(sse_stream(pieces))
    chunks, exc = make().stream()
    assert len(chunks) == 1
    assert isinstance(exc, StreamError), repr(exc)
    assert "error in the stream" in str(exc)


def test_json_body_nested_deep_answering_a_stream(make: Any, server: FaultServer) -> None:
    server.script(respond(200, b'{"error": ' + DEEP.encode() + b"}"))
    chunks, exc = make().stream()
    assert chunks == []
    assert isinstance(exc, ResponseValidationError) and "[[[[" in str(exc)


def test_error_info_reads_any_depth() -> None:
    for body in (
        deep_value(100_000),
        {"error": deep_value()},
        {"error": {"message": deep_value(), "code": deep_value(), "type": deep_value()}},
        {"error": "e", "code": deep_value()},
        {"detail": deep_value()},
    ):
        info = error_info(body, 500)
        assert info.message.startswith(("[[[[", '{"', "e"))
        assert len(info.message) < 2500


# ------------------------------------------------------------------------------ folding chunks


def chunk_with(choice_extra: dict[str, Any] | None = None, **delta: Any) -> dict[str, Any]:
    c = delta_chunk(delta.pop("content", None), delta.pop("finish", None))
    c["choices"][0]["delta"].update(delta)
    c["choices"][0].update(choice_extra or {})
    return c


def test_streamed_choice_with_a_message_folds(make: Any, server: FaultServer) -> None:
    first = chunk_with(content="Hel", role="assistant")
    last = chunk_with(
        {"message": {"role": "assistant", "content": "Hello", "reasoning_content": "think"}},
        content="lo",
        finish="stop",
    )
    server.script(sse_stream(sse_events(first, last)))
    final = make().final_completion()
    message = final.choices[0].message
    assert message.content == "Hello"  # the deltas, which the caller saw streamed
    assert message.model_extra == {"reasoning_content": "think"}  # what the deltas lacked


def test_streamed_message_alone_gives_the_content(make: Any, server: FaultServer) -> None:
    only = chunk_with({"message": {"role": "assistant", "content": "whole"}}, finish="stop")
    server.script(sse_stream(sse_events(only)))
    assert make().final_completion().choices[0].message.content == "whole"


@pytest.mark.parametrize(
    ("choice_extra", "delta_extra", "shown"),
    [
        ({"raw_finish_reason": 5}, {}, "raw_finish_reason"),
        ({"message": "not an object"}, {}, "not an object"),
        ({"message": {"role": 7}}, {}, "role"),
        ({}, {"raw_content": 5}, "raw_content"),
        ({}, {"rejected_tool_calls": "x"}, "rejected_tool_calls"),
    ],
)
def test_chunks_that_cannot_fold_are_response_validation_error(
    make: Any, server: FaultServer, choice_extra: dict[str, Any], delta_extra: Any, shown: str
) -> None:
    bad = chunk_with(choice_extra, content="Hi", finish="stop", **delta_extra)
    server.script(sse_stream(sse_events(bad)))
    h = make()
    with pytest.raises(ResponseValidationError) as info:
        h.final_completion()
    assert shown in str(info.value)
    assert h.busy_connections() == 0
    # iterating the raw chunks is unaffected: they are what the server sent
    server.script(sse_stream(sse_events(bad)))
    chunks, exc = h.stream()
    assert exc is None and len(chunks) == 1


def test_delta_text_extras_are_joined_like_content() -> None:
    acc = ChatCompletionAccumulator()
    for piece in ("I ", "think", None):
        acc.add(
            ChatCompletionChunk.model_validate(chunk_with(content="x", reasoning_content=piece))
        )
    acc.add(ChatCompletionChunk.model_validate(chunk_with(finish="stop", audio={"id": "a"})))
    message = acc.completion().choices[0].message
    assert message.content == "xxx"
    assert message.model_extra == {"reasoning_content": "I think", "audio": {"id": "a"}}


# ------------------------------------------------------------------------------ hypothesis

FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
#: Extra field names, including the ones the accumulated models declare.
names = st.sampled_from(
    [
        "message",
        "raw_finish_reason",
        "raw_content",
        "rejected_tool_calls",
        "role",
        "content",
        "tool_calls",
        "index",
        "reasoning_content",
        "x_groq",
        "_provider",
        "object",
    ]
) | st.text(min_size=1, max_size=5)
extras = st.dictionaries(names, values, max_size=3)
tool_deltas = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "index": st.integers(0, 2),
            "id": st.text(max_size=4),
            "type": st.sampled_from(["function", "x"]),
            "function": st.fixed_dictionaries(
                {}, optional={"name": st.text(max_size=4), "arguments": st.text(max_size=6)}
            ),
        },
    ).flatmap(lambda tc: extras.map(lambda e: {**e, **tc})),
    max_size=2,
)
chunk_dicts = st.builds(
    lambda top, choices: {**top, "choices": choices},
    extras,
    st.lists(
        st.builds(
            lambda extra, index, delta, finish: {
                **extra,
                "index": index,
                "delta": delta,
                "finish_reason": finish,
            },
            extras,
            st.integers(0, 2),
            st.builds(
                lambda e, content, role, tcs: {
                    **e,
                    "content": content,
                    "role": role,
                    "tool_calls": tcs,
                },
                extras,
                st.none() | st.text(max_size=5),
                st.none() | st.sampled_from(["assistant", "x"]),
                st.none() | tool_deltas,
            ),
            st.none() | st.sampled_from(["stop", "length", "tool_calls"]),
        ),
        max_size=2,
    ),
)


@FUZZ
@given(chunks=st.lists(chunk_dicts, min_size=1, max_size=4))
def test_any_chunks_fold_or_raise_response_validation_error(chunks: list[dict[str, Any]]) -> None:
    acc = ChatCompletionAccumulator()
    parsed = []
    for data in chunks:
        try:
            chunk = ChatCompletionChunk.model_validate_json(json.dumps(data))
        except ValueError:
            continue  # not a chunk at all: the decoder's ResponseValidationError
        acc.add(chunk)
        parsed.append(chunk)
    try:
        final = acc.completion()
    except ResponseValidationError:
        return
    # Nothing the server sent is silently lost: every extra field is somewhere in the result.
    top_extra = final.model_extra or {}
    for chunk in parsed:
        for key in chunk.model_extra or {}:
            assert key in top_extra, key
        for choice in chunk.choices:
            out = next(c for c in final.choices if c.index == choice.index)
            for key, value in (choice.model_extra or {}).items():
                if value is not None and key != "message":  # a message fills gaps instead
                    assert _kept(out, key), key
            for key, value in (choice.delta.model_extra or {}).items():
                if value is not None:
                    assert _kept(out.message, key), key
            for call in choice.delta.tool_calls or []:
                for key in call.model_extra or {}:
                    assert any(key in (tc.model_extra or {}) for tc in out.message.tool_calls or [])


def _kept(model: Any, key: str) -> bool:
    """``key`` is an extra field of ``model``, or a declared one that was set."""
    return key in (model.model_extra or {}) or getattr(model, key, None) is not None
