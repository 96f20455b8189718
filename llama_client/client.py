"""``LlamaClient`` and ``AsyncLlamaClient``.

Both are thin shells over :class:`~llama_client._base_client._BaseClient` (configuration and
call planning, no I/O). ``AsyncLlamaClient`` is written in :mod:`llama_client._async.client`;
``LlamaClient`` is generated from it (:mod:`llama_client._sync.client`, by
``scripts/unasync.py``).
"""

from __future__ import annotations

from ._async.client import AsyncLlamaClient
from ._base_client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._sync.client import LlamaClient

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "AsyncLlamaClient",
    "LlamaClient",
]
