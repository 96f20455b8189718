"""What both clients share: configuration, and planning each call, without I/O.

:class:`_BaseClient` resolves the configuration (arguments, then environment, then defaults,
per provider) and plans every call (:meth:`_BaseClient._plan`: validation, routing, provider
preparation, the request for each provider it may go to, fallback order and the bookkeeping
of fallback), all without doing I/O. The clients in :mod:`llama_client._async.client` (and
its generated sync twin) add the one verb that sends a planned call.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from ._aliases import PendingAlias, is_alias
from ._context import context_budget
from ._json import json_default
from ._observe import Observer
from ._secrets import (
    SecretHeaders,
    check_headers,
    mask_url,
    request_secrets,
)
from ._streaming import ChatChunkDecoder
from ._validation import REQUEST_OPTIONS, build_chat_body, shown
from ._version import __version__
from .errors import (
    APIError,
    InvalidRequestError,
    ModelNotServedError,
    UnsupportedParameterWarning,
)
from .providers import Fallback, Provider, find_provider, get_provider
from .providers._endpoint import Endpoint, resolve_endpoint
from .providers.base import UnsupportedPolicy
from .usage import UsageTotals

if TYPE_CHECKING:
    from ._call import Call
    from ._observe import Watch
    from .hooks import Hook, Hooks
    from .otel import OTel
    from .types.chat import ChatCompletionChunk

#: vLLM's default address: what the client talks to when nothing else is configured.
DEFAULT_BASE_URL = "http://localhost:8000/v1"
#: Generous for long generations, quick to notice a server that is not there.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
#: httpx's own defaults. Keeping more idle connections makes httpcore's async pool much slower
#: under concurrency (64 in flight on loopback: 3x fewer requests/s with 100 kept alive), so
#: we stay with them; AsyncLlamaClient(transport="aiohttp") is the fast path for heavy
#: concurrency and keeps a larger pool (AIOHTTP_LIMITS).
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
AIOHTTP_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)

M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger("llama_client")

#: ``provider=`` accepts a registered name, a Provider, or an ordered list of them (fallback).
ProviderSpec = str | Provider | Sequence[str | Provider]
#: One planned attempt of a call: the provider endpoint and the request for it.
#: one provider's request; a :class:`PendingAlias` when its model is a canonical alias that
#: waits for the server's ``/models`` listing (self-hosted providers, first call only)
Attempt = tuple[Endpoint, "httpx.Request | PendingAlias"]


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


#: json.dumps with these arguments, built once (json.dumps builds an encoder per call)
_strict_json = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=json_default, allow_nan=False
).encode


def _encode(body: Mapping[str, Any]) -> bytes:
    """The request body as strict JSON (RFC 8259), or InvalidRequestError naming the field.

    Refused: NaN and infinities (``allow_nan=False``), keys that collide once converted to
    JSON strings (``{1: "a", "1": "b"}``), values JSON cannot carry, nesting too deep to
    encode, self-references. Only a failed encode pays for finding where: the happy path is
    one ``json.dumps`` and a walk over the containers for non-string keys.
    """
    try:
        data = _strict_json(body).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise _refusal(body, exc) from None
    if _colliding_keys(body):
        raise _refusal(body, None)
    return data


_CONTAINERS = (dict, list, tuple)
#: methods whose request httpx gives ``Content-Length: 0`` when it has no body
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _colliding_keys(body: object) -> bool:
    """Whether a dict in ``body`` has two keys that become the same JSON string.

    Only a dict with a non-string key can (``1`` and ``"1"``, ``True`` and ``"true"``), so the
    keys of a dict are compared only when one of them is not a string. Called after a
    successful encode: the body has no cycle and only JSON-able keys.
    """
    stack = [body]
    pop, push = stack.pop, stack.append
    while stack:
        obj = pop()
        if isinstance(obj, dict):
            mixed = False
            for key, value in obj.items():
                if type(key) is not str:
                    mixed = True
                # (type(...) is str first: the usual value, and cheaper than isinstance)
                if type(value) is not str and isinstance(value, _CONTAINERS):
                    push(value)
            if mixed and len({_json_key(k) for k in obj}) != len(obj):
                return True
        else:
            for value in obj:  # type: ignore[attr-defined]
                if type(value) is not str and isinstance(value, _CONTAINERS):
                    push(value)
    return False


def _json_key(key: object) -> str:
    """The JSON object key ``json.dumps`` writes for a dict key."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        return float.__repr__(key)
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _path(parts: list[object]) -> str:
    """``messages[0].content``, ``logit_bias["50256"]``: where a value is in the body."""
    out = ""
    for part in parts:
        if isinstance(part, str) and part.isidentifier():
            out += f".{part}" if out else part
        elif isinstance(part, str):
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
        else:
            out += f"[{part!r}]"
    if len(out) > 200:  # nested thousands deep: the start and the end are what help
        out = f"{out[:120]}...{out[-60:]}"
    return out or "body"


def _refusal(body: object, exc: BaseException | None) -> InvalidRequestError:
    """Why ``body`` cannot be sent as strict JSON, naming where (the failure path only)."""
    found = _find_unencodable(body, deep=isinstance(exc, RecursionError))
    if found is not None:
        return InvalidRequestError(*found)
    reason = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown reason"
    return InvalidRequestError("body", f"cannot be encoded as JSON ({reason})")


def _stack_depth() -> int:
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


#: Marks, on the walk's stack, the end of a container's children.
_LEAVE = object()


def _find_unencodable(body: object, *, deep: bool) -> tuple[str, str] | None:
    """The first place in ``body`` (in ``json.dumps``'s order) that strict JSON cannot carry,
    as (path, problem); None if there is none.

    An iterative walk, so a body nested 100,000 deep is fine, converting values as
    ``json.dumps`` with :func:`json_default` does. With ``deep`` (``json.dumps`` ran out of
    stack), a container about as deep as the stack allowed is the problem.
    """
    limit = max(20, sys.getrecursionlimit() - _stack_depth() - 20) if deep else -1
    on_path: set[int] = set()
    parts: list[object] = []  # the path of the value being looked at
    stack: list[tuple[object, int, object]] = [(body, 0, None)]
    while stack:
        value, depth, key = stack.pop()
        if key is _LEAVE:
            on_path.discard(depth)  # here ``depth`` holds the container's id
            continue
        del parts[max(depth - 1, 0) :]
        if depth:
            parts.append(key)
        if isinstance(value, str):
            if not _is_utf8(value):
                return _path(parts), "holds a lone surrogate, which UTF-8 cannot encode"
            continue
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                return _path(parts), f"{value!r} is not a JSON number (JSON has no NaN or infinity)"
            continue
        if isinstance(value, int):
            try:
                int.__repr__(value)
            except ValueError:
                return _path(parts), "an integer too long to write as JSON"
            continue
        if not isinstance(value, (dict, list, tuple)):
            try:
                value = json_default(value)
            except Exception as error:  # any failure to convert is the answer
                return _path(parts), f"cannot be sent as JSON ({error})"
            if not isinstance(value, (dict, list)):
                continue  # not reached for what json_default returns; kept for safety
        ident = id(value)
        if ident in on_path:
            return _path(parts), "contains itself (a circular reference)"
        if deep and depth >= limit:
            return _path(parts), f"nested {depth} levels deep or more, too deep to encode"
        on_path.add(ident)
        stack.append((None, ident, _LEAVE))
        children: list[tuple[object, int, object]] = []
        if isinstance(value, dict):
            seen: dict[str, object] = {}
            for k, v in value.items():
                try:
                    name = _json_key(k)
                except (TypeError, ValueError) as error:  # not a JSON key; an int too long
                    return _path(parts), f"has a key JSON cannot carry ({error})"
                if isinstance(k, float) and not math.isfinite(k):
                    return _path(parts), f"has the key {k!r}, which JSON cannot carry"
                if not _is_utf8(name):
                    return _path(
                        parts
                    ), "has a key with a lone surrogate, which UTF-8 cannot encode"
                if name in seen:
                    return (
                        _path([*parts, name]),
                        f"duplicate key: {seen[name]!r} and {k!r} are both written as "
                        f"{json.dumps(name, ensure_ascii=False)} in JSON",
                    )
                seen[name] = k
                children.append((v, depth + 1, name))
        else:
            children = [(v, depth + 1, i) for i, v in enumerate(value)]
        stack.extend(reversed(children))
    if deep:
        return "body", "nested too deeply to encode as JSON"
    return None


def _providers_from(spec: ProviderSpec | None) -> list[Provider]:
    if spec is None:
        spec = os.environ.get("LLAMA_PROVIDER") or "vllm"
        if "," in spec:
            spec = [name for name in spec.split(",") if name.strip()]
    items: Sequence[str | Provider] = [spec] if isinstance(spec, (str, Provider)) else spec
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise InvalidRequestError(
            "provider", "must be a provider name, a Provider, or a list of them"
        )
    providers = [p if isinstance(p, Provider) else get_provider(str(p).strip()) for p in items]
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise InvalidRequestError("provider", f"each provider may appear once, got {names}")
    return providers


#: Longer timeouts than this mean "no limit" (None): past it the sync client's socket and lock
#: waits overflow (``threading.TIMEOUT_MAX`` is about 49 days on Windows), and no one waits
#: 31 years for an answer.
_MAX_TIMEOUT = min(threading.TIMEOUT_MAX, 1e9)


def _seconds(field: str, value: object, *, allow_zero: bool) -> float | None:
    """One timeout value checked before any I/O: None, or a number of seconds; NaN, negative
    (and zero where it means nothing) are refused, infinity and huge values mean no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(
            field, f"must be a number of seconds, None or an httpx.Timeout, got {shown(value)}"
        )
    try:
        seconds = float(value)
    except OverflowError:  # an int past float's range: longer than any real wait
        return None
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        sign = "non-negative" if allow_zero else "positive"
        raise InvalidRequestError(
            field, f"must be a {sign} number of seconds (or None for no limit), got {shown(value)}"
        )
    return None if seconds > _MAX_TIMEOUT else seconds


def _as_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        parts = value.as_dict()
        checked = {
            name: _seconds(f"timeout.{name}", v, allow_zero=True) for name, v in parts.items()
        }
        return value if checked == parts else httpx.Timeout(**checked)
    if value is None:
        return httpx.Timeout(None)
    seconds = _seconds("timeout", value, allow_zero=False)
    if seconds is None:
        return httpx.Timeout(None)
    return httpx.Timeout(seconds, connect=min(seconds, DEFAULT_TIMEOUT.connect or 5.0))


#: ``transport=`` of AsyncLlamaClient: httpx's own pool, or aiohttp's (an optional extra).
AsyncTransportName = Literal["httpx", "aiohttp"]
#: ``transport=`` of LlamaClient: the aiohttp transport is async only.
TransportName = Literal["httpx"]


def _async_http(
    http_client: httpx.AsyncClient | None, transport: str, timeout: httpx.Timeout
) -> httpx.AsyncClient:
    """The async client's httpx client: the caller's, or one with the pool of ``transport``."""
    if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
        raise InvalidRequestError(
            "http_client", "must be an httpx.AsyncClient (use LlamaClient for httpx.Client)"
        )
    if http_client is not None and transport != "httpx":
        raise InvalidRequestError(
            "transport", "cannot be combined with http_client (give that client the transport)"
        )
    if http_client is not None:
        return http_client
    if transport == "httpx":
        return httpx.AsyncClient(timeout=timeout, limits=DEFAULT_LIMITS)
    if transport != "aiohttp":
        raise InvalidRequestError("transport", f"must be 'httpx' or 'aiohttp', got {transport!r}")
    try:
        from ._aiohttp_transport import AiohttpClient
    except ImportError as exc:
        raise ImportError(
            "transport='aiohttp' needs aiohttp: pip install 'llama-client[aiohttp]'"
        ) from exc
    return AiohttpClient(timeout=timeout, limits=AIOHTTP_LIMITS)


def _sync_http(
    http_client: httpx.Client | None, transport: str, timeout: httpx.Timeout
) -> httpx.Client:
    """The sync client's httpx client: the caller's, or one of its own."""
    if http_client is not None and not isinstance(http_client, httpx.Client):
        raise InvalidRequestError(
            "http_client",
            "must be an httpx.Client (use AsyncLlamaClient for httpx.AsyncClient)",
        )
    if transport != "httpx":
        raise InvalidRequestError(
            "transport", f"must be 'httpx' (aiohttp is for AsyncLlamaClient), got {transport!r}"
        )
    return http_client or httpx.Client(timeout=timeout, limits=DEFAULT_LIMITS)


def _timeout_dict(value: float | httpx.Timeout | None) -> dict[str, float | None]:
    return _as_timeout(value).as_dict()


class _BaseClient:
    """Configuration and call planning shared by both clients."""

    base_url: str
    model: str | None
    timeout: httpx.Timeout
    max_retries: int
    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | bytes | None,
        model: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int | None,
        default_headers: Mapping[str, str | None] | None,
        provider: ProviderSpec | None = None,
        unsupported: UnsupportedPolicy = "warn",
        fallback: Fallback | None = None,
        hooks: Hooks | Hook | None = None,
        otel: OTel | bool | None = None,
        usage: UsageTotals | None = None,
    ) -> None:
        #: True when the model comes from LLAMA_MODEL (a name on the user's own server): it is
        #: then sent to a hosted vendor only translated through the catalogue.
        self._model_from_env = not model and bool(os.environ.get("LLAMA_MODEL"))
        self.model = model or os.environ.get("LLAMA_MODEL") or None
        self.timeout = DEFAULT_TIMEOUT if timeout is _UNSET else _as_timeout(timeout)
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise InvalidRequestError(
                "max_retries", f"must be a non-negative integer, got {self.max_retries!r}"
            )
        if unsupported not in ("warn", "drop", "error"):
            raise InvalidRequestError(
                "unsupported", f'must be "warn", "drop" or "error", got {unsupported!r}'
            )
        self._unsupported: UnsupportedPolicy = unsupported
        # Checked once here (and again by with_options, which builds a new client): names and
        # values that would break the HTTP framing are refused before any socket is opened.
        self._header_items = check_headers("default_headers", default_headers or {})
        self._default_headers = dict(default_headers or {})
        self._base_headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"llama-client/{__version__}",
        }
        providers = _providers_from(provider)
        several = len(providers) > 1
        if several and (base_url or api_key):
            raise InvalidRequestError(
                "base_url" if base_url else "api_key",
                "with several providers each one takes its URL and key from its own environment "
                "variables; register a Provider with its base_url for a custom address",
            )
        self._endpoints = [self._resolve(p, base_url=base_url, api_key=api_key) for p in providers]
        self._by_name = {ep.name: ep for ep in self._endpoints}
        self._extra_endpoints: dict[str, Endpoint] = {}
        self._fallback = fallback if fallback is not None else Fallback()
        self._warned: set[tuple[str, str]] = set()
        primary = self._endpoints[0]
        self.provider = primary.provider
        self.base_url = primary.base_url  # userinfo taken out: it travels as Basic auth
        self._api_key = primary.api_key
        self._prepared_for: httpx.Client | httpx.AsyncClient | None = None
        self._parts: dict[tuple[int, str, str, bool], tuple[httpx.URL, httpx.Headers]] = {}
        self._timeout_dict: dict[str, float | None] = {}
        #: endpoint name → the model ids its server lists, fetched once to resolve aliases
        self._served: dict[str, list[str]] = {}
        self._observer = _observer(hooks, otel, usage)
        self._otel = otel

    @property
    def usage(self) -> UsageTotals:
        """Running totals of this client's chat calls (requests, tokens, retries, estimated
        cost) per provider and model; shared with its ``with_options`` copies."""
        return self._observer.usage

    def _resolve(
        self, provider: Provider, *, base_url: str | None, api_key: str | bytes | None
    ) -> Endpoint:
        """The one resolution of a provider's URL, key and headers, however it was reached
        (see :mod:`llama_client.providers._endpoint`)."""
        return resolve_endpoint(
            provider,
            base_url=base_url,
            api_key=api_key,
            env=os.environ,
            base_headers=self._base_headers,
            default_headers=self._header_items,
            max_retries=self.max_retries,
        )

    @property
    def providers(self) -> list[str]:
        """The names of this client's providers, in fallback order."""
        return [ep.name for ep in self._endpoints]

    @property
    def provider_adapters(self) -> list[Provider]:
        """This client's :class:`~llama_client.providers.Provider` adapters, in fallback order."""
        return [ep.provider for ep in self._endpoints]

    def _copy_kwargs(self) -> dict[str, Any]:
        """Arguments that rebuild this client's providers (for ``with_options``)."""
        single = len(self._endpoints) == 1
        return {
            "provider": [ep.provider for ep in self._endpoints],
            "base_url": self._endpoints[0].source_url if single else None,
            "api_key": (self._api_key or "") if single else None,
            "unsupported": self._unsupported,
            "fallback": self._fallback,
            "hooks": self._observer.hooks,
            "otel": self._otel,
            "usage": self._observer.usage,
        }

    @property
    def api_key(self) -> str | None:
        """The API key in use (never shown by ``repr``)."""
        return self._api_key

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        names = self.providers
        provider = names[0] if len(names) == 1 else names
        return (
            f"{type(self).__name__}(provider={provider!r}, "
            f"base_url={mask_url(self._endpoints[0].source_url)!r}, "
            f"model={self.model!r}, api_key={key}, max_retries={self.max_retries})"
        )

    # -- request building (no I/O) -------------------------------------------------------

    def _resolve_model(self, model: str | None) -> str:
        chosen = model or self.model
        if not chosen:
            raise InvalidRequestError(
                "model",
                "no model given: pass model=... to the call or the client, or set LLAMA_MODEL",
            )
        if not isinstance(chosen, str):
            raise InvalidRequestError("model", f"must be a string, got {type(chosen).__name__}")
        return chosen

    def _build_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        options: Mapping[str, Any],
        stream: bool = False,
        endpoint: Endpoint | None = None,
        provider_headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        ep = endpoint or self._endpoints[0]
        extra_body = options.get("extra_body")
        if extra_body:
            if body is None:
                raise InvalidRequestError("extra_body", f"{method} {path} takes no body")
            body = {**body, **extra_body}
        content = _encode(body) if body is not None else None
        timeout = options.get("timeout")
        extra_headers = options.get("extra_headers")
        extra = check_headers("extra_headers", extra_headers) if extra_headers else None
        if http.cookies or http.params:
            # The httpx client has state of its own to merge in: let it build the request.
            headers = httpx.Headers(ep.stream_headers if stream else ep.headers)
            _apply_headers(headers, provider_headers, extra)
            query = options.get("extra_query")
            if ep.query:
                query = {**ep.query, **(query or {})}
            request = http.build_request(
                method,
                ep.base_url + path,
                content=content,
                headers=headers,
                params=query or None,
                timeout=self.timeout if timeout is None else _as_timeout(timeout),
            )
            for name in ep.removed:
                if name not in headers:
                    request.headers.pop(name, None)
            request.headers.__class__ = SecretHeaders
            return request
        # The hot path: the same request httpx's build_request would make, from parts prepared
        # once per client and endpoint (parsed URL, headers merged with the httpx client's and
        # with the Host header httpx would add). The body goes in as a ready ``ByteStream``
        # with its Content-Length set here, which is what ``Request(content=...)`` does
        # itself in about three times the time (it re-reads every header to add two); the
        # headers and bytes on the wire are the same (tests/unit/test_request_building.py).
        url, prepared = self._request_parts(http, ep, path, stream)
        extra_query = options.get("extra_query")
        if extra_query:
            url = url.copy_merge_params(extra_query)
        headers = httpx.Headers(prepared)  # a copy: the prepared headers are shared
        if provider_headers or extra:
            _apply_headers(headers, provider_headers, extra)
            if "Host" not in headers:  # extra_headers removed it: httpx would add it back
                headers = httpx.Headers([(b"Host", url.netloc), *headers.raw])
        if content is not None:
            headers["Content-Length"] = str(len(content))
        elif method in _BODY_METHODS:
            headers["Content-Length"] = "0"
        request = httpx.Request(
            method,
            url,
            headers=headers,
            stream=httpx.ByteStream(content or b""),
            extensions={
                "timeout": self._timeout_dict if timeout is None else _timeout_dict(timeout)
            },
        )
        request.read()  # request.content, as with content=...: the body is already in memory
        # Same headers, same bytes on the wire; only their repr differs: it masks every
        # credential header (api-key, x-api-key, ...), where httpx masks only Authorization.
        # A class swap, not a copy: one attribute store per request.
        request.headers.__class__ = SecretHeaders
        return request

    def _request_parts(
        self, http: httpx.Client | httpx.AsyncClient, ep: Endpoint, path: str, stream: bool
    ) -> tuple[httpx.URL, httpx.Headers]:
        """The URL and headers of a request to ``ep``, prepared once and then reused."""
        if self._prepared_for is not http:
            self._prepared_for = http
            self._parts = {}
            self._timeout_dict = self.timeout.as_dict()
        key = (id(ep), ep.base_url, path, stream)
        parts = self._parts.get(key)
        if parts is None:
            merged = httpx.Headers(http.headers)
            merged.update(ep.stream_headers if stream else ep.headers)
            for name in ep.removed:  # None in default_headers: not sent at all
                merged.pop(name, None)
            url = httpx.URL(ep.base_url + path)
            if ep.query:
                url = url.copy_merge_params(ep.query)
            if "Host" not in merged:  # first, as httpx puts it
                merged = httpx.Headers([(b"Host", url.netloc), *merged.raw])
            parts = self._parts[key] = (url, merged)
        return parts

    def _route(self, model: str | None) -> tuple[list[Endpoint], str]:
        """The endpoints a call goes to and the model name for them: ``"groq:llama-..."``
        picks one provider for this call; anything else uses the client's providers."""
        chosen = self._resolve_model(model)
        prefix, sep, rest = chosen.partition(":")
        if sep and rest and prefix and "/" not in prefix:
            ep = self._by_name.get(prefix) or self._extra_endpoints.get(prefix)
            if ep is None:
                found = find_provider(prefix)
                if found is not None:
                    ep = self._resolve(found, base_url=None, api_key=None)
                    self._extra_endpoints[prefix] = ep
            if ep is not None:
                return [ep], rest
        return self._endpoints, chosen

    @staticmethod
    def _env_model_for(ep: Endpoint, name: str) -> str:
        """The model name to send to ``ep`` when it came from LLAMA_MODEL.

        LLAMA_MODEL names a model on the user's own server. A self-hosted provider gets it as
        it is; a hosted vendor only when the catalogue knows it (an alias, a Hugging Face id,
        or that vendor's own id), translated to the vendor's id. Any other name is not sent.
        """
        provider = ep.provider
        if provider.is_self_hosted():
            return name
        from .providers._catalog import canonical_alias  # the catalogue loads on first use

        alias = canonical_alias(name)
        if alias is not None:
            return alias
        if provider.model_info(name) is not None:
            return name
        raise InvalidRequestError(
            "model",
            f"LLAMA_MODEL is {name!r}, which the model catalogue does not know, so it is not "
            f"sent to the hosted provider {ep.name!r} (LLAMA_MODEL names a model on your own "
            "server): pass model=... to the client or the call",
        )

    def _plan(self, call: Call[Any]) -> list[Attempt]:
        """The request of ``call`` for each provider it may go to, in fallback order (no I/O).

        Everything that can be refused is refused here, before any I/O. With several
        providers, one that cannot serve a chat call (model not offered, a parameter refused)
        is left out; the call fails only when none can.
        """
        params = call.params
        if params is None:
            return self._plan_plain(call)
        endpoints, name = self._route(call.model)
        params, budget = context_budget(params, call.messages)  # #12: context pre-flight
        body = build_chat_body(call.messages, name, call.stream, params)
        options = {k: params[k] for k in REQUEST_OPTIONS if k in params}
        from_env = not call.model and self._model_from_env
        alias = name if is_alias(name) else None  # resolved on self-hosted servers
        attempts: list[Attempt] = []
        refused: InvalidRequestError | None = None
        for ep in endpoints:
            try:
                ep_body = body
                if from_env:
                    sent = self._env_model_for(ep, name)
                    if sent != name:
                        ep_body = {**body, "model": sent}
                # the context pre-flight (#12) reads the OpenAI-shaped body: may raise
                # ContextLengthExceededError, or fill in max_tokens="auto" for this provider
                ep_body = budget.apply(ep.provider, ep_body)
                prepared = ep.provider.prepare(
                    ep_body,
                    stream=call.stream,
                    want_usage=call.want_usage,
                    unsupported=self._unsupported,
                )
            except InvalidRequestError as exc:
                if len(endpoints) == 1:
                    raise
                logger.debug("provider %r skipped: %s", ep.name, exc)
                refused = refused or exc
                continue
            for param, reason in prepared.dropped:
                self._warn_dropped(ep.name, param, reason)
            if prepared.headers:  # a provider's per-call headers (Azure extra-parameters)
                check_headers("provider", prepared.headers)
            request: httpx.Request | PendingAlias
            if alias is not None and ep.provider.is_self_hosted():
                request = self._alias_request(
                    call, ep, alias, prepared.body, options, prepared.headers
                )
            else:
                request = self._build_request(
                    self._http,
                    call.method,
                    prepared.path or call.path,
                    body=prepared.body,
                    options=options,
                    stream=call.stream,
                    endpoint=ep,
                    provider_headers=prepared.headers,
                )
            attempts.append((ep, request))
        if not attempts:
            assert refused is not None
            raise refused
        return self._in_fallback_order(attempts)

    def _alias_request(
        self,
        call: Call[Any],
        ep: Endpoint,
        alias: str,
        body: dict[str, Any],
        options: Mapping[str, Any],
        headers: Mapping[str, str],
    ) -> httpx.Request | PendingAlias:
        """The request for a canonical alias sent to a self-hosted server: with the served id
        it names when ``ep``'s listing is known, else a :class:`PendingAlias` that the client
        resolves after fetching the listing (:meth:`_served_request`)."""

        def build(model: str) -> httpx.Request:
            return self._build_request(
                self._http,
                call.method,
                call.path,
                body=body if model == body["model"] else {**body, "model": model},
                options=options,
                stream=call.stream,
                endpoint=ep,
                provider_headers=headers,
            )

        pending = PendingAlias(alias, body["model"], build)
        served = self._served.get(ep.name)
        if served is not None:
            model = pending.resolve(served)
            if model is not None:
                return build(model)
        return pending

    def _listing_plan(self, ep: Endpoint) -> list[Attempt]:
        """``GET /models`` on ``ep`` alone: the listing an alias is resolved against."""
        return [(ep, self._build_request(self._http, "GET", "/models", options={}, endpoint=ep))]

    def _served_request(self, ep: Endpoint, pending: PendingAlias) -> httpx.Request:
        """The request of ``pending`` once ``ep``'s listing is in :attr:`_served` (no I/O);
        :class:`ModelNotServedError` when the alias names nothing the server serves."""
        served = self._served[ep.name]
        model = pending.resolve(served)
        if model is None:
            raise ModelNotServedError(
                pending.alias, served, provider=ep.name, base_url=mask_url(ep.base_url)
            )
        logger.debug("model %r is %r on provider %r", pending.alias, model, ep.name)
        return pending.build(model)

    def _plan_plain(self, call: Call[Any]) -> list[Attempt]:
        """A call without a chat body: to the provider its model routes to, else to every one."""
        options = self._check_options(call.options or {})
        if call.body is not None and call.model is not None:
            return self._plan_body(call, options)
        if call.model is None:
            endpoints, path = self._endpoints, call.path
        else:
            endpoints, name = self._route(call.model)
            path = f"{call.path}/{name}"
        attempts: list[Attempt] = [
            (
                ep,
                self._build_request(
                    self._http,
                    call.method,
                    _on_root(ep.base_url, path),
                    body=call.body,
                    options=options,
                    endpoint=ep,
                ),
            )
            for ep in endpoints
        ]
        return self._in_fallback_order(attempts)

    def _plan_body(self, call: Call[Any], options: Mapping[str, Any]) -> list[Attempt]:
        """A ``POST`` with a JSON body that is not a chat completion (:func:`_call.post_call`):
        routed by its model like a chat call, the model in the body translated per provider
        (a canonical alias on a self-hosted server is resolved against its listing)."""
        assert call.body is not None
        endpoints, name = self._route(call.model)
        attempts: list[Attempt] = []
        for ep in endpoints:
            body = dict(call.body)
            path = _on_root(ep.base_url, call.path)
            if "model" in body:
                body["model"] = name
                alias = is_alias(name) and ep.provider.is_self_hosted() and path == call.path
                if alias:
                    attempts.append((ep, self._alias_request(call, ep, name, body, options, {})))
                    continue
                body["model"] = ep.provider.resolve_model(name)
            request = self._build_request(
                self._http, call.method, path, body=body, options=options, endpoint=ep
            )
            attempts.append((ep, request))
        return self._in_fallback_order(attempts)

    def _in_fallback_order(self, attempts: list[Attempt]) -> list[Attempt]:
        if len(attempts) > 1:
            order = self._fallback.order([ep.name for ep, _ in attempts])
            attempts = [attempts[i] for i in order]
        return attempts

    def _warn_dropped(self, provider: str, param: str, reason: str) -> None:
        if self._unsupported != "warn" or (provider, param) in self._warned:
            return
        self._warned.add((provider, param))
        warnings.warn(
            f"{param} {reason} by provider {provider!r}; it was not sent",
            UnsupportedParameterWarning,
            stacklevel=4,
        )

    def _give_up(self, ep: Endpoint, exc: APIError, attempts: int, tried: int) -> bool:
        """After ``ep`` failed with ``exc`` (attempt ``tried`` of ``attempts``): True to raise,
        False to try the next provider."""
        if attempts == 1:
            return True
        moved = self._fallback.failed(ep.name, exc)
        if moved and tried < attempts:
            logger.info("provider %r failed (%s); trying the next one", ep.name, type(exc).__name__)
            return False
        return True

    def _answered(self, ep: Endpoint, attempts: int) -> None:
        if attempts > 1:
            self._fallback.succeeded(ep.name)

    @staticmethod
    def _decoder(
        ep: Endpoint, request: httpx.Request, watch: Watch | None = None
    ) -> ChatChunkDecoder:
        provider = ep.provider
        framer = provider.stream_framer(request)
        normalize: Callable[[ChatCompletionChunk], ChatCompletionChunk] | None
        normalize = provider.chunk_normalizer()
        if watch is not None:
            normalize = watch.chunk_watcher(normalize)
        # A signed request's credentials (SigV4's session token) are added per attempt, so
        # they are read from the request that was sent, not from the endpoint.
        secrets = ep.secrets if ep.sign is None else request_secrets(request) + ep.secrets
        return ChatChunkDecoder(normalize, framer, secrets)

    @staticmethod
    def _check_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
        unknown = set(options) - REQUEST_OPTIONS
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        return options


def _observer(
    hooks: Hooks | Hook | None, otel: OTel | bool | None, usage: UsageTotals | None
) -> Observer:
    """The client's observer: its usage totals, and its hooks and tracer if it has them."""
    if usage is not None and not isinstance(usage, UsageTotals):
        raise InvalidRequestError("usage", f"must be a UsageTotals, got {type(usage).__name__}")
    checked = None
    if hooks is not None:
        from .hooks import as_hooks  # loaded only when hooks are given

        checked = as_hooks(hooks)
    tracer = None
    if otel is not None and otel is not False:
        from .otel import make_tracer  # opentelemetry is imported only here

        tracer = make_tracer(otel)
    return Observer(usage if usage is not None else UsageTotals(), checked, tracer)


def _on_root(base_url: str, path: str) -> str:
    """A call's path for ``base_url``. ``/../x`` names ``x`` on the server's root, beside the
    OpenAI base: it stays relative when the base URL ends in ``/v1`` (httpx resolves the
    ``..``), and any other base URL is the root itself (text-embeddings-inference at
    ``http://host:8080``)."""
    if path.startswith("/../") and not base_url.rstrip("/").endswith("/v1"):
        return path[3:]
    return path


def _apply_headers(
    headers: httpx.Headers,
    provider_headers: Mapping[str, str] | None,
    extra: list[tuple[str, str | None]] | None,
) -> None:
    """Add a call's provider headers, then its checked ``extra_headers`` (None removes one)."""
    if provider_headers:
        headers.update(provider_headers)
    for name, value in extra or ():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
