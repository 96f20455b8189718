"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never see the developer's LLAMA_* settings."""
    for name in ("LLAMA_BASE_URL", "LLAMA_API_KEY", "LLAMA_MODEL", "LLAMA_PROVIDER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Make retry backoff instant and record the delays that would have been slept."""
    from llama_client import _transport

    delays: list[float] = []

    def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    async def fake_async_sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(_transport, "_sleep", fake_sleep)
    monkeypatch.setattr(_transport, "_async_sleep", fake_async_sleep)
    yield delays
