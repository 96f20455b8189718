"""A provider bound to a base URL, a key and headers: resolved once per client. No I/O.

One rule, whichever way a provider is reached (the client's only provider, an entry of a
fallback list, a ``"provider:model"`` string):

* base URL: ``base_url=``, then ``LLAMA_BASE_URL`` (self-hosted providers only), then the
  provider's base-URL variables, then its default;
* key: ``api_key=``, then the provider's own key variables, then ``LLAMA_API_KEY``
  (self-hosted providers only). A hosted vendor that requires a key and has none fails here,
  before any I/O, naming its variable.

``LLAMA_BASE_URL`` and ``LLAMA_API_KEY`` describe the user's own server, so they never reach
a hosted vendor (see :attr:`Provider.self_hosted`). A ``user:password@`` in the URL is taken
out of it and sent as ``Authorization: Basic``; the key and every header are checked here, so
nothing that would break the HTTP framing reaches a socket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import httpx

from .._retry import RetryPolicy
from .._secrets import (
    basic_auth_from_url,
    check_api_key,
    check_headers,
    mask_url,
    redact,
    secrets_in_headers,
)
from ..errors import InvalidRequestError
from .base import Provider, Signer

__all__ = ["Endpoint", "resolve_endpoint"]


class Endpoint:
    """Where and how to reach one provider."""

    __slots__ = (
        "api_key",
        "base_url",
        "headers",
        "policy",
        "provider",
        "query",
        "removed",
        "secrets",
        "sign",
        "source_url",
        "stream_headers",
    )

    def __init__(
        self,
        provider: Provider,
        base_url: str,
        api_key: str | None,
        headers: dict[str, str],
        query: dict[str, str],
        policy: RetryPolicy,
        *,
        source_url: str | None = None,
        secrets: tuple[str, ...] = (),
        removed: tuple[str, ...] = (),
        sign: Signer | None = None,
    ) -> None:
        self.provider = provider
        #: where requests go (any ``user:password@`` taken out: it travels as Basic auth)
        self.base_url = base_url
        self.api_key = api_key
        self.headers = headers
        stream_headers = dict(headers)
        _merge(stream_headers, [("Accept", "text/event-stream")])
        self.stream_headers = stream_headers
        self.query = query
        self.policy = policy
        #: the base URL as configured, userinfo included (for copies of the client; never shown)
        self.source_url = source_url or base_url
        #: credential values this endpoint sends, redacted from any server text we repeat
        self.secrets = secrets
        #: header names given as None (removed, also from the httpx client's own defaults)
        self.removed = removed
        #: signs each attempt (SigV4); None when the headers carry all the auth
        self.sign = sign

    @property
    def name(self) -> str:
        return self.provider.name

    def __repr__(self) -> str:
        return f"<Endpoint {self.provider.name!r} {mask_url(self.source_url)}>"


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


def _check_url(url: object, source: str) -> str:
    if not isinstance(url, str):
        raise InvalidRequestError(
            "base_url", f"the base URL from {source} must be a string, got {type(url).__name__}"
        )
    if not url.startswith(("http://", "https://")):
        raise InvalidRequestError(
            "base_url",
            f"the base URL from {source} must start with http:// or https://, "
            f"got {mask_url(url)!r}",
        )
    return url.rstrip("/")


def resolve_endpoint(
    provider: Provider,
    *,
    base_url: str | None,
    api_key: str | bytes | None,
    env: Mapping[str, str],
    base_headers: Mapping[str, str],
    default_headers: Sequence[tuple[str, str | None]],
    max_retries: int,
) -> Endpoint:
    """Resolve ``provider``'s URL, key and headers (``default_headers`` already checked, a
    None value removing a header). A missing URL or required key, a key or header that cannot
    be sent, raise InvalidRequestError naming what to fix and never showing a secret."""
    self_hosted = provider.is_self_hosted()
    url_source = "the base_url argument"
    url: object = base_url
    if not url and self_hosted and env.get("LLAMA_BASE_URL"):
        url, url_source = env["LLAMA_BASE_URL"], "the environment variable LLAMA_BASE_URL"
    if not url:
        value, name = _from_env(env, provider.base_url_env)
        if value:
            url = _host_url(value, provider.base_url_suffix)
            url_source = f"the environment variable {name}"
        else:
            url, url_source = provider.default_base_url(env), f"provider {provider.name!r}"
    if not url:
        names = ", ".join(
            (*provider.base_url_env, "LLAMA_BASE_URL") if self_hosted else provider.base_url_env
        )
        raise InvalidRequestError(
            "base_url",
            f"provider {provider.name!r} needs a base URL: pass base_url=..."
            + (f" or set {names}" if names else ""),
        )
    source_url = _check_url(url, url_source)
    url, basic, url_secrets = basic_auth_from_url(source_url)
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL as exc:
        raise InvalidRequestError(
            "base_url",
            f"the base URL from {url_source} is not a valid URL: "
            f"{redact(str(exc), url_secrets)} ({mask_url(source_url)!r})",
        ) from None
    if not host:
        raise InvalidRequestError(
            "base_url", f"the base URL from {url_source} has no host: {mask_url(source_url)!r}"
        )

    key_source = "the api_key argument"
    key: object = api_key
    if key is None:
        key, name = _from_env(env, provider.api_key_env)
        key_source = f"the environment variable {name}" if name else key_source
        if key is None and self_hosted and env.get("LLAMA_API_KEY"):
            key, key_source = env["LLAMA_API_KEY"], "the environment variable LLAMA_API_KEY"
    checked = check_api_key(key, key_source) or None
    if not checked and provider.requires_key(url):
        names = " or ".join(provider.api_key_env) or "the provider's key variable"
        hint = ""
        if not self_hosted and env.get("LLAMA_API_KEY"):
            hint = (
                " (LLAMA_API_KEY is set, but it is the key of your own server and is never "
                "sent to a hosted provider)"
            )
        raise InvalidRequestError(
            "api_key",
            f"provider {provider.name!r} needs an API key: set {names} or pass api_key=...{hint}",
        )

    headers: dict[str, str] = {}
    _merge(headers, base_headers.items())
    if basic is not None:
        headers["Authorization"] = basic
    _merge(headers, check_headers("provider", provider.auth_headers(checked, url)))
    provider_defaults = check_headers("provider", provider.default_headers)
    _merge(headers, provider_defaults)
    _merge(headers, default_headers)
    removed = tuple(
        name
        for name, value in (*provider_defaults, *default_headers)
        if value is None and _lookup(headers, name.lower()) is None
    )
    sent_auth = _lookup(headers, "authorization")
    if basic is not None and sent_auth is not None and sent_auth != basic:
        raise InvalidRequestError(
            "base_url",
            f"{mask_url(source_url)!r} carries user:password, sent as HTTP Basic auth in the "
            "Authorization header, but that header also carries the API key (or a default "
            "header): give the credentials one way only",
        )
    policy = RetryPolicy(max_retries, extra_statuses=provider.retry_statuses)
    secrets = secrets_in_headers(headers.items())
    sign = provider.request_signer(checked, url, env)
    return Endpoint(
        provider,
        url,
        checked,
        headers,
        dict(provider.default_query),
        policy,
        source_url=source_url,
        secrets=tuple(dict.fromkeys((*secrets, *url_secrets))),
        removed=removed,
        sign=sign,
    )


def _lookup(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _merge(headers: dict[str, str], items: Iterable[tuple[str, str | None]]) -> None:
    """Set (or, for None, remove) each header, replacing any spelling of the same name."""
    for name, value in items:
        lower = name.lower()
        for existing in [k for k in headers if k.lower() == lower]:
            del headers[existing]
        if value is not None:
            headers[name] = value
