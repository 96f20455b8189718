"""``client.tokens``: prompt token counts, from the server or offline.

Written once in :mod:`llama_client._async.tokens`; the sync class is generated from it
(:mod:`llama_client._sync.tokens`).
"""

from __future__ import annotations

from .._async.tokens import AsyncTokens
from .._sync.tokens import Tokens

__all__ = ["AsyncTokens", "Tokens"]
