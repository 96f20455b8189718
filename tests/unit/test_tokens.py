"""Exact Llama 3 token counts (issue #12), with the real tokenizer (the ``tokens`` extra is in
``dev``). Known answers come from Meta's test vectors and from vLLM 0.32 ``/tokenize`` with the
Llama 3.1 template (the integration tier re-checks them against the live server)."""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

import httpx
import pytest
import respx

from llama_client import (
    AsyncLlamaClient,
    ContextLengthExceededError,
    InvalidRequestError,
    LlamaClient,
    _context,
    _tokenizer,
    count_tokens,
    fit_messages,
)
from llama_client.tokens import (
    ControlTokenWarning,
    check_control_tokens,
    count_completion,
    count_text,
    count_tool_call,
    find_control_tokens,
    render_prompt,
)

BASE = "http://127.0.0.1:8000/v1"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city ünïcode <b>&",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOLS = [WEATHER, {"type": "function", "function": {"name": "noparams"}}]
CALL = {
    "id": "c1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "a": [1,2]}'},
}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# -- the tokenizer ----------------------------------------------------------------------------


def test_meta_test_vector() -> None:
    assert _tokenizer.encoding().encode("This is a test sentence.") == [
        2028,
        374,
        264,
        1296,
        11914,
        13,
    ]
    assert _tokenizer.encoding().encode(
        "<|start_header_id|>user<|end_header_id|>\n\n", allowed_special="all"
    ) == [128006, 882, 128007, 271]


def test_the_tokenizer_is_loaded_once() -> None:
    assert _tokenizer.encoding() is _tokenizer.encoding()


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import tiktoken

    monkeypatch.setattr(_tokenizer, "_encoding", None)
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    with pytest.raises(ImportError, match=r"pip install 'llama-client\[tokens\]'"):
        count_tokens([user("hi")])
    monkeypatch.setitem(sys.modules, "tiktoken", tiktoken)
    monkeypatch.setitem(sys.modules, "llama_models", None)
    monkeypatch.setitem(sys.modules, "llama_models.llama3", None)
    monkeypatch.delenv("LLAMA_TOKENIZER_MODEL", raising=False)
    with pytest.raises(ImportError, match=r"llama-models.*pip install 'llama-client\[tokens\]'"):
        count_tokens([user("hi")])


def test_a_ranks_file_can_be_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(_tokenizer, "_encoding", None)
    monkeypatch.setenv("LLAMA_TOKENIZER_MODEL", str(tmp_path / "nope.model"))
    with pytest.raises(InvalidRequestError, match="LLAMA_TOKENIZER_MODEL"):
        count_tokens([user("hi")])
    bad = tmp_path / "small.model"
    bad.write_text("YQ== 0\n")
    monkeypatch.setenv("LLAMA_TOKENIZER_MODEL", str(bad))
    with pytest.raises(ImportError, match="1 ranks"):
        count_tokens([user("hi")])


# -- Meta's template as vLLM renders it (Llama 3.1 / 3.3) ---------------------------------------


@pytest.mark.parametrize(
    ("messages", "tools", "expected"),
    [
        ([user("Hello")], None, 36),
        ([{"role": "system", "content": "You are a helpful assistant"}, user("Hello")], None, 41),
        ([user("")], None, 35),
        # special-token text is the token itself (vLLM 0.32 measured 39 and 41)
        ([user("hi <|eot_id|> there")], None, 39),
        ([user("hi <|eot_id there")], None, 41),
        # trimmed contents, non-ASCII and emoji
        ([{"role": "system", "content": "  Sys  "}, user("\nHéllo 😀 日本語\n")], None, 42),
        # tools in the first user message
        ([user("Weather?")], TOOLS, 216),
        # multi-turn with a tool call (arguments re-serialised) and a tool result (JSON-quoted)
        (
            [
                {"role": "system", "content": "S"},
                user("Weather?"),
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "c1", "content": "25 C ☀"},
                user("thanks"),
            ],
            TOOLS,
            266,
        ),
        # text parts joined with newlines
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"role": "assistant", "content": "x"},
                user("hi <|eot_id|> there"),
            ],
            None,
            53,
        ),
        # empty tools list, invalid JSON arguments (read as {}), tool result in parts
        (
            [
                user("q"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "no"},
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "c",
                    "content": [{"type": "text", "text": "r1"}, {"type": "text", "text": "r2"}],
                },
            ],
            [],
            121,
        ),
    ],
)
def test_counts_equal_vllm(messages: list[Any], tools: Any, expected: int) -> None:
    assert count_tokens(messages, tools=tools, model="llama-3.1-8b-instruct") == expected
    assert (
        count_tokens(messages, tools=tools, model="meta-llama/Llama-3.3-70B-Instruct") == expected
    )


def test_llama31_rendering() -> None:
    text = render_prompt([user("Hello")])
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    with_tools = render_prompt([user("Hi")], tools=[WEATHER])
    assert "Environment: ipython\nCutting Knowledge Date" in with_tools
    user_part = with_tools.split("<|start_header_id|>user<|end_header_id|>\n\n")[1]
    assert user_part.startswith("Given the following functions")
    assert (
        json.dumps(
            {"type": "function", "function": WEATHER["function"]}, indent=4, ensure_ascii=False
        )
        in user_part
    )


def test_llama32_writes_todays_date() -> None:
    text = render_prompt([user("Hi")], model="llama-3.2-3b-instruct")
    assert f"Today Date: {time.strftime('%d %b %Y')}\n\n" in text
    assert (
        render_prompt([user("Hi")], model="accounts/fireworks/models/llama-v3p2-1b-instruct")
        == text
    )


def test_one_call_per_assistant_message() -> None:
    two = {"role": "assistant", "content": None, "tool_calls": [CALL, CALL]}
    with pytest.raises(InvalidRequestError, match="one tool call per assistant message"):
        count_tokens([user("q"), two, {"role": "tool", "tool_call_id": "c1", "content": "x"}])


def test_only_text_can_be_counted() -> None:
    image = {"type": "image_url", "image_url": {"url": "http://x/y.png"}}
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\].*image_url"):
        count_tokens([{"role": "user", "content": [image]}])
    with pytest.raises(InvalidRequestError, match="unknown chat template"):
        count_tokens([user("x")], template="nope")


# -- llama.cpp and Ollama -----------------------------------------------------------------------


def test_llamacpp_jinja_is_the_template_with_todays_date() -> None:
    text = render_prompt([user("Say hello.")], provider="llamacpp")
    assert f"Today Date: {time.strftime('%d %b %Y')}\n\n" in text
    # llama-server observed: "Say hello." without a system message → 38 (a 10-token date)
    assert count_tokens([user("Say hello.")], template="llama3.1") == 38


def test_llamacpp_builtin_template() -> None:
    msgs = [
        {"role": "system", "content": " S\n"},
        user("Hi "),
        {"role": "assistant", "content": "Yo"},
    ]
    assert render_prompt(msgs, template="llamacpp-builtin") == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    # Meta's raw format: system "You are a helpful assistant" + the jeopardy user turn = 30
    meta = [
        {"role": "system", "content": "You are a helpful assistant"},
        user("Answer who are you in the form of jeopardy?"),
    ]
    assert count_tokens(meta, template="llamacpp-builtin") == 30


def test_ollama_llama31_template() -> None:
    assert render_prompt([user("Hi")], provider="ollama") == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    msgs = [
        {"role": "system", "content": "S"},
        user("Q1"),
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "25 C"},
        user("Q2"),
    ]
    text = render_prompt(msgs, tools=[WEATHER], provider="ollama", model="llama3.1:8b")
    assert text.startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS\n\n"
        "Cutting Knowledge Date: December 2023\n\nWhen you receive a tool call response"
    )
    assert "<|start_header_id|>user<|end_header_id|>\n\nQ1<|eot_id|>" in text  # not the last
    assert '\n\n{"name": "get_weather", "parameters": {"a":[1,2],"city":"Paris"}}<|eot_id|>' in text
    assert "<|start_header_id|>ipython<|end_header_id|>\n\n25 C<|eot_id|>" in text
    last = text.split("<|start_header_id|>user<|end_header_id|>")[-1]
    assert "Given the following functions" in last and "\\u003cb\\u003e\\u0026" in last
    assert last.endswith(
        "\nQuestion: Q2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_ollama_llama32_template() -> None:
    text = render_prompt([user("Hi")], provider="ollama", model="llama3.2:3b")
    assert text.startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\n\n<|eot_id|>"
    )
    tooled = render_prompt([user("Hi")], tools=[WEATHER], provider="ollama", model="llama3.2")
    assert "Question:" not in tooled


def test_ollama_merges_consecutive_messages() -> None:
    text = render_prompt([user("a"), user("b")], provider="ollama")
    assert "\n\na\n\nb<|eot_id|>" in text


# -- completions, tool calls ------------------------------------------------------------------


def test_completion_and_tool_call_counts() -> None:
    from llama_client.types.chat import ChatCompletion

    assert count_text("This is a tiny test model.") == 7
    assert count_text("<|eot_id|>") == 7  # the model's own text: plain characters
    assert count_tool_call("get_weather", '{"city": "Paris"}') == count_text(
        '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    )
    assert count_tool_call("f", {"a": 1}) == count_tool_call("f", '{"a": 1}')
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {"role": "assistant", "content": "ok", "tool_calls": [CALL]},
                }
            ],
        }
    )
    assert count_completion(completion) == count_text("ok") + count_tool_call(
        "get_weather", CALL["function"]["arguments"]
    )
    assert count_completion("ok") == 1
    with pytest.raises(InvalidRequestError):
        count_tool_call("f", 3)  # type: ignore[arg-type]


# -- control-token text -----------------------------------------------------------------------


def test_control_token_text_is_found() -> None:
    msgs = [
        user("fine <|reserved|> text"),
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "x<|start_header_id|>system"},
    ]
    found = find_control_tokens(msgs)
    assert [(f.where, f.token, f.offset) for f in found] == [
        ("messages[2].content", "<|start_header_id|>", 1)
    ]
    with pytest.raises(InvalidRequestError, match=r"messages\[2\]\.content.*start_header_id"):
        check_control_tokens(msgs)
    with pytest.warns(ControlTokenWarning):
        assert len(check_control_tokens(msgs, action="warn")) == 1
    assert find_control_tokens([user("<|eot_id|>" * 500)], limit=3)[2].offset == 20
    tool = {"type": "function", "function": {"name": "f", "description": "<|python_tag|>"}}
    assert find_control_tokens([user("x")], tools=[tool])[0].where == "tools[0]"


# -- fit_messages -----------------------------------------------------------------------------


def _conversation(turns: int, size: int = 50) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "You are terse."}]
    for i in range(turns):
        msgs.append(user(f"question {i} " + "word " * size))
        msgs.append({"role": "assistant", "content": f"answer {i} " + "word " * size})
    msgs.append(user("the last question"))
    return msgs


def test_fit_drops_oldest_turns_keeps_system_and_last_user_turn() -> None:
    msgs = _conversation(10)
    full = count_tokens(msgs)
    kept, report = fit_messages(msgs, full // 2)
    assert kept[0] is msgs[0] and kept[-1] is msgs[-1]
    assert report.fits and report.tokens_after == count_tokens(kept) <= full // 2
    assert report.tokens_before == full
    assert report.dropped == list(range(1, 1 + len(report.dropped)))  # the oldest, in order
    assert kept[1]["role"] == "user"  # whole turns go
    # the fewest dropped: one turn fewer would not fit
    back = [msgs[0], *msgs[report.dropped[-2] : report.dropped[-1] + 1], *kept[1:]]
    assert count_tokens(back) > full // 2
    same, nothing = fit_messages(msgs, full)
    assert same == msgs and nothing.dropped == [] and nothing.fits


def test_fit_never_separates_a_call_from_its_result() -> None:
    msgs = [
        {"role": "system", "content": "S"},
        user("Weather? " + "word " * 200),
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "25 C " + "data " * 200},
        {"role": "assistant", "content": "It is warm."},
        user("And tomorrow?"),
    ]
    budget = count_tokens([msgs[0], msgs[4], msgs[5]]) + 10
    kept, report = fit_messages(msgs, budget, strategy="messages")
    assert report.dropped == [1, 2, 3]
    assert kept == [msgs[0], msgs[4], msgs[5]]
    kept, report = fit_messages(msgs, count_tokens([msgs[0], msgs[5]]) + 5)
    assert report.dropped == [1, 2, 3, 4]


def test_fit_shortens_tool_results_with_a_marker() -> None:
    msgs = [
        user("Read the file"),
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "line " * 5000},
    ]
    kept, report = fit_messages(msgs, 600, max_tool_result_tokens=300)
    assert report.shortened == [2] and report.dropped == [] and report.fits
    cut = count_text("line " * 5000) - 300
    assert kept[2]["content"].endswith(f"\n[... {cut} tokens cut ...]")
    assert msgs[2]["content"] == "line " * 5000  # the caller's dict is untouched


def test_fit_reports_when_even_the_kept_part_is_too_long() -> None:
    msgs = [{"role": "system", "content": "S " * 300}, user("q " * 300)]
    kept, report = fit_messages(msgs, 100)
    assert kept == msgs and not report.fits and report.tokens_after > 100
    with pytest.raises(InvalidRequestError):
        fit_messages(msgs, 0)
    with pytest.raises(InvalidRequestError):
        fit_messages(msgs, 10, strategy="newest")  # type: ignore[arg-type]


# -- the pre-flight -----------------------------------------------------------------------------

LONG = [user("word " * 140_000)]


def test_preflight_refuses_before_any_io() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(200, json={})
        client = LlamaClient(provider="groq", api_key="k", model="llama-3.1-8b-instruct")
        with pytest.raises(ContextLengthExceededError) as info:
            client.chat.completions.create(messages=LONG, max_tokens=100)
        assert not route.called
    err = info.value
    assert err.prompt_tokens == count_tokens(LONG) and err.context_window == 131072
    assert err.max_tokens == 100 and err.status_code == 400 and err.response is None
    assert err.rate_limit is None and "nothing was sent" in str(err)


def test_preflight_counts_max_tokens_and_can_be_turned_off() -> None:
    msgs = [user("word " * 2000)]
    prompt = count_tokens(msgs)
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(200, json=_reply())
        client = LlamaClient(base_url=BASE, model="m", max_retries=0)
        with pytest.raises(ContextLengthExceededError):
            client.chat.completions.create(messages=msgs, context_window=prompt + 10, max_tokens=11)
        client.chat.completions.create(messages=msgs, context_window=prompt + 10, max_tokens=10)
        client.chat.completions.create(
            messages=msgs, context_window=prompt, max_tokens=50, check_context=False
        )
        sent = json.loads(route.calls.last.request.content)
        assert "context_window" not in sent and "check_context" not in sent


def test_max_tokens_auto_clamps_to_what_is_left() -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(200, json=_reply())
        client = LlamaClient(base_url=BASE, model="m", max_retries=0)
        client.chat.completions.create(
            messages=[user("Hello")], max_tokens="auto", context_window=2048
        )
        assert json.loads(route.calls.last.request.content)["max_tokens"] == 2048 - 36
        with pytest.raises(InvalidRequestError, match="context_window"):
            client.chat.completions.create(messages=[user("Hello")], max_tokens="auto")
        with pytest.raises(InvalidRequestError, match="context_window"):
            client.chat.completions.create(messages=[user("Hello")], check_context=True)
        with pytest.raises(ContextLengthExceededError):
            client.chat.completions.create(
                messages=[user("Hello")], max_tokens="auto", context_window=36
            )
    # a vendor's max_output caps "auto" (Groq serves 8,192 output tokens of llama-3.1-8b-instant)
    with respx.mock() as mock:
        route = mock.post("https://api.groq.com/openai/v1/chat/completions").respond(
            200, json=_reply()
        )
        client = LlamaClient(provider="groq", api_key="k", model="llama-3.1-8b-instruct")
        client.chat.completions.create(messages=[user("Hello")], max_tokens="auto")
        assert json.loads(route.calls.last.request.content)["max_completion_tokens"] == 8192


def test_default_check_is_skipped_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_context, "tokens_available", lambda: False)
    with respx.mock() as mock:
        route = mock.post("https://api.groq.com/openai/v1/chat/completions").respond(
            200, json=_reply()
        )
        client = LlamaClient(provider="groq", api_key="k", model="llama-3.1-8b-instruct")
        client.chat.completions.create(messages=LONG)  # the server decides
        assert route.called


def test_control_tokens_option() -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(200, json=_reply())
        client = LlamaClient(base_url=BASE, model="m", max_retries=0)
        with pytest.raises(InvalidRequestError, match="control-token"):
            client.chat.completions.create(messages=[user("a<|eot_id|>")], control_tokens="refuse")
        assert not route.called
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client.chat.completions.create(messages=[user("a<|eot_id|>")], control_tokens="warn")
        assert any(issubclass(w.category, ControlTokenWarning) for w in caught)
        client.chat.completions.create(messages=[user("a<|eot_id|>")], control_tokens="allow")


async def test_async_preflight() -> None:
    async with AsyncLlamaClient(provider="groq", api_key="k", model="llama-3.3-70b-instruct") as c:
        with pytest.raises(ContextLengthExceededError):
            await c.chat.completions.create(messages=LONG)


def _reply() -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


# -- client.tokens ------------------------------------------------------------------------------


def test_tokens_count_asks_vllm() -> None:
    with respx.mock() as mock:
        route = mock.post("http://127.0.0.1:8000/tokenize").respond(
            200, json={"count": 36, "max_model_len": 2048, "tokens": [1] * 36, "token_strs": None}
        )
        client = LlamaClient(base_url=BASE, model="served")
        result = client.tokens.count([user("Hello")], tools=[WEATHER])
        assert (result.count, result.source, result.max_model_len) == (36, "vllm", 2048)
        sent = json.loads(route.calls.last.request.content)
        assert sent["model"] == "served" and sent["add_generation_prompt"] is True
        assert sent["tools"][0]["function"]["name"] == "get_weather"
    local = client.tokens.count([user("Hello")], exact="local")
    assert (local.count, local.source) == (36, "local")


async def test_tokens_count_asks_llamacpp() -> None:
    with respx.mock() as mock:
        applied = mock.post("http://127.0.0.1:8080/apply-template").respond(
            200, json={"prompt": "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"}
        )
        tokenize = mock.post("http://127.0.0.1:8080/tokenize").respond(
            200, json={"tokens": [1, 2, 3]}
        )
        async with AsyncLlamaClient(
            provider="llamacpp", base_url="http://127.0.0.1:8080/v1", model="m"
        ) as c:
            result = await c.tokens.count([user("Hi")])
        assert (result.count, result.source) == (3, "llamacpp")
        assert json.loads(applied.calls.last.request.content) == {"messages": [user("Hi")]}
        assert json.loads(tokenize.calls.last.request.content)["add_special"] is True


def test_tokens_count_refuses_servers_without_tokenize() -> None:
    client = LlamaClient(provider="groq", api_key="k", model="llama-3.1-8b-instruct")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(200, json={})
        with pytest.raises(InvalidRequestError, match="exact"):
            client.tokens.count([user("Hi")])
        assert not route.called
    assert client.tokens.count([user("Hi")], exact="local").count == 36


def test_tokens_count_rejects_a_bad_answer() -> None:
    from llama_client import ResponseValidationError

    with respx.mock() as mock:
        mock.post("http://127.0.0.1:8000/tokenize").respond(200, json={"count": -5})
        client = LlamaClient(base_url=BASE, model="m", max_retries=0)
        with pytest.raises(ResponseValidationError):
            client.tokens.count([user("Hello")])
    with respx.mock() as mock:
        mock.post("http://127.0.0.1:8000/tokenize").respond(200, content=b"[1, 2")
        with pytest.raises(ResponseValidationError):
            client.tokens.count([user("Hello")])
    assert httpx  # (imported for the respx routes)


# -- run_tools(context_budget=...) --------------------------------------------------------------


def test_run_tools_trims_what_each_round_sends() -> None:
    from llama_client import tool
    from tests.wire import LOCAL_BASE_URL, PLAIN, Script, vllm_call

    @tool
    def read_page(n: int) -> str:
        """A long page of a document."""
        return f"page {n} " + "text " * 400

    def calls(i: int) -> dict[str, Any]:
        call = vllm_call("read_page", json.dumps({"n": i}), id=f"c{i}")
        return PLAIN.completion(None, tool_calls=[call], finish_reason="tool_calls")

    script = Script(calls(1), calls(2), calls(3), calls(4), PLAIN.completion("Done."))
    question = [{"role": "system", "content": "S"}, user("Summarise the document.")]
    with respx.mock(base_url=LOCAL_BASE_URL) as mock:
        mock.post("/chat/completions").mock(side_effect=script)
        with LlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as client:
            result = client.chat.run_tools(
                messages=question, tools=[read_page], context_budget=1200, max_rounds=6
            )
    assert result.content == "Done."
    assert len(result.messages) == 2 + 4 * 2 + 1  # the result keeps everything
    last = script.bodies[-1]["messages"]
    assert last[:2] == question  # system prompt and the user's question stay
    assert last[-2]["tool_calls"][0]["id"] == "c4" and last[-1]["tool_call_id"] == "c4"
    assert len(last) < 2 + 4 * 2  # older rounds went, each call with its result
    for i, m in enumerate(last):
        if m["role"] == "tool":
            assert last[i - 1]["tool_calls"][0]["id"] == m["tool_call_id"]
    tools = script.bodies[-1]["tools"]
    for body in script.bodies:
        assert count_tokens(body["messages"], tools=tools) <= 1200


def test_fit_keep_user_drops_old_rounds_after_the_question() -> None:
    msgs = [
        user("q " * 10),
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "old " * 300},
        {"role": "assistant", "content": None, "tool_calls": [{**CALL, "id": "c2"}]},
        {"role": "tool", "tool_call_id": "c2", "content": "new"},
    ]
    kept, report = fit_messages(msgs, 150, keep="user", strategy="messages")
    assert report.dropped == [1, 2] and kept == [msgs[0], msgs[3], msgs[4]]
    with pytest.raises(InvalidRequestError):
        fit_messages(msgs, 150, keep="all")  # type: ignore[arg-type]


# -- the catalogue's limits ---------------------------------------------------------------------


def test_catalogue_rows_carry_sources_and_dates() -> None:
    from llama_client.providers import catalog

    rows = catalog()
    assert rows and all(r.source and r.as_of for r in rows)
    groq = {r.alias: r for r in catalog(["groq"])}
    assert groq["llama-3.1-8b-instruct"].max_output == 8192
    assert not groq["llama-3.1-8b-instruct"].verified  # litellm metadata
    ollama = {r.alias: r for r in catalog(["ollama"])}
    assert ollama["llama-3.1-8b-instruct"].context_window == 4096


def test_a_self_hosted_window_from_the_catalogue_is_used_only_when_asked() -> None:
    msgs = [user("word " * 5000)]  # over Ollama's default 4096
    with respx.mock() as mock:
        route = mock.post("http://localhost:11434/v1/chat/completions").respond(200, json=_reply())
        client = LlamaClient(provider="ollama", model="llama3.1:8b", max_retries=0)
        client.chat.completions.create(messages=msgs)  # the server's num_ctx may be larger
        assert route.called
        with pytest.raises(ContextLengthExceededError) as info:
            client.chat.completions.create(messages=msgs, check_context=True)
        assert info.value.context_window == 4096
        # counted with Ollama's template (no system block without a system prompt)
        assert info.value.prompt_tokens == count_tokens(msgs, provider="ollama")


def test_a_tokenize_answer_without_a_count_is_refused() -> None:
    from llama_client import ResponseValidationError

    with respx.mock() as mock:
        mock.post("http://127.0.0.1:8000/tokenize").respond(200, json={"object": "chat"})
        client = LlamaClient(base_url=BASE, model="m", max_retries=0)
        with pytest.raises(ResponseValidationError, match="count or tokens"):
            client.tokens.count([user("Hello")])


def test_the_default_check_never_blocks_what_it_cannot_count() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    two_calls = {"role": "assistant", "content": None, "tool_calls": [CALL, {**CALL, "id": "c2"}]}
    histories = [
        [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}],
        [
            user("q"),
            two_calls,
            {"role": "tool", "tool_call_id": "c1", "content": "a"},
            {"role": "tool", "tool_call_id": "c2", "content": "b"},
        ],
    ]
    with respx.mock() as mock:
        route = mock.post("https://api.groq.com/openai/v1/chat/completions").respond(
            200, json=_reply()
        )
        client = LlamaClient(provider="groq", api_key="k", model="llama-3.3-70b-instruct")
        for messages in histories:
            client.chat.completions.create(messages=messages)
            with pytest.raises(InvalidRequestError):
                client.chat.completions.create(messages=messages, check_context=True)
        assert route.call_count == 2


def test_control_tokens_in_parts_and_beside_images() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    msgs = [{"role": "user", "content": [image, {"type": "text", "text": "x <|eot_id|>"}]}]
    found = find_control_tokens(msgs)
    assert [(f.where, f.offset) for f in found] == [("messages[0].content[1]", 2)]
    call = {
        "id": "c",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a": "<|eom_id|>"}'},
    }
    found = find_control_tokens([user("q"), {"role": "assistant", "tool_calls": [call]}])
    assert found[0].where == "messages[1].tool_calls[0].function.arguments"
