"""The provider layer against the real server: the vllm adapter, and fallback from a dead
address to the live one."""

from __future__ import annotations

import os
import socket

import pytest

from llama_client import AsyncLlamaClient, LlamaClient
from llama_client.providers import Provider, get_provider

from .conftest import BASE_URL


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def _live_and_dead() -> list[Provider]:
    dead = Provider(name="dead", base_url=_closed_port_url())
    live = get_provider("vllm").replace(base_url=BASE_URL)
    return [dead, live]


MSGS = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def it_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider list takes no api_key=: its self-hosted entries read LLAMA_API_KEY."""
    if os.environ.get("LLAMA_IT_API_KEY"):
        monkeypatch.setenv("LLAMA_API_KEY", os.environ["LLAMA_IT_API_KEY"])


def test_vllm_adapter_normalises_a_stream(client: LlamaClient) -> None:
    assert client.providers == ["vllm"]
    with client.chat.completions.stream(messages=MSGS, max_tokens=8, temperature=0) as s:
        final = s.get_final_completion()
    assert final.provider_name == "vllm"
    assert final.usage is not None and final.usage.completion_tokens > 0
    assert final.choices[0].finish_reason in ("stop", "length")


def test_fallback_from_a_dead_address_to_the_server(model: str, it_key_in_env: None) -> None:
    with LlamaClient(provider=_live_and_dead(), model=model, max_retries=0) as c:
        r = c.chat.completions.create(messages=MSGS, max_tokens=4, temperature=0)
        assert r.provider_name == "vllm"
        with c.chat.completions.stream(messages=MSGS, max_tokens=4, temperature=0) as s:
            assert s.get_final_completion().provider_name == "vllm"


async def test_fallback_async(model: str, it_key_in_env: None) -> None:
    async with AsyncLlamaClient(provider=_live_and_dead(), model=model, max_retries=0) as c:
        r = await c.chat.completions.create(messages=MSGS, max_tokens=4, temperature=0)
    assert r.provider_name == "vllm"
