"""``client.chat``: chat completions (create, stream, parse, raw responses) and the tool loop.

Written once in :mod:`llama_client._async.chat`; the sync classes are generated from it
(:mod:`llama_client._sync.chat`).
"""

from __future__ import annotations

from .._async.chat import AsyncChat, AsyncCompletions, AsyncCompletionsWithRawResponse
from .._sync.chat import Chat, Completions, CompletionsWithRawResponse

__all__ = [
    "AsyncChat",
    "AsyncCompletions",
    "AsyncCompletionsWithRawResponse",
    "Chat",
    "Completions",
    "CompletionsWithRawResponse",
]
