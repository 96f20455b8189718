"""The integration tier: the client against a real OpenAI-compatible Llama server.

It runs only when ``LLAMA_IT_BASE_URL`` names a server (``scripts/it_server.py start`` prints
one; any vLLM or compatible server works). Otherwise every test is skipped with that reason,
unless ``LLAMA_IT_REQUIRED=1`` (set by CI), which turns a missing server into a failure.

Optional: ``LLAMA_IT_API_KEY`` (key of that server), ``LLAMA_IT_MODEL`` (default: the first
model the server lists), ``LLAMA_IT_AUTH_BASE_URL`` + ``LLAMA_IT_AUTH_KEY`` (a second server
started with ``--api-key``, for the authentication cases).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from llama_client import AsyncLlamaClient, LlamaClient

BASE_URL = os.environ.get("LLAMA_IT_BASE_URL", "")
REQUIRED = os.environ.get("LLAMA_IT_REQUIRED") == "1"
SKIP_REASON = "integration tier: set LLAMA_IT_BASE_URL (e.g. `python scripts/it_server.py start`)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.integration)
            if not BASE_URL:
                if REQUIRED:
                    item.add_marker(pytest.mark.usefixtures("_server_required"))
                else:
                    item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(scope="session")
def _server_required() -> None:
    pytest.fail(
        "LLAMA_IT_REQUIRED=1 but LLAMA_IT_BASE_URL is not set: the test server did not start"
    )


@pytest.fixture(scope="session")
def server_info() -> dict[str, object]:
    """The model id and context length, read once from the server's model list."""
    headers = {}
    if os.environ.get("LLAMA_IT_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['LLAMA_IT_API_KEY']}"
    data = httpx.get(f"{BASE_URL.rstrip('/')}/models", headers=headers, timeout=30).json()["data"]
    wanted = os.environ.get("LLAMA_IT_MODEL")
    card = next((m for m in data if m["id"] == wanted), data[0]) if wanted else data[0]
    return {
        "model": wanted or card["id"],
        "max_model_len": card.get("max_model_len"),
        "owned_by": card.get("owned_by"),
    }


@pytest.fixture
def model(server_info: dict[str, object]) -> str:
    return str(server_info["model"])


@pytest.fixture
def client(model: str) -> Iterator[LlamaClient]:
    with LlamaClient(
        provider="vllm",
        base_url=BASE_URL,
        api_key=os.environ.get("LLAMA_IT_API_KEY"),
        model=model,
        timeout=120,
        max_retries=1,
    ) as c:
        yield c


@pytest.fixture
async def aclient(model: str) -> AsyncIterator[AsyncLlamaClient]:
    async with AsyncLlamaClient(
        provider="vllm",
        base_url=BASE_URL,
        api_key=os.environ.get("LLAMA_IT_API_KEY"),
        model=model,
        timeout=120,
        max_retries=1,
    ) as c:
        yield c
