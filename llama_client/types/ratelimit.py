"""The rate-limit state a response reported (``x-ratelimit-*`` headers), as a result type.

Read from :attr:`APIResponse.rate_limit <llama_client.APIResponse>` and
:attr:`APIStatusError.rate_limit <llama_client.APIStatusError>`; parsed by
``llama_client._ratelimit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["RateLimitInfo"]


@dataclass(frozen=True)
class RateLimitInfo:
    """The rate-limit state a response reported. Fields the server did not send are None."""

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    #: seconds until the request budget resets
    reset_requests: float | None = None
    #: seconds until the token budget resets
    reset_tokens: float | None = None
    #: every ``x-ratelimit-*`` header as sent (lower-case names)
    raw: Mapping[str, str] = field(default_factory=dict)
