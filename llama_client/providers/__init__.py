"""Provider adapters: what differs between Llama hosts, kept as data behind one interface.

::

    from llama_client.providers import Provider, register, list_providers

    register(Provider(name="acme", base_url="https://api.acme.ai/v1", api_key_env=("ACME_API_KEY",)))
    client = LlamaClient(provider="acme")

Built-in providers are listed by :func:`list_providers`; :func:`catalog` shows which
canonical model alias each one serves under which id. ``python -m llama_client.providers
--markdown`` prints both as Markdown tables.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._ratelimit import RateLimitInfo, parse_rate_limit
from .base import DEFAULT_CONTEXT_WINDOW, ModelInfo, Prepared, Provider, ProviderOptions
from .bedrock import BedrockProvider
from .fallback import DEFAULT_COOLDOWN, Fallback, should_fall_over
from .registry import ENTRY_POINT_GROUP, find_provider, get_provider, list_providers, register

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_COOLDOWN",
    "ENTRY_POINT_GROUP",
    "BedrockProvider",
    "Fallback",
    "ModelInfo",
    "Prepared",
    "Provider",
    "ProviderOptions",
    "RateLimitInfo",
    "catalog",
    "find_provider",
    "get_provider",
    "list_providers",
    "parse_rate_limit",
    "register",
    "should_fall_over",
]


def catalog(providers: Iterable[str | Provider] | None = None) -> list[ModelInfo]:
    """The model catalogue rows of ``providers`` (default: every provider), alias order."""
    from ._catalog import ALIASES

    chosen = [
        p if isinstance(p, Provider) else get_provider(p)
        for p in (list_providers() if providers is None else providers)
    ]
    rank = {alias: i for i, alias in enumerate(ALIASES)}
    rows: list[ModelInfo] = []
    for provider in chosen:
        table = provider.model_table()
        rows.extend(sorted(table.values(), key=lambda m: rank.get(m.alias, len(rank))))
    return rows
