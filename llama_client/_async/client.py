"""The client: configuration and planning from :class:`~llama_client._base_client._BaseClient`
(no I/O), plus the one verb every call goes through, :meth:`AsyncLlamaClient._request`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx
from typing_extensions import Self

from .._aliases import PendingAlias
from .._base_client import (
    _UNSET,
    AsyncTransportName,
    Attempt,
    ProviderSpec,
    _async_http,
    _BaseClient,
)
from .._call import Call, Deferred, get_call
from .._observe import Watch
from .._response import AnswerTokens, APIResponse
from .._streaming import async_before_request
from ..errors import APIError
from ..providers import Fallback
from ..providers._endpoint import Endpoint
from ..providers.base import UnsupportedPolicy
from ..usage import UsageTotals
from .chat import AsyncChat
from .models import AsyncModels
from .safety import AsyncModerations, AsyncSafety
from .streaming import AsyncStream
from .tokens import AsyncTokens
from .transport import AsyncSender

if TYPE_CHECKING:
    from .._safety import AskMode
    from ..hooks import Hook, Hooks
    from ..otel import OTel
    from ..types.chat import ChatCompletionChunk
    from ..types.models import ModelList
    from .guarded import AsyncGuardedClient

__all__ = ["AsyncLlamaClient"]

R = TypeVar("R")


class AsyncLlamaClient(_BaseClient):
    """An asynchronous client for an OpenAI-compatible Llama server.

    Arguments override the environment (``LLAMA_PROVIDER``, ``LLAMA_BASE_URL``,
    ``LLAMA_API_KEY``, ``LLAMA_MODEL``), which overrides the defaults (a local vLLM at
    ``http://localhost:8000/v1``, no key). ``provider="groq"`` talks to a hosted vendor (its
    key from ``GROQ_API_KEY``); a list of providers falls over from one to the next. The
    ``LLAMA_*`` variables describe your own server: ``LLAMA_BASE_URL`` and ``LLAMA_API_KEY``
    reach self-hosted providers only, and ``LLAMA_MODEL`` reaches a hosted vendor only when
    the model catalogue knows it (translated to the vendor's id).

    ``api_key`` may be ASCII ``bytes``; ``default_headers`` values are strings (or ASCII
    bytes), and None removes a header. Anything that cannot be sent in an HTTP header is
    refused here with :class:`InvalidRequestError`, before any I/O. A ``user:password@`` in
    ``base_url`` is sent as HTTP Basic auth (and never printed).
    ``unsupported`` decides what happens to a parameter the provider cannot honour: ``"warn"``
    (drop it, warn once), ``"drop"`` or ``"error"``. Use it as a context manager, or call
    :meth:`close`, to release its connections.

    ``transport="aiohttp"`` (the async client only; needs ``llama-client[aiohttp]``) sends
    through aiohttp's connection pool instead of httpx's, which is much faster with many
    requests in flight; retries, timeouts, errors and streams behave the same.

    ``hooks`` (a :class:`~llama_client.hooks.Hooks`, or one function receiving every event)
    are called with a typed event at each step of every call; ``otel=True`` (or an
    :class:`~llama_client.otel.OTel`, needs ``llama-client[otel]``) traces every call with
    OpenTelemetry spans; ``client.usage`` keeps running totals of requests, tokens, retries and
    estimated cost (pass ``usage=`` to share one :class:`~llama_client.usage.UsageTotals`).
    """

    _http: httpx.AsyncClient

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | bytes | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str | None] | None = None,
        http_client: httpx.AsyncClient | None = None,
        provider: ProviderSpec | None = None,
        unsupported: UnsupportedPolicy = "warn",
        fallback: Fallback | None = None,
        transport: AsyncTransportName = "httpx",
        hooks: Hooks | Hook | None = None,
        otel: OTel | bool | None = None,
        usage: UsageTotals | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            provider=provider,
            unsupported=unsupported,
            fallback=fallback,
            hooks=hooks,
            otel=otel,
            usage=usage,
        )
        self._owns_http = http_client is None
        self._http = _async_http(http_client, transport, self.timeout)
        self._senders: dict[str, AsyncSender] = {}

    @cached_property
    def chat(self) -> AsyncChat:
        """Chat completions (``chat.completions``) and the tool loop (``chat.run_tools``)."""
        return AsyncChat(self)

    @cached_property
    def tokens(self) -> AsyncTokens:
        """Prompt token counts: from the server (vLLM, llama.cpp ``/tokenize``) or offline."""
        return AsyncTokens(self)

    @cached_property
    def models(self) -> AsyncModels:
        """The models the providers serve, and the model catalogue."""
        return AsyncModels(self)

    @cached_property
    def safety(self) -> AsyncSafety:
        """Llama Guard verdicts (``safety.check``) and Prompt Guard scans (``safety.scan``)."""
        return AsyncSafety(self)

    @cached_property
    def moderations(self) -> AsyncModerations:
        """OpenAI's moderations API shape (``moderations.create``), answered by Llama Guard."""
        return AsyncModerations(self)

    def with_guard(
        self,
        *,
        input: str | None = "llama-guard-3-8b",
        output: str | None = "llama-guard-3-8b",
        on_unsafe: Literal["raise", "refuse"] = "raise",
        guard_client: AsyncLlamaClient | None = None,
        ask: AskMode | None = None,
        categories: Sequence[str] | Mapping[str, str] | None = None,
        exclude: Sequence[str] | None = None,
        check_every: int | None = None,
        refusal: str | None = None,
        scan_tool_results: str | None = None,
        scan_api: Literal["vllm", "tei", "hf"] = "vllm",
        scan_threshold: float = 0.9,
        scan_client: AsyncLlamaClient | None = None,
        overlap: bool = True,
    ) -> AsyncGuardedClient:
        """A client whose chat calls are checked by Llama Guard: the conversation (``input``)
        before the model's answer is released, the answer (``output``) before it is returned.

        ``input`` / ``output`` name the guard model (None: no check); ``guard_client`` sends
        the checks to another client (another provider or server). Unsafe content raises
        :class:`~llama_client.UnsafeContentError` (``on_unsafe="raise"``) or gives a refusal
        completion carrying the verdict (``"refuse"``, text ``refusal``). A stream is released
        in pieces that passed a check: every ``check_every`` characters and at its end.
        ``scan_tool_results`` (a Prompt Guard model on ``scan_api``, reached through
        ``scan_client``, else ``guard_client``) scans tool results in ``run_tools``. With ``overlap`` the async client calls the model while the input is
        checked. ``ask``, ``categories`` and ``exclude`` are passed to every check.
        """
        from .._safety import DEFAULT_REFUSAL
        from .guarded import AsyncGuard, AsyncGuardedClient

        guard = AsyncGuard(
            self,
            input=input,
            output=output,
            on_unsafe=on_unsafe,
            guard_client=guard_client,
            ask=ask,
            categories=categories,
            exclude=exclude,
            check_every=check_every,
            refusal=DEFAULT_REFUSAL if refusal is None else refusal,
            scan_tool_results=scan_tool_results,
            scan_api=scan_api,
            scan_threshold=scan_threshold,
            scan_client=scan_client,
            overlap=overlap,
        )
        return AsyncGuardedClient(guard)

    def with_options(
        self,
        *,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str | None] | None = None,
    ) -> AsyncLlamaClient:
        """A copy with some settings changed, sharing this client's connections."""
        copy = AsyncLlamaClient(
            **self._copy_kwargs(),
            model=model or self.model,
            timeout=self.timeout if timeout is _UNSET else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            default_headers={**self._default_headers, **(default_headers or {})},
            http_client=self._http,
        )
        copy._model_from_env = not model and self._model_from_env
        return copy

    async def close(self) -> None:
        """Close the connection pool (unless the httpx client was passed in by the caller)."""
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the one request path ------------------------------------------------------------

    @overload
    def _request(self, call: Call[R]) -> Awaitable[R]: ...
    @overload
    def _request(self, call: Deferred[R]) -> Callable[[], Awaitable[R]]: ...
    def _request(self, call: Call[R] | Deferred[R]) -> Awaitable[R] | Callable[[], Awaitable[R]]:
        """Execute ``call``: every public method goes through here.

        The call is planned at once (every refusal happens now, before any I/O), then sent
        to its providers in fallback order (:meth:`_send`). A :class:`Deferred` call returns
        the opener that sends it, for stream managers that send on entering their block.
        """
        if isinstance(call, Deferred):
            deferred, plan = call.call, self._plan(call.call)
            return lambda: self._send(deferred, plan)
        return self._send(call, self._plan(call))

    async def _send(self, call: Call[R], plan: list[Attempt]) -> R:
        """Send a planned call, falling over to the next provider when one fails (for a
        stream: only before its first chunk), and read the answer as the call says. The
        call's watch (usage totals, hooks, spans: :mod:`llama_client._observe`) hears of
        each step."""
        async_before_request()
        result: Any = None
        watch = self._observer.watch(call, self.model, plan[0][0].name)
        try:
            for tried, (ep, planned) in enumerate(plan, 1):
                if watch is not None:
                    watch.ep = ep
                try:
                    if type(planned) is PendingAlias:  # a canonical alias on a self-hosted server
                        request = await self._alias_resolved(ep, planned)
                    else:
                        request = planned  # type: ignore[assignment]
                    response = await self._sender_for(ep).send(
                        request, stream=call.stream, watch=watch
                    )
                    if call.stream:
                        result = self._stream(ep, response, watch)
                        if tried < len(plan):
                            await result._prime()
                except APIError as exc:
                    if self._give_up(ep, exc, len(plan), tried):
                        raise
                    if watch is not None:
                        watch.fell_over(exc, plan[tried][0])
                    continue
                self._answered(ep, len(plan))
                if not call.stream and not call.raw:
                    result = call.read(ep, response)
                if watch is not None:  # the stream, the completion, or None (raw, unread)
                    watch.answered(response, result)
                if call.raw:
                    return self._raw(call, ep, response, result, watch)  # type: ignore[return-value]
                return result  # type: ignore[no-any-return]
        except BaseException as exc:  # an error, or cancelled: the watch ends with it
            if watch is not None:
                watch.failed(exc)
            raise
        raise AssertionError("a plan is never empty")  # pragma: no cover

    async def _alias_resolved(self, ep: Endpoint, pending: PendingAlias) -> httpx.Request:
        """The request of ``pending`` with the id the server serves for its alias: the
        server's ``/models`` listing is fetched through this same path once per client and
        endpoint, then cached (matching: :func:`llama_client._aliases.match_served`)."""
        if ep.name not in self._served:
            from ..types.models import ModelList

            listing: Call[ModelList] = get_call("/models", ModelList, {})
            models = await self._send(listing, self._listing_plan(ep))
            self._served[ep.name] = [m.id for m in models.data]
        return self._served_request(ep, pending)

    def _sender_for(self, ep: Endpoint) -> AsyncSender:
        sender = self._senders.get(ep.name)
        if sender is None:
            sender = AsyncSender(self._http, ep.policy, ep.provider.classify_error, ep.sign)
            self._senders[ep.name] = sender
        return sender

    def _stream(
        self, ep: Endpoint, response: httpx.Response, watch: Watch | None
    ) -> AsyncStream[ChatCompletionChunk]:
        chunks: AsyncStream[ChatCompletionChunk] = AsyncStream(
            response, self._decoder(ep, response.request, watch)
        )
        chunks.provider_name = ep.name
        chunks._watch = watch
        return chunks

    @staticmethod
    def _raw(
        call: Call[Any],
        ep: Endpoint,
        response: httpx.Response,
        opened: object,
        watch: Watch | None,
    ) -> APIResponse[Any]:
        if call.stream:
            return APIResponse(response, lambda: opened, provider_name=ep.name)
        if call.params is None:  # not a chat answer: nothing to read as sent
            if watch is not None:
                return APIResponse(
                    response, lambda: watch.parsed(call.read(ep, response)), provider_name=ep.name
                )
            return APIResponse(response, lambda: call.read(ep, response), provider_name=ep.name)
        # A chat answer is read either way (parse, or parse_as_sent for a caller that stores
        # it as it came); its tokens join the usage totals on the first read that has them.
        counted = watch is None

        def parse() -> Any:
            nonlocal counted
            result = call.read(ep, response)
            if not counted:
                counted = True
                watch.parsed(result)  # type: ignore[union-attr]
            return result

        def as_sent() -> dict[str, Any] | None:
            nonlocal counted
            data = call.read_as_sent(ep, response)
            if data is not None and not counted:
                counted = True
                watch.parsed(AnswerTokens(data))  # type: ignore[union-attr]
            return data

        return APIResponse(response, parse, provider_name=ep.name, as_sent=as_sent)
