"""Shared helpers for the provider tests: a clean environment, instant retries, a message.

Their replies are built with ``tests/wire.py`` (``TINY.completion``, ``TINY.text_chunk``, ``sse``).
"""

from __future__ import annotations

import pytest

from llama_client.providers import get_provider, list_providers

GENERIC_ENV = ("LLAMA_PROVIDER", "LLAMA_BASE_URL", "LLAMA_API_KEY", "LLAMA_MODEL")


def clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every variable a provider could read, so tests see only what they set."""
    names = set(GENERIC_ENV)
    for name in list_providers():
        p = get_provider(name)
        names.update(p.api_key_env)
        names.update(p.base_url_env)
    for name in names:
        monkeypatch.delenv(name, raising=False)


def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_async_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr("llama_client._transport._sleep", lambda s: None)
    monkeypatch.setattr("llama_client._transport._async_sleep", no_async_sleep)


MSGS = [{"role": "user", "content": "Say hi."}]
