"""Fixtures shared by the unit tests that script replies for tools and structured output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from llama_client import LlamaClient
from tests.wire import LOCAL_BASE_URL


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    """respx routes under :data:`LOCAL_BASE_URL`; routes need not all be called."""
    with respx.mock(base_url=LOCAL_BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> Iterator[LlamaClient]:
    """A client for :data:`LOCAL_BASE_URL` that never retries."""
    with LlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as c:
        yield c
