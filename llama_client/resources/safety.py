"""``client.safety``, ``client.moderations`` and the guarded client of ``client.with_guard``.

Written once in :mod:`llama_client._async.safety` and :mod:`llama_client._async.guarded`; the
sync classes are generated from them (:mod:`llama_client._sync`).
"""

from __future__ import annotations

from .._async.guarded import (
    AsyncGuardedChat,
    AsyncGuardedClient,
    AsyncGuardedCompletions,
    AsyncGuardedStream,
)
from .._async.safety import AsyncModerations, AsyncSafety
from .._sync.guarded import GuardedChat, GuardedClient, GuardedCompletions, GuardedStream
from .._sync.safety import Moderations, Safety

__all__ = [
    "AsyncGuardedChat",
    "AsyncGuardedClient",
    "AsyncGuardedCompletions",
    "AsyncGuardedStream",
    "AsyncModerations",
    "AsyncSafety",
    "GuardedChat",
    "GuardedClient",
    "GuardedCompletions",
    "GuardedStream",
    "Moderations",
    "Safety",
]
