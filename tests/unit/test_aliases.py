"""Canonical aliases on self-hosted servers (issue #9, item 6).

``model="llama-3.1-8b-instruct"`` on vLLM, llama.cpp, Ollama, TGI or any OpenAI-compatible
server reaches the model the server lists at ``/v1/models``, fetched once per client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import respx

from llama_client import AsyncLlamaClient, LlamaClient, ModelNotServedError, NotFoundError
from llama_client._aliases import match_served

BASE = "http://127.0.0.1:8000/v1"
MSGS = [{"role": "user", "content": "hi"}]
ALIAS = "llama-3.1-8b-instruct"


def _listing(*ids: str) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": i, "object": "model", "owned_by": "x"} for i in ids]}


def _reply(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
    }


def _chat(request: Any) -> Any:
    import httpx

    body = json.loads(request.content)
    if body.get("stream"):
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}],
        }
        text = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json=_reply(body["model"]))


def _models_sent(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["model"] for call in route.calls]


# -- matching (no I/O) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        (["meta-llama/Llama-3.1-8B-Instruct"], "meta-llama/Llama-3.1-8B-Instruct"),  # vLLM
        (["meta-llama/Meta-Llama-3.1-8B-Instruct"], "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        (["META-LLAMA/llama-3.1-8b-instruct"], "META-LLAMA/llama-3.1-8b-instruct"),
        (["llama3.1:8b"], "llama3.1:8b"),  # Ollama
        (["llama3.2:1b", "llama3.1:8b-instruct-q4_K_M"], "llama3.1:8b-instruct-q4_K_M"),
        (
            ["Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"],
            "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
        ),  # llama.cpp
        (
            ["/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"],
            "/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
        ),
        (
            ["bartowski/Meta-Llama-3.1-8B-Instruct-GGUF"],
            "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
        ),
        (
            ["hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"],
            "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
        ),
        ([ALIAS, "meta-llama/Llama-3.1-8B-Instruct"], ALIAS),  # served verbatim wins
        (["Qwen/Qwen2.5-0.5B-Instruct"], None),
        (
            ["meta-llama/Llama-3.1-70B-Instruct", "llama3.1:80b", "Llama-3.1-8B"],
            None,
        ),  # near misses
        (
            ["meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"],
            "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
        ),  # a vendor id
        ([], None),
    ],
)
def test_match_served(served: list[str], expected: str | None) -> None:
    assert match_served(ALIAS, served) == expected


# -- through the client --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "served", "sent"),
    [
        ("vllm", ["meta-llama/Llama-3.1-8B-Instruct"], "meta-llama/Llama-3.1-8B-Instruct"),
        (
            "llamacpp",
            ["/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"],
            "/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
        ),
        ("ollama", ["llama3.1:8b-instruct-q8_0"], "llama3.1:8b-instruct-q8_0"),
        ("ollama", ["llama3.1:8b"], "llama3.1:8b"),
        ("tgi", ["meta-llama/Meta-Llama-3.1-8B-Instruct"], "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        ("openai-compatible", ["Llama-3.1-8B-Instruct"], "Llama-3.1-8B-Instruct"),
    ],
)
def test_alias_reaches_the_served_model_once_listed(
    provider: str, served: list[str], sent: str
) -> None:
    with (
        respx.mock(base_url=BASE) as mock,
        LlamaClient(provider=provider, base_url=BASE, model=ALIAS, max_retries=0) as c,
    ):
        models = mock.get("/models").respond(json=_listing(*served))
        chat = mock.post("/chat/completions").mock(side_effect=_chat)
        c.chat.completions.create(messages=MSGS)
        c.chat.completions.create(messages=MSGS)
        with c.chat.completions.stream(messages=MSGS, model=ALIAS) as stream:
            assert stream.get_final_completion().choices[0].message.content == "ok"
        assert models.call_count == 1  # cached for the client
        assert _models_sent(chat) == [sent, sent, sent]


async def test_alias_async_lists_once() -> None:
    async with AsyncLlamaClient(provider="vllm", base_url=BASE, model=ALIAS, max_retries=0) as c:
        with respx.mock(base_url=BASE) as mock:
            models = mock.get("/models").respond(json=_listing("meta-llama/Llama-3.1-8B-Instruct"))
            chat = mock.post("/chat/completions").respond(json=_reply("x"))
            await c.chat.completions.create(messages=MSGS)
            await c.chat.completions.create(messages=MSGS)
            assert models.call_count == 1
            assert _models_sent(chat) == ["meta-llama/Llama-3.1-8B-Instruct"] * 2


@pytest.mark.parametrize(
    "model", ["meta-llama/Llama-3.1-8B-Instruct", "my-finetune", "llama3.1:8b"]
)
def test_an_id_that_is_not_an_alias_is_sent_as_is_without_a_listing(model: str) -> None:
    with (
        respx.mock(base_url=BASE, assert_all_called=False) as mock,
        LlamaClient(base_url=BASE, model=model, max_retries=0) as c,
    ):
        models = mock.get("/models").respond(json=_listing("something-else"))
        chat = mock.post("/chat/completions").respond(json=_reply(model))
        c.chat.completions.create(messages=MSGS)
        assert not models.called and _models_sent(chat) == [model]


def test_an_alias_served_verbatim_is_never_rewritten() -> None:
    with (
        respx.mock(base_url=BASE) as mock,
        LlamaClient(provider="vllm", base_url=BASE, model=ALIAS, max_retries=0) as c,
    ):
        mock.get("/models").respond(json=_listing("meta-llama/Llama-3.1-8B-Instruct", ALIAS))
        chat = mock.post("/chat/completions").respond(json=_reply(ALIAS))
        c.chat.completions.create(messages=MSGS)
        assert _models_sent(chat) == [ALIAS]


def test_ollama_table_id_served_is_kept() -> None:
    # Ollama's catalogue id for the alias is llama3.1:8b: served, it is what is sent
    with (
        respx.mock(base_url=BASE) as mock,
        LlamaClient(provider="ollama", base_url=BASE, model=ALIAS, max_retries=0) as c,
    ):
        mock.get("/models").respond(json=_listing("llama3.1:8b-instruct-q4_K_M", "llama3.1:8b"))
        chat = mock.post("/chat/completions").respond(json=_reply("llama3.1:8b"))
        c.chat.completions.create(messages=MSGS)
        assert _models_sent(chat) == ["llama3.1:8b"]


def test_no_match_raises_listing_what_is_served() -> None:
    served = ["Qwen/Qwen2.5-0.5B-Instruct", "llama3.2:1b"]
    with (
        respx.mock(base_url=BASE, assert_all_called=False) as mock,
        LlamaClient(provider="vllm", base_url=BASE, model=ALIAS, max_retries=0) as c,
    ):
        models = mock.get("/models").respond(json=_listing(*served))
        chat = mock.post("/chat/completions").respond(json=_reply("x"))
        for _ in range(2):
            with pytest.raises(NotFoundError) as info:
                c.chat.completions.create(messages=MSGS)
            exc = info.value
            assert isinstance(exc, ModelNotServedError)
            assert exc.status_code == 404 and exc.model == ALIAS and exc.served == served
            assert exc.response is None and exc.param == "model"
            for served_id in served:
                assert served_id in str(exc)
            assert ALIAS in str(exc) and BASE in str(exc)
        assert not chat.called and models.call_count == 1


async def test_no_match_raises_async() -> None:
    async with AsyncLlamaClient(provider="vllm", base_url=BASE, model=ALIAS, max_retries=0) as c:
        with respx.mock(base_url=BASE, assert_all_called=False) as mock:
            mock.get("/models").respond(json=_listing("Qwen/Qwen2.5-0.5B-Instruct"))
            with pytest.raises(ModelNotServedError, match=r"Qwen/Qwen2\.5-0\.5B-Instruct"):
                await c.chat.completions.create(messages=MSGS)


def test_a_failing_listing_raises_its_own_error() -> None:
    with (
        respx.mock(base_url=BASE, assert_all_called=False) as mock,
        LlamaClient(provider="vllm", base_url=BASE, model=ALIAS, max_retries=0) as c,
    ):
        mock.get("/models").respond(404, json={"detail": "Not Found"})
        chat = mock.post("/chat/completions").respond(json=_reply("x"))
        with pytest.raises(NotFoundError) as info:
            c.chat.completions.create(messages=MSGS)
        assert not isinstance(info.value, ModelNotServedError) and not chat.called


def test_hosted_vendors_translate_through_the_catalogue_without_a_listing() -> None:
    with (
        respx.mock(assert_all_called=False) as mock,
        LlamaClient(provider="groq", api_key="k", model=ALIAS, max_retries=0) as c,
    ):
        models = mock.get(url__regex=r".*/models$").respond(json=_listing("x"))
        chat = mock.post(url__regex=r".*/chat/completions$").respond(json=_reply("x"))
        c.chat.completions.create(messages=MSGS)
        assert not models.called and _models_sent(chat) == ["llama-3.1-8b-instant"]


def _cpu_seconds(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return max(best, 1e-6)


def test_a_hostile_listing_costs_linear_time() -> None:
    # A served id made of quantisation-like suffixes ("-q1-q1-..."): stripping them one at a
    # time was quadratic in the id's length. Timed as a ratio (10x the text), never absolutely.
    def listing(size: int) -> list[str]:
        return ["x" + "-q1" * (size // 3)]

    small, large = listing(3_000), listing(30_000)
    assert match_served("llama-3.1-8b-instruct", large) is None
    ratio = _cpu_seconds(lambda: match_served("llama-3.1-8b-instruct", large)) / _cpu_seconds(
        lambda: match_served("llama-3.1-8b-instruct", small)
    )
    assert ratio < 40, ratio


def test_the_not_served_message_is_bounded_whatever_the_listing() -> None:
    served = ["m" * 1_000_000] * 100
    exc = ModelNotServedError(
        "llama-3.1-8b-instruct", served, provider="vllm", base_url="http://localhost:8000/v1"
    )
    assert len(str(exc)) < 10_000
    assert exc.served is served  # the whole listing stays on the exception
