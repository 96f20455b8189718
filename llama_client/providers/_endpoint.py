"""A provider bound to a base URL, a key and headers: resolved once per client. No I/O.

Configuration order for the client's own provider (``generic_env=True``): arguments, then
``LLAMA_BASE_URL`` (self-hosted providers only: a hosted vendor's key is never sent to it) /
the provider's key variables then ``LLAMA_API_KEY``, then the provider's base-URL variables
and default. Providers reached any other way (further entries
of a fallback list, ``"provider:model"`` strings) read only their own variables, so a key
meant for one vendor is never sent to another.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._retry import RetryPolicy
from ..errors import InvalidRequestError
from .base import Provider

__all__ = ["Endpoint", "resolve_endpoint"]


class Endpoint:
    """Where and how to reach one provider."""

    __slots__ = ("api_key", "base_url", "headers", "policy", "provider", "query", "stream_headers")

    def __init__(
        self,
        provider: Provider,
        base_url: str,
        api_key: str | None,
        headers: dict[str, str],
        query: dict[str, str],
        policy: RetryPolicy,
    ) -> None:
        self.provider = provider
        self.base_url = base_url
        self.api_key = api_key
        self.headers = headers
        self.stream_headers = {**headers, "Accept": "text/event-stream"}
        self.query = query
        self.policy = policy

    @property
    def name(self) -> str:
        return self.provider.name

    def __repr__(self) -> str:
        return f"<Endpoint {self.provider.name!r} {self.base_url}>"


def _from_env(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str | None, str | None]:
    for name in names:
        value = env.get(name)
        if value:
            return value, name
    return None, None


def _host_url(value: str, suffix: str) -> str:
    url = value.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if suffix and not url.endswith(suffix):
        url += suffix
    return url


def resolve_endpoint(
    provider: Provider,
    *,
    base_url: str | None,
    api_key: str | None,
    env: Mapping[str, str],
    base_headers: Mapping[str, str],
    default_headers: Mapping[str, str],
    max_retries: int,
    generic_env: bool,
) -> Endpoint:
    """Resolve ``provider``'s URL, key and headers; a missing URL or required key raises
    InvalidRequestError naming the variables to set."""
    # LLAMA_BASE_URL points the client at a self-hosted server; it never redirects a hosted
    # vendor (whose key would then go to that address): those take base_url= or their own
    # variables only.
    hosted = (provider.base_url or "").startswith("https://")
    url = base_url or (env.get("LLAMA_BASE_URL") if generic_env and not hosted else None)
    if not url:
        value, _ = _from_env(env, provider.base_url_env)
        url = _host_url(value, provider.base_url_suffix) if value else provider.base_url
    if not url:
        names = ", ".join(
            (*provider.base_url_env, "LLAMA_BASE_URL") if generic_env else provider.base_url_env
        )
        raise InvalidRequestError(
            "base_url",
            f"provider {provider.name!r} needs a base URL: pass base_url=..."
            + (f" or set {names}" if names else ""),
        )
    if not url.startswith(("http://", "https://")):
        raise InvalidRequestError("base_url", f"must start with http:// or https://, got {url!r}")
    url = url.rstrip("/")

    key = api_key
    if key is None:
        key, _ = _from_env(env, provider.api_key_env)
        if key is None and generic_env:
            key = env.get("LLAMA_API_KEY") or None
    if not key and provider.requires_key(url):
        names = ", ".join(provider.api_key_env) or "LLAMA_API_KEY"
        raise InvalidRequestError(
            "api_key",
            f"provider {provider.name!r} needs an API key: set {names} or pass api_key=...",
        )

    headers = dict(base_headers)
    headers.update(provider.auth_headers(key or None, url))
    headers.update(provider.default_headers)
    headers.update(default_headers)
    policy = RetryPolicy(max_retries, extra_statuses=provider.retry_statuses)
    return Endpoint(provider, url, key or None, headers, dict(provider.default_query), policy)
