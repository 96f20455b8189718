"""Canonical aliases against the real vLLM server (issue #9, item 6).

CI's server (``scripts/it_server.py``) serves its tiny model as
``meta-llama/Llama-3.1-8B-Instruct``, which ``llama-3.1-8b-instruct`` names: the alias is
resolved against it. On a server serving no model an alias names, the error that lists what
it serves is checked instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
import pytest

from llama_client import AsyncLlamaClient, LlamaClient, ModelNotServedError, NotFoundError
from llama_client._aliases import match_served
from llama_client.providers._catalog import ALIASES

from .conftest import BASE_URL

MSGS = [{"role": "user", "content": "Say hello."}]
KEY = os.environ.get("LLAMA_IT_API_KEY")


def _served() -> list[str]:
    headers = {"Authorization": f"Bearer {KEY}"} if KEY else {}
    data = httpx.get(f"{BASE_URL.rstrip('/')}/models", headers=headers, timeout=30).json()["data"]
    return [str(m["id"]) for m in data]


def _paths(seen: list[str]) -> dict[str, list[Callable[[httpx.Request], None]]]:
    def log(request: httpx.Request) -> None:
        seen.append(request.url.path)

    return {"request": [log]}


def test_served_id_is_sent_verbatim_without_a_listing(model: str) -> None:
    seen: list[str] = []
    http = httpx.Client(event_hooks=_paths(seen), timeout=120)
    with LlamaClient(
        provider="vllm", base_url=BASE_URL, api_key=KEY, model=model, http_client=http
    ) as c:
        completion = c.chat.completions.create(messages=MSGS, max_tokens=5)
    http.close()
    assert completion.choices
    assert [p for p in seen if p.endswith("/models")] == []  # a real id costs no listing


def test_alias_reaches_the_served_model_or_lists_what_is_served() -> None:
    served = _served()
    alias = next((a for a in ALIASES if match_served(a, served) is not None), None)
    seen: list[str] = []
    http = httpx.Client(event_hooks=_paths(seen), timeout=120)
    with LlamaClient(provider="vllm", base_url=BASE_URL, api_key=KEY, http_client=http) as c:
        if alias is not None:
            for _ in range(2):
                completion = c.chat.completions.create(model=alias, messages=MSGS, max_tokens=5)
                assert completion.model == match_served(alias, served)
        else:
            for _ in range(2):
                with pytest.raises(NotFoundError) as info:
                    c.chat.completions.create(
                        model="llama-3.1-8b-instruct", messages=MSGS, max_tokens=5
                    )
                assert isinstance(info.value, ModelNotServedError)
                assert info.value.served == served
                for served_id in served:
                    assert served_id in str(info.value)
    http.close()
    assert sum(p.endswith("/models") for p in seen) == 1  # listed once per client


async def test_alias_async() -> None:
    served = _served()
    alias = next((a for a in ALIASES if match_served(a, served) is not None), None)
    async with AsyncLlamaClient(provider="vllm", base_url=BASE_URL, api_key=KEY, timeout=120) as c:
        if alias is not None:
            completion = await c.chat.completions.create(model=alias, messages=MSGS, max_tokens=5)
            assert completion.model == match_served(alias, served)
        else:
            with pytest.raises(ModelNotServedError) as info:
                await c.chat.completions.create(
                    model="llama-3.1-8b-instruct", messages=MSGS, max_tokens=5
                )
            assert info.value.served == served
