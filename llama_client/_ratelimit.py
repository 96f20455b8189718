"""Reading ``x-ratelimit-*`` response headers into a :class:`RateLimitInfo`. No I/O.

Vendors that send these headers (Groq, Together, OpenRouter, ...) use the names
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``. Reset values are durations such as
``6s``, ``1.57s``, ``2m59.56s`` or ``7.66ms``, or plain numbers of seconds. Every
``x-ratelimit-*`` header is also kept verbatim in :attr:`RateLimitInfo.raw`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .types.ratelimit import RateLimitInfo

# RateLimitInfo is defined in types/ratelimit.py (its public home); still importable from here.
__all__ = ["RateLimitInfo", "parse_duration", "parse_rate_limit"]

_PREFIX = "x-ratelimit-"
_PREFIX_BYTES = _PREFIX.encode()
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART: re.Pattern[str] | None = None


def parse_duration(value: str) -> float | None:
    """Seconds in ``"6s"``, ``"1.57s"``, ``"2m59.56s"``, ``"7.66ms"``, ``"1h2m"`` or ``"12.5"``."""
    global _DURATION_PART
    text = value.strip().lower()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    if _DURATION_PART is None:
        _DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The rate-limit headers of a response, or None when it sent none."""
    pairs = getattr(headers, "raw", None)  # httpx.Headers: the bytes, before any decoding
    if type(pairs) is list and not any(k[:12].lower() == _PREFIX_BYTES for k, _ in pairs):
        return None  # (most answers: checked without decoding every header)
    raw = {k.lower(): v for k, v in headers.items() if k.lower().startswith(_PREFIX)}
    if not raw:
        return None

    def dur(name: str) -> float | None:
        value = raw.get(_PREFIX + name)
        return parse_duration(value) if value is not None else None

    return RateLimitInfo(
        limit_requests=_int(raw.get(_PREFIX + "limit-requests")),
        limit_tokens=_int(raw.get(_PREFIX + "limit-tokens")),
        remaining_requests=_int(raw.get(_PREFIX + "remaining-requests")),
        remaining_tokens=_int(raw.get(_PREFIX + "remaining-tokens")),
        reset_requests=dur("reset-requests"),
        reset_tokens=dur("reset-tokens"),
        raw=raw,
    )
