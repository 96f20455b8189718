"""The tool-call text parser costs time linear in the text, whatever the model wrote.

- Timing ratios, never absolute times: each degenerate text is parsed at 10 KB, 100 KB and
  1 MB; the best of a few runs (CPU time) at each size must grow about tenfold per step (a
  quadratic parser grows a hundredfold). The 1 MB run is skipped once the 100 KB ratio has failed, so
  a quadratic parser fails in seconds rather than minutes.
- A real call after any of that garbage is still found, and nesting of any depth (even
  when called near the recursion limit) neither raises nor loses the call.
- Memory stays a small multiple of the text, even for strings of a million escapes.
- The JSON scanner accepts exactly what :mod:`json` decodes.
- The streaming hold-back decides from a bounded head, so many tiny deltas cost linear time.
- End to end through the fault server: ``create(tools=...)`` with a megabyte of garbage
  before a call returns the call.
- ``parse()``: a reply nested 10,000 levels deep is an invalid reply (asked again, then
  :class:`StructuredOutputError`), never a ``RecursionError``; reading a fenced reply is
  linear.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from llama_client import ChatCompletion, StructuredOutputError
from llama_client._spans import JsonSpans, PythonSpans
from llama_client._tool_calls import TextHoldBack
from llama_client.llama_format import extract_tool_calls
from tests.faultserver import FaultServer, respond
from tests.wire import FAULT, completion_body

NAMES = frozenset({"get_weather", "get_time", "brave_search", "wolfram_alpha", "code_interpreter"})
SIZES = (10_000, 100_000, 1_000_000)
MAX_RATIO = 30  # a tenfold size step; linear gives ~10, quadratic ~100
CALL = '{"name": "get_weather", "parameters": {"city": "Paris"}}'

# Texts made of one piece repeated: the reproductions of issue #14 and their relatives.
DEGENERATE = [
    "brave_search.call(",  # 64 ast.parse calls per candidate before
    'brave_search.call(query="',
    "<function=",  # the tag's name pattern read to the end of the text
    "{",  # each failed JSON decode counted lines up to its position
    '{"',
    "[x",
    '{"a":',  # objects never closed
    "[",  # arrays never closed, ever deeper
    "[f(",
    "get_weather(",
    "(",
    "'''brave_search.call(",  # Python's quote kinds
    "<|python_tag|>",
    '"name":',
    CALL + ";",  # many real calls
]


def best_time(fn: Callable[[], object], repeats: int, give_up: float) -> float:
    """The best of ``repeats`` runs, in CPU time of this thread (a busy machine preempts long
    runs more often than short ones, which skews wall-clock ratios); stops after a run slower
    than ``give_up`` seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
        if best > give_up:
            break
    return best


def assert_linear(run: Callable[[int], object], what: str, sizes: tuple[int, ...] = SIZES) -> None:
    """``run(size)`` must take about ten times longer per tenfold size, never a hundred."""
    times: list[float] = []
    for size in sizes:
        repeats = 3 if size < 1_000_000 else 1
        previous = max(times[-1], 1e-6) if times else float("inf")
        # A run far past the limit is not noise: no need to wait for more of them.
        t = best_time(partial(run, size), repeats, give_up=10 * MAX_RATIO * previous)
        if times:
            ratio = t / previous
            if MAX_RATIO <= ratio < 10 * MAX_RATIO:  # once more: a noisy neighbour is no bug
                t = min(t, best_time(partial(run, size), repeats, give_up=t))
                ratio = t / previous
            assert ratio < MAX_RATIO, (
                f"{what}: {size // 10:,} -> {size:,} chars took {ratio:.0f}x longer "
                f"({previous * 1e3:.1f} ms -> {t * 1e3:.1f} ms): not linear"
            )
        times.append(t)


def repeated(piece: str, size: int) -> str:
    return piece * (size // len(piece))


@pytest.mark.parametrize("piece", DEGENERATE)
def test_parse_time_is_linear(piece: str) -> None:
    texts = {size: repeated(piece, size) for size in SIZES}
    assert_linear(lambda size: extract_tool_calls(texts[size], NAMES), repr(piece))


def test_nested_balanced_calls_are_linear() -> None:
    # Balanced nesting: every candidate's expression is complete and refused.
    def text(size: int) -> str:
        k = size // 19
        return "brave_search.call(" * k + ")" * k

    texts = {size: text(size) for size in SIZES}
    assert_linear(lambda size: extract_tool_calls(texts[size], NAMES), "nested calls")


# ------------------------------------------------------------------------------ garbage first

GARBAGE = {
    "open brackets": "[" * 50_000,
    "open braces": "{" * 50_000,
    "open objects": '{"a":' * 20_000,
    "open strings": '{"' * 50_000,
    "deep valid JSON": "[" * 50_000 + "]" * 50_000,
    "deep valid object": '{"a":' * 20_000 + "1" + "}" * 20_000,
    "open calls": "brave_search.call(" * 5_000,
    "nested calls": "brave_search.call(" * 5_000 + ")" * 5_000,
    "open pythonic lists": "[get_weather(a=" * 5_000,
    "function tags": "<function=" * 10_000,
    "unterminated string": '{"a": "' + "x" * 50_000,
    "unterminated triple quote": "brave_search.call(q='''" + "x(" * 50_000,
    "quote in prose": "I'll say {\"weird: stuff",
    "deep parentheses": "(" * 50_000,
    "deep unary minus": "brave_search.call(query=" + "-" * 50_000 + "1)",
    "huge number": '{"name": "get_weather", "parameters": {"a": ' + "1" * 10_000 + "}}",
    "deep arguments": '{"name": "get_weather", "parameters": '
    + '{"a":' * 10_000
    + "1"
    + "}" * 10_000
    + "}",
}
REAL_CALLS = {
    "json": (CALL, ("get_weather", {"city": "Paris"})),
    "tag": ('<function=get_time>{"tz": "UTC"}</function>', ("get_time", {"tz": "UTC"})),
    "pythonic": ('[get_weather(city="Oslo")]', ("get_weather", {"city": "Oslo"})),
    "builtin": ('brave_search.call(query="gold")', ("brave_search", {"query": "gold"})),
}


def calls_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    result = extract_tool_calls(text, NAMES)
    assert result is not None, "no call found"
    return [(c.name, json.loads(c.arguments)) for c in result.calls]


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=list(GARBAGE))
@pytest.mark.parametrize("call", REAL_CALLS.values(), ids=list(REAL_CALLS))
def test_a_real_call_after_garbage_is_found(
    garbage: str, call: tuple[str, tuple[str, dict[str, Any]]]
) -> None:
    text, expected = call
    assert calls_of(garbage + " " + text)[-1] == expected


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20_000,
        "{" * 20_000,
        '{"a":' * 20_000,
        "[" * 20_000 + "]" * 20_000,
        "(" * 20_000 + ")" * 20_000,
        "[get_weather(a=" + "[" * 20_000 + "]" * 20_000 + ")]",
        "get_weather(a=" + "-" * 20_000 + "1)",
        '{"name": "get_weather", "parameters": "' + "[" * 20_000 + "]" * 20_000 + '"}',
        "<|python_tag|>" + "[" * 20_000,
    ],
    ids=lambda t: repr(t[:20]),
)
def test_deep_nesting_neither_raises_nor_hangs(text: str) -> None:
    assert extract_tool_calls(text, NAMES - {"code_interpreter"}) is None
    assert calls_of(text + " " + CALL) == [("get_weather", {"city": "Paris"})]


def test_deep_nesting_near_the_recursion_limit() -> None:
    # Called with little stack left, json's own recursion guard trips early: still no
    # RecursionError, and the call is found.
    text = "[" * 500 + "]" * 500 + " " + CALL + " " + '{"a":' * 300 + "1" + "}" * 300

    def deep(n: int) -> list[tuple[str, dict[str, Any]]]:
        return deep(n - 1) if n > 0 else calls_of(text)

    headroom = 120
    assert deep(sys.getrecursionlimit() - len(inspect.stack(0)) - headroom) == [
        ("get_weather", {"city": "Paris"})
    ]


LONG_STRINGS = {
    # A long string with many escapes: the call itself, a first value read by the candidate
    # check, one never closed, and Python's quote kinds.
    "json call": json.dumps({"name": "get_weather", "parameters": {"city": "a\n" * 300_000}}),
    "json value": '{"x": 1 ' * 20 + '["' + "\\n" * 500_000 + '", 1]',
    "open json string": '{"x": 1 ' * 20 + '{"a": "' + "\\n" * 500_000,
    "python string": 'brave_search.call(query="' + "\\n" * 500_000 + '")',
    "python triple quotes": "brave_search.call(query='''" + "a\\'\n" * 250_000 + "''')",
    "open python string": "brave_search.call(query='''" + "\\n" * 500_000,
}


@pytest.mark.parametrize("text", LONG_STRINGS.values(), ids=list(LONG_STRINGS))
def test_memory_stays_proportional_to_the_text(text: str) -> None:
    # An unbounded pattern repeating "characters, then an escape" keeps 50-100 bytes per
    # character of these texts.
    tracemalloc.start()
    try:
        extract_tool_calls(text, NAMES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * len(text), f"{peak / len(text):.0f} bytes per character"


# ------------------------------------------------------------------------------ the scanners


json_texts = st.lists(
    st.sampled_from(
        ["{", "}", "[", "]", ":", ",", " ", "\n", '"', '"a"', "\\", '\\"', "\\u00e9", "\\x",
         "1", "-", "0", "01", "1.5", "1e5", "1.", "NaN", "Infinity", "-Infinity", "true",
         "nul", "null", "\x01", "é"]
    ),
    max_size=30,
).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(["{", "["]), json_texts)
def test_json_scanner_agrees_with_json(first: str, rest: str) -> None:
    text = first + rest
    try:
        _, expected = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        expected = -1
    except RecursionError:  # pragma: no cover - too short to be too deep
        return
    spans = JsonSpans(text)
    assert spans.end(0) == expected
    # Every other bracket too, each asked after the first scan settled what it could.
    for i in range(1, len(text)):
        if text[i] in "{[":
            try:
                _, want = json.JSONDecoder().raw_decode(text, i)
            except json.JSONDecodeError:
                want = -1
            assert spans.end(i) == want, (text, i)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(
        st.sampled_from(["(", ")", "[", "]", "{", "}", "'", '"', "'''", "#", "\n", "\\", "x", " "]),
        max_size=25,
    ).map("".join)
)
def test_python_scanner_matches_brackets(rest: str) -> None:
    # Where the scanner says a bracket closes, Python's tokenizer agrees the text between is
    # balanced (it may still not be an expression; that is ast.parse's job).
    import ast

    text = "(" + rest
    end = PythonSpans(text).end(0)
    if end >= 0:
        assert text[end - 1] == ")"
        try:
            ast.parse(text[:end], mode="eval")
        except SyntaxError as exc:
            assert "never closed" not in str(exc) and "does not match" not in str(exc)


# ------------------------------------------------------------------------------ streaming


def _feed_all(deltas: list[str]) -> str:
    hold = TextHoldBack(NAMES)
    shown = "".join(hold.feed(d) for d in deltas)
    return shown + hold.release(False)


@pytest.mark.parametrize("delta", [" ", "\n", " \t", "["], ids=repr)
def test_stream_hold_back_is_linear(delta: str) -> None:
    deltas = {size: [delta] * (size // 10) for size in SIZES}
    assert_linear(lambda size: _feed_all(deltas[size]), f"hold-back of {delta!r} deltas")
    assert _feed_all(["  ", "Hel", "lo"]) == "  Hello"


# ------------------------------------------------------------------------------ end to end


def test_create_finds_a_call_after_a_megabyte_of_garbage(make: Any, server: FaultServer) -> None:
    garbage = "brave_search.call(" * 30_000 + '{"' * 150_000 + "[" * 200_000
    server.script(respond(200, completion_body(garbage + " " + CALL, server=FAULT)))
    client = make()
    reply = client.create(tools=[{"type": "function", "function": {"name": "get_weather"}}])
    message = reply.choices[0].message
    assert message.tool_calls is not None
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("get_weather", '{"city": "Paris"}')
    ]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.raw_content is not None and len(message.raw_content) > 1_000_000


# ------------------------------------------------------------------------------ parse() replies


class Person(BaseModel):
    name: str
    tags: list[Any] = []


def parse(h: Any, **kw: Any) -> Any:
    """``chat.completions.parse`` on the harness's client, sync or async."""
    kw.setdefault("messages", [{"role": "user", "content": "A person, please."}])
    if h.loop is None:
        return h.client.chat.completions.parse(**kw)
    return h._run(h.client.chat.completions.parse(**kw))


@pytest.mark.parametrize(
    "response_format", [{"type": "json_object"}, Person], ids=["json_object", "model"]
)
def test_parse_of_a_deeply_nested_reply(
    make: Any, server: FaultServer, response_format: Any
) -> None:
    deep = '{"name": "x", "tags": ' + "[" * 10_000 + "]" * 10_000 + "}"
    good = '{"name": "Ada", "tags": []}'
    # Asked again, then a good reply: parsed.
    server.script(
        respond(200, completion_body(deep, server=FAULT)),
        respond(200, completion_body(good, server=FAULT)),
    )
    h = make()
    reply = parse(h, response_format=response_format)
    parsed = reply.choices[0].message.parsed
    assert (parsed["name"] if isinstance(parsed, dict) else parsed.name) == "Ada"
    # No retries left: our error, carrying every attempt.
    server.script(respond(200, completion_body(deep, server=FAULT)))
    with pytest.raises(StructuredOutputError) as info:
        parse(h, response_format=response_format, max_parse_retries=0)
    assert info.value.attempts == [deep]


def test_parse_reading_a_fenced_reply_is_linear() -> None:
    # "```" then a long run of whitespace (JSON-mode models write this) made the fence
    # pattern backtrack in cubic time: 4,000 spaces took 30 s.
    from llama_client._structured import StructuredOutput

    hi = [{"role": "user", "content": "Hi"}]
    state: StructuredOutput[Any] = StructuredOutput({"type": "json_object"}, hi, 0, {})

    def run(size: int) -> None:
        reply = completion_body("```" + " " * size + "x", server=FAULT)
        with pytest.raises(StructuredOutputError):
            state.handle(ChatCompletion.model_validate(reply))

    # Small steps: the cubic pattern needs 13 s for 3,000 characters already.
    assert_linear(run, "a fence and whitespace", sizes=(300, 3_000, 30_000, 300_000))
