"""The Llama-native tool-call text parser: every known shape, and properties over any text."""

from __future__ import annotations

import json
import keyword

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_client.llama_format import (
    ExtractedToolCalls,
    could_start_tool_call,
    extract_tool_calls,
)

NAMES = {"get_weather", "get_time", "brave_search", "wolfram_alpha", "code_interpreter"}


def calls_of(result: ExtractedToolCalls | None) -> list[tuple[str, dict[str, object]]]:
    assert result is not None
    return [(c.name, json.loads(c.arguments)) for c in result.calls]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # HF template JSON (Llama 3.1 / 3.2 stock templates)
        (
            '{"name": "get_weather", "parameters": {"city": "Paris"}}',
            [("get_weather", {"city": "Paris"})],
        ),
        # "arguments" instead of "parameters" (dynamo #9536)
        (
            '{"name": "get_weather", "arguments": {"city": "Oslo"}}',
            [("get_weather", {"city": "Oslo"})],
        ),
        # arguments as a JSON string
        (
            '{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}',
            [("get_weather", {"city": "Rome"})],
        ),
        # Meta's JsonCustomToolGenerator form, after <|python_tag|>, ending <|eom_id|>
        (
            '<|python_tag|>{"type": "function", "name": "get_weather", "parameters": {"city": "Lima"}}<|eom_id|>',
            [("get_weather", {"city": "Lima"})],
        ),
        # nested {"type": "function", "function": {...}} (vllm#11786)
        (
            '{"type": "function", "function": {"name": "get_time", "parameters": {"tz": "UTC"}}}',
            [("get_time", {"tz": "UTC"})],
        ),
        ('{"function": {"name": "get_time", "arguments": {}}}', [("get_time", {})]),
        # several calls separated by ";" (Llama 3.3, dynamo #9536), "; " and newlines
        (
            '<|python_tag|>{"name":"get_weather","arguments":{"city":"A"}};{"name":"get_time","arguments":{"tz":"B"}}',
            [("get_weather", {"city": "A"}), ("get_time", {"tz": "B"})],
        ),
        (
            '{"name": "get_weather", "parameters": {"city": "A"}}\n{"name": "get_time", "parameters": {}}',
            [("get_weather", {"city": "A"}), ("get_time", {})],
        ),
        # a JSON list of calls
        (
            '[{"name": "get_weather", "parameters": {"city": "A"}}, {"name": "get_time", "parameters": {}}]',
            [("get_weather", {"city": "A"}), ("get_time", {})],
        ),
        # <function=...> tag form (Meta's custom tool format, Groq failed_generation)
        ('<function=get_weather>{"city": "Kyiv"}</function>', [("get_weather", {"city": "Kyiv"})]),
        ("<function=get_time>{}", [("get_time", {})]),
        # Llama 3.2 pythonic list, single and double quotes, nested literals, True/None
        (
            "[get_weather(city='San Francisco', metric='celsius'), get_weather(city=\"Seattle\", metric='celsius')]",
            [
                ("get_weather", {"city": "San Francisco", "metric": "celsius"}),
                ("get_weather", {"city": "Seattle", "metric": "celsius"}),
            ],
        ),
        (
            '<|python_tag|>[get_time(tz="UTC", days=[1, -2], opts={"a": True, "b": None}, x=-1.5)]<|eot_id|>',
            [
                (
                    "get_time",
                    {"tz": "UTC", "days": [1, -2], "opts": {"a": True, "b": None}, "x": -1.5},
                )
            ],
        ),
        ("[get_time()]", [("get_time", {})]),
        # JSON literals inside a pythonic call, as small models write them
        ("[get_time(utc=true, tz=null)]", [("get_time", {"utc": True, "tz": None})]),
        # a bare pythonic call that is the whole reply
        ('get_weather(city="Bern")', [("get_weather", {"city": "Bern"})]),
        # built-in tools
        (
            '<|python_tag|>brave_search.call(query="latest price of 1oz gold")',
            [("brave_search", {"query": "latest price of 1oz gold"})],
        ),
        (
            '<|python_tag|>wolfram_alpha.call(query="solve x^2 + 2x = 3")<|eom_id|>',
            [("wolfram_alpha", {"query": "solve x^2 + 2x = 3"})],
        ),
        # code after <|python_tag|> that is nothing else is code_interpreter's
        (
            "<|python_tag|>import math\nprint(math.sqrt(2))<|eom_id|>",
            [("code_interpreter", {"code": "import math\nprint(math.sqrt(2))"})],
        ),
        # JSON in a Markdown fence (ollama#13519)
        (
            '```json\n{"name": "get_weather", "parameters": {"city": "Oslo"}}\n```',
            [("get_weather", {"city": "Oslo"})],
        ),
        # arguments null or "" mean none
        ('{"name": "get_time", "parameters": null}', [("get_time", {})]),
        ('{"name": "get_time", "arguments": ""}', [("get_time", {})]),
    ],
)
def test_shapes(text: str, expected: list[tuple[str, dict[str, object]]]) -> None:
    result = extract_tool_calls(text, NAMES)
    assert calls_of(result) == expected
    assert result is not None and result.content is None


def test_text_around_the_call_is_kept_as_content() -> None:
    text = (
        'Let me check.\n<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}} Done!'
    )
    result = extract_tool_calls(text, NAMES)
    assert calls_of(result) == [("get_weather", {"city": "Oslo"})]
    assert result is not None and result.content == "Let me check.\n Done!"


def test_fenced_call_with_prose() -> None:
    text = 'Sure:\n```json\n{"name": "get_time", "parameters": {}}\n```'
    result = extract_tool_calls(text, NAMES)
    assert calls_of(result) == [("get_time", {})]
    assert result is not None and result.content == "Sure:"


@pytest.mark.parametrize(
    "text",
    [
        "Hello! How can I help you today?",
        "",
        "   ",
        # a name that was not offered stays content
        '{"name": "send_email", "parameters": {"to": "x"}}',
        "[send_email(to='x')]",
        "<function=send_email>{}</function>",
        'photogen.call(query="cat")',
        # JSON without the arguments key is prose JSON, not a call (reduces false positives)
        '{"name": "get_weather"}',
        # a call-shaped object nested in other JSON is data, not a call
        '{"data": {"name": "get_weather", "parameters": {}}}',
        # truncated by max_tokens (vLLM non-stream returns this as content)
        '{"name": "get_weather", "parameters": {"city": "Par',
        '{"name": "get_',
        # arguments that are not an object
        '{"name": "get_weather", "parameters": [1, 2]}',
        '{"name": "get_weather", "arguments": "not json"}',
        # pythonic with variables, calls or positional arguments is not literal
        "[get_weather(city=x)]",
        "[get_weather(city=open('f'))]",
        "[get_weather('Paris')]",
        # a pythonic call inside prose is prose
        'You could call get_weather(city="Paris") yourself.',
        # non-finite numbers are not JSON
        "[get_time(x=1e999)]",
        '{"name": "get_time", "parameters": {"x": NaN}}',
        # <|python_tag|> with a JSON call to an unknown tool is not code
        '<|python_tag|>{"name": "send_email", "parameters": {}}',
    ],
)
def test_not_a_call(text: str) -> None:
    assert extract_tool_calls(text, NAMES) is None


def test_code_interpreter_only_when_offered() -> None:
    assert extract_tool_calls("<|python_tag|>print(1)", {"get_weather"}) is None


def test_no_tools_offered_means_no_calls() -> None:
    assert extract_tool_calls('{"name": "get_weather", "parameters": {}}', set()) is None


def test_could_start_tool_call() -> None:
    names = {"get_weather"}
    assert could_start_tool_call("  {", names) is True
    assert could_start_tool_call("<|python_tag|>", names) is True
    assert could_start_tool_call("[get", names) is True
    assert could_start_tool_call("get_weather(", names) is True
    assert could_start_tool_call("get_wea", names) is None
    assert could_start_tool_call("<", names) is None
    assert could_start_tool_call("   ", names) is None
    assert could_start_tool_call("Hello", names) is False
    assert could_start_tool_call("get_time(", names) is False


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000,
        "{" * 5000,
        '{"a":' * 3000,
        "get_weather(" * 2000,
        "(" * 5000,
        "[get_weather(a=" + "[" * 3000,
    ],
)
def test_pathological_input_neither_raises_nor_hangs(text: str) -> None:
    assert extract_tool_calls(text, NAMES) is None


# --------------------------------------------------------------------------- properties


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    result = extract_tool_calls(text, NAMES)
    if result is not None:
        for call in result.calls:
            assert call.name in NAMES
            assert isinstance(json.loads(call.arguments), dict)


_MARKERS = st.sampled_from(
    ["{", "}", "[", "]", "(", ")", '"', "'", ";", ",", "=", ":", "<|python_tag|>", "<function=",
     "</function>", "get_weather", "get_time", "brave_search.call", "name", "parameters",
     "arguments", "true", "null", "1", "-", "\\", "\n", " ", "```"]
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(_MARKERS, max_size=40).map("".join))
def test_never_raises_on_call_like_noise(text: str) -> None:
    result = extract_tool_calls(text, NAMES)
    if result is not None:
        assert all(c.name in NAMES for c in result.calls)
        assert all(isinstance(json.loads(c.arguments), dict) for c in result.calls)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and s not in ("true", "false", "null")
)
_calls = st.lists(
    st.tuples(
        st.sampled_from(["get_weather", "get_time"]),
        st.dictionaries(_identifiers, _json_values, max_size=4),
    ),
    min_size=1,
    max_size=3,
)


def _render_json(name: str, args: dict[str, object], style: int) -> str:
    if style == 0:
        return json.dumps({"name": name, "parameters": args})
    if style == 1:
        return json.dumps({"name": name, "arguments": args})
    if style == 2:
        return json.dumps({"type": "function", "name": name, "parameters": args})
    if style == 3:
        return json.dumps(
            {"type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        )
    return json.dumps({"name": name, "arguments": json.dumps(args)}, ensure_ascii=False)


@settings(max_examples=100, deadline=None)
@given(
    _calls,
    st.integers(0, 4),
    st.sampled_from([";", "; ", "\n", "LIST"]),
    st.booleans(),
)
def test_json_calls_round_trip(
    calls: list[tuple[str, dict[str, object]]], style: int, sep: str, tag: bool
) -> None:
    parts = [_render_json(n, a, style) for n, a in calls]
    text = "[" + ", ".join(parts) + "]" if sep == "LIST" else sep.join(parts)
    if tag:
        text = "<|python_tag|>" + text
    assert calls_of(extract_tool_calls(text, NAMES)) == calls


@settings(max_examples=100, deadline=None)
@given(_calls, st.booleans(), st.sampled_from(["", "<|eot_id|>"]))
def test_pythonic_calls_round_trip(
    calls: list[tuple[str, dict[str, object]]], tag: bool, end: str
) -> None:
    rendered = ", ".join(f"{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})" for n, a in calls)
    text = ("<|python_tag|>" if tag else "") + f"[{rendered}]" + end
    assert calls_of(extract_tool_calls(text, NAMES)) == calls


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=4))
def test_function_tag_round_trips(args: dict[str, object]) -> None:
    text = f"<function=get_weather>{json.dumps(args)}</function>"
    result = extract_tool_calls(text, NAMES)
    assert calls_of(result) == [("get_weather", args)]


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_characters='"\\\n\r\x00', blacklist_categories=["Cs"]),
        max_size=40,
    )
)
def test_builtin_query_round_trips(query: str) -> None:
    # Any text without quotes, backslashes or line breaks is a literal inside query="...".
    text = f'<|python_tag|>brave_search.call(query="{query}")'
    assert calls_of(extract_tool_calls(text, NAMES)) == [("brave_search", {"query": query})]
