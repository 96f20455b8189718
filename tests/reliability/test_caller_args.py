"""Whatever the caller passes, a chat call either goes out as strict JSON or fails with
InvalidRequestError before any I/O.

- Hypothesis feeds arbitrary JSON-ish values (and the non-JSON ones Python allows: NaN,
  infinities, tuples, non-string and colliding keys, unhashable roles) to every message field
  and every parameter of ``chat.completions.create`` (tool definitions, ``extra_body`` and
  ``extra_query`` included), sync and async. The only outcomes
  allowed: InvalidRequestError with nothing sent, or a request whose body parses as strict
  JSON (no NaN/Infinity, no duplicate key).
- The same for ``timeout`` (per call and per client), including ``httpx.Timeout`` objects
  holding NaN, infinities or negative values; accepted timeouts then work against a real
  socket on every transport (sync raised OverflowError for inf).
- Targeted cases name the field in the error: ``repetition_penalty``, ``logit_bias["50256"]``,
  ``messages[0].role``, ``["1"]`` ...
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_client import AsyncLlamaClient, InvalidRequestError, LlamaClient
from llama_client._validation import CHAT_PARAMS
from tests.faultserver import FaultServer
from tests.wire import FAULT, completion_body, delta_chunk, sse_events

FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

COMPLETION = json.dumps(completion_body(server=FAULT)).encode()
EVENTS = b"".join(sse_events(delta_chunk("Hi"), delta_chunk(finish="stop")))

# ------------------------------------------------------------------------------ strategies


class BadRepr:
    """An object whose repr raises: error messages must not."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


floats = st.floats(allow_nan=True, allow_infinity=True)
#: Values no JSON parser would produce but a caller can pass: too deep for json.dumps and
#: repr, an int too long to print, an object whose repr fails.
exotic = (
    st.builds(_nested, st.just(10_000))
    | st.builds(pow, st.just(10), st.just(5000))
    | st.builds(BadRepr)
    | st.sampled_from([b"bytes", frozenset({1, 2})])
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | floats
    | st.text(max_size=12)
    | st.sampled_from(["user", "assistant", "system", "tool", "text", "function", "auto"])
)
#: Keys json.dumps accepts, some of which collide once written (1 and "1", True and "true").
keys = (
    st.text(max_size=6)
    | st.sampled_from(["1", "true", "null", "1.5", "role", "type", "content"])
    | st.integers(min_value=-3, max_value=3)
    | st.booleans()
    | st.none()
    | st.sampled_from([1.5, float("nan")])
)


def _json_ish(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(keys, inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["type", "text", "function", "name"]), inner, max_size=3
            )
        ),
        max_leaves=8,
    )


values = _json_ish(scalars | exotic)
#: Tool definitions get no exotic values: tools.py (not covered here) repr()s a bad tool name.
tool_values = _json_ish(scalars)
roles = st.sampled_from(["system", "user", "assistant", "tool", "ipython", "developer"])
json_objects = st.dictionaries(keys, values, max_size=4)


def _message(role: str, content: Any, extra: dict[Any, Any]) -> dict[Any, Any]:
    message = {**extra, "role": role, "content": content}
    if role == "tool":
        message["tool_call_id"] = "call_1"
    return message


#: Mostly well-formed messages whose other fields hold anything, sometimes anything at all.
plausible_message = st.builds(
    _message,
    roles,
    st.text(max_size=10)
    | st.lists(
        st.fixed_dictionaries(
            {"type": st.just("text"), "text": st.text(max_size=5)}, optional={"x": values}
        ),
        max_size=2,
    ),
    json_objects,
)
hostile_message = st.fixed_dictionaries(
    {"role": roles | values},
    optional={
        "content": st.text(max_size=10) | values,
        "tool_calls": values,
        "tool_call_id": st.text(max_size=5) | values,
        "name": values,
    },
)
messages = st.integers(0, 9).flatmap(
    lambda i: (
        st.lists(plausible_message, min_size=1, max_size=3)
        if i < 7
        else st.lists(plausible_message | hostile_message, max_size=3) | values
    )
)


def _mostly(
    plausible: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Nine times in ten ``plausible``, else ``anything``."""
    return st.integers(0, 9).flatmap(lambda i: anything if i == 0 else plausible)


#: Each parameter: a value of its type (with NaN and infinities), or anything at all.
_unit = st.floats(min_value=0.0, max_value=1.0) | floats
_plausible: dict[str, Any] = {
    "temperature": _unit,
    "top_p": _unit,
    "min_p": _unit,
    "presence_penalty": _unit,
    "frequency_penalty": _unit,
    "repetition_penalty": st.floats(min_value=0.1, max_value=2.0) | floats,
    "max_tokens": st.integers(1, 10**6),
    "max_completion_tokens": st.integers(1, 10**6),
    "n": st.integers(1, 4),
    "seed": st.integers(-(2**70), 2**70),
    "top_k": st.integers(-1, 100),
    "logprobs": st.booleans(),
    "stop": st.text(min_size=1, max_size=4) | st.lists(st.text(min_size=1, max_size=4), max_size=3),
    "logit_bias": st.dictionaries(st.integers(0, 5) | st.sampled_from(["1", "2"]), floats),
    "response_format": st.builds(
        lambda schema: {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        json_objects,
    ),
    "metadata": json_objects,
    "user": st.text(max_size=5),
    "parallel_tool_calls": st.booleans(),
    "extra_body": json_objects,
    "tools": st.lists(
        st.builds(
            lambda name, schema, extra: {
                "type": "function",
                "function": {"name": name, "parameters": schema, **extra},
            },
            st.text(min_size=1, max_size=5) | tool_values,
            st.dictionaries(keys, tool_values, max_size=4) | tool_values,
            st.dictionaries(keys, tool_values, max_size=4),
        ),
        max_size=2,
    ),
    "tool_choice": st.sampled_from(["auto", "none", "required"])
    | st.builds(lambda name: {"type": "function", "function": {"name": name}}, tool_values),
    "extra_query": st.dictionaries(st.text(max_size=4), st.text(max_size=4) | scalars, max_size=2),
}
PARAM_NAMES = sorted(CHAT_PARAMS | {"extra_body", "extra_query"})
params = st.fixed_dictionaries(
    {},
    optional={
        name: _mostly(_plausible[name], tool_values if name.startswith("tool") else values)
        if name in _plausible
        else values
        for name in PARAM_NAMES
    },
)

timeouts = (
    values
    | floats
    | st.integers(min_value=-5, max_value=10**400)
    | st.builds(
        lambda a, b, c, d: httpx.Timeout(connect=a, read=b, write=c, pool=d),
        *(st.none() | floats | st.integers(-2, 2**70) for _ in range(4)),
    )
)

# ------------------------------------------------------------------------------ helpers


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), f"duplicate keys sent: {names}"
    return dict(pairs)


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} sent: not JSON")


def assert_strict_json(body: bytes) -> None:
    json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


class Recorder:
    """An httpx transport that records what would have been sent and answers a completion."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if b'"stream":true' in request.content:
            return httpx.Response(
                200, content=EVENTS, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, content=COMPLETION, headers={"content-type": "application/json"})


def sync_client(recorder: Recorder) -> LlamaClient:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    return LlamaClient(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, http_client=http)


def async_client(recorder: Recorder) -> AsyncLlamaClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return AsyncLlamaClient(
        base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, http_client=http
    )


def outcome(call: Any, recorder: Recorder) -> None:
    """Run ``call``: InvalidRequestError with nothing sent, or strict JSON sent."""
    try:
        call()
    except InvalidRequestError:
        assert recorder.sent == [], "refused after sending"
        return
    assert len(recorder.sent) == 1
    assert_strict_json(recorder.sent[0].content)


# ------------------------------------------------------------------------------ properties

# One client of each kind for every example (building one per example is slow); each
# example gets a fresh recorder.
SYNC = sync_client(Recorder())
LOOP = asyncio.new_event_loop()
ASYNC = async_client(Recorder())


@pytest.fixture(scope="module", autouse=True)
def _close_shared_clients() -> Iterator[None]:
    yield
    SYNC.close()
    LOOP.run_until_complete(ASYNC.close())
    LOOP.close()


def _fresh(client: Any) -> Recorder:
    recorder = Recorder()
    client._http._transport.handler = recorder
    return recorder


@FUZZ
@given(msgs=messages, kw=params)
def test_sync_create_only_refuses_or_sends_strict_json(msgs: Any, kw: dict[str, Any]) -> None:
    recorder = _fresh(SYNC)
    outcome(lambda: SYNC.chat.completions.create(messages=msgs, **kw), recorder)


@FUZZ
@given(msgs=messages, kw=params, stream=st.booleans())
def test_async_create_only_refuses_or_sends_strict_json(
    msgs: Any, kw: dict[str, Any], stream: bool
) -> None:
    recorder = _fresh(ASYNC)

    async def call() -> None:
        if stream:
            chunks = await ASYNC.chat.completions.create(messages=msgs, stream=True, **kw)
            assert [c async for c in chunks]
        else:
            await ASYNC.chat.completions.create(messages=msgs, **kw)

    outcome(lambda: LOOP.run_until_complete(call()), recorder)


@FUZZ
@given(timeout=timeouts)
def test_per_call_timeout_is_checked_before_io(timeout: Any) -> None:
    recorder = _fresh(SYNC)
    msgs = [{"role": "user", "content": "hi"}]
    outcome(lambda: SYNC.chat.completions.create(messages=msgs, timeout=timeout), recorder)
    if recorder.sent:
        for value in recorder.sent[0].extensions["timeout"].values():
            assert value is None or (math.isfinite(value) and 0 <= value <= 1e9)


@FUZZ
@given(timeout=timeouts)
def test_client_timeout_is_checked_at_construction(timeout: Any) -> None:
    try:
        client = LlamaClient(base_url="http://127.0.0.1:9/v1", timeout=timeout)
    except InvalidRequestError:
        return
    for value in client.timeout.as_dict().values():
        assert value is None or (math.isfinite(value) and 0 <= value <= 1e9)
    client.close()


# ------------------------------------------------------------------------------ named fields

MSG = [{"role": "user", "content": "hi"}]
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"repetition_penalty": INF}, "repetition_penalty"),
        ({"logit_bias": {50256: -INF}}, 'logit_bias["50256"]'),
        ({"extra_body": {"guided": {"x": NAN}}}, "guided.x"),
        ({"messages": [{"role": "user", "content": "x", "weight": NAN}]}, "messages[0].weight"),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"schema": {"maximum": INF}},
                }
            },
            "response_format.json_schema.schema.maximum",
        ),
        ({"extra_body": {1: "a", "1": "b"}}, '["1"]'),
        ({"logit_bias": {50256: -100, "50256": 5}}, 'logit_bias["50256"]'),
        ({"messages": [{"role": "user", "content": "x", 1: "a", "1": "b"}]}, 'messages[0]["1"]'),
        ({"messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": {"r": 1}, "content": "x"}]}, "messages[0].role"),
        ({"extra_body": {"x": {(1, 2): 3}}}, "x"),
        ({"extra_body": {"x": "\ud800"}}, "x"),
        ({"extra_body": {"x": object()}}, "x"),
        ({"timeout": NAN}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"timeout": httpx.Timeout(5, read=NAN)}, "timeout.read"),
        ({"timeout": httpx.Timeout(5, pool=-1)}, "timeout.pool"),
    ],
)
def test_refusals_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    recorder = Recorder()
    client = sync_client(recorder)
    kwargs.setdefault("messages", MSG)
    with pytest.raises(InvalidRequestError) as info:
        client.chat.completions.create(**kwargs)
    assert info.value.field == field, str(info.value)
    assert recorder.sent == []


def test_nesting_too_deep_for_json_is_refused_and_located() -> None:
    deep: Any = "leaf"
    for _ in range(10_000):
        deep = [deep]
    tools_schema: Any = {}
    for _ in range(10_000):
        tools_schema = {"properties": tools_schema}
    cases = [
        {"messages": [{"role": "user", "content": "x", "deep": deep}]},
        {"messages": MSG, "extra_body": {"deep": deep}},
        {
            "messages": MSG,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": tools_schema}}],
        },
    ]
    for kwargs in cases:
        recorder = Recorder()
        with pytest.raises(InvalidRequestError) as info:
            sync_client(recorder).chat.completions.create(**kwargs)
        assert "too deep" in str(info.value)
        assert info.value.field.startswith(("messages[0].deep[0][0]", "deep[0][0]", "tools[0]"))
        assert recorder.sent == []


def test_a_self_referencing_body_is_refused() -> None:
    loop: dict[str, Any] = {"a": 1}
    loop["again"] = [loop]
    with pytest.raises(InvalidRequestError, match="circular") as info:
        sync_client(Recorder()).chat.completions.create(messages=MSG, extra_body={"x": loop})
    assert info.value.field == "x.again[0]"


def test_non_string_keys_that_do_not_collide_are_sent() -> None:
    recorder = Recorder()
    sync_client(recorder).chat.completions.create(
        messages=MSG, logit_bias={50256: -100, 128001: 5.5}, extra_body={"m": {None: 1, True: 2}}
    )
    body = json.loads(recorder.sent[0].content)
    assert body["logit_bias"] == {"50256": -100, "128001": 5.5}
    assert body["m"] == {"null": 1, "true": 2}


# ------------------------------------------------------------------------------ real sockets

LONG_TIMEOUTS = [
    INF,
    1e12,
    10**400,
    httpx.Timeout(5.0, read=INF),
    httpx.Timeout(None, connect=5.0),
    httpx.Timeout(5.0, pool=0),
]


@pytest.mark.parametrize("timeout", LONG_TIMEOUTS, ids=repr)
def test_long_timeouts_work_on_every_transport(
    make: Any, server: FaultServer, timeout: Any
) -> None:
    # inf and 1e12 made the sync client raise OverflowError (socket.settimeout), NaN made
    # aiohttp time out at once: accepted values must work against a real socket.
    h = make(timeout=timeout)
    assert h.create().choices[0].message.content == "Hello!"
    assert h.create(timeout=timeout).choices[0].message.content == "Hello!"
    assert server.attempts == 2


@pytest.mark.parametrize("timeout", [NAN, -1.0, 0, httpx.Timeout(5.0, read=NAN)], ids=repr)
def test_bad_timeouts_fail_before_io_on_every_transport(
    make: Any, server: FaultServer, timeout: Any
) -> None:
    h = make()
    with pytest.raises(InvalidRequestError, match="timeout"):
        h.create(timeout=timeout)
    assert server.attempts == 0
