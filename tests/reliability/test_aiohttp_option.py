"""Choosing the optional aiohttp transport: validation, laziness, and the missing-extra error.

Its behaviour under faults is tested with every other client kind in test_faults.py
(the ``aiohttp`` mode); these tests cover only how it is selected.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from llama_client import AsyncLlamaClient, InvalidRequestError


def test_import_does_not_load_aiohttp() -> None:
    code = "import sys, llama_client; assert 'aiohttp' not in sys.modules; assert 'llama_client._aiohttp_transport' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_transport_is_refused_before_io() -> None:
    with pytest.raises(InvalidRequestError, match="transport"):
        AsyncLlamaClient(base_url="http://127.0.0.1:9/v1", transport="curl")  # type: ignore[arg-type]


async def test_transport_and_http_client_cannot_be_combined() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(InvalidRequestError, match="transport"):
            AsyncLlamaClient(
                base_url="http://127.0.0.1:9/v1", http_client=http, transport="aiohttp"
            )


def test_missing_aiohttp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # makes `import aiohttp` fail
    monkeypatch.delitem(sys.modules, "llama_client._aiohttp_transport", raising=False)
    with pytest.raises(ImportError, match=r"llama-client\[aiohttp\]"):
        AsyncLlamaClient(base_url="http://127.0.0.1:9/v1", transport="aiohttp")


async def test_aiohttp_client_copies_share_its_pool() -> None:
    pytest.importorskip("aiohttp")
    client = AsyncLlamaClient(base_url="http://127.0.0.1:9/v1", transport="aiohttp")
    with_opts = client.with_options(max_retries=0)
    assert with_opts._http is client._http  # copies share the aiohttp pool
    assert type(client._http).__name__ == "AiohttpClient"
    await client.close()
