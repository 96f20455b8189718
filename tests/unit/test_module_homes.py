"""Each public name has one home and its old import paths still work (issue #9)."""

from __future__ import annotations

import llama_client
import llama_client._ratelimit
import llama_client.providers
import llama_client.types
from llama_client.types.ratelimit import RateLimitInfo


def test_rate_limit_info_lives_with_the_result_types() -> None:
    assert RateLimitInfo.__module__ == "llama_client.types.ratelimit"
    assert "RateLimitInfo" in llama_client.__all__
    assert "RateLimitInfo" in llama_client.types.__all__
    for where in (
        llama_client,
        llama_client.types,
        llama_client._ratelimit,
        llama_client.providers,
    ):
        assert where.RateLimitInfo is RateLimitInfo, where
    info = llama_client._ratelimit.parse_rate_limit({"x-ratelimit-remaining-requests": "7"})
    assert isinstance(info, RateLimitInfo) and info.remaining_requests == 7
