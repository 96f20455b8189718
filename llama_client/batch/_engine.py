"""The batch engine: requests in, durable result lines out, at the provider's pace.

Async only (a batch is many requests in flight; there is no sync twin). Every request goes
through the client's one path, ``client.chat.completions.with_raw_response.create`` (planning,
providers, fallback and error classes are the client's); the client's own retry loop is
turned off (``max_retries=0`` on a copy sharing its connections) because the engine retries
*per item*: a failed request waits in a queue for its backoff while other requests take its
slot, and comes back before new work once its wait is over. What is retried, and the
backoff, are the client's :class:`~llama_client._retry.RetryPolicy`; 429s are flow control
and have their own, larger allowance (``max_rate_limit_retries``).

Results are appended as whole lines and fsynced in groups before they count as done
(group commit: one ``write`` + ``fsync`` for whatever finished meanwhile; nothing is
reported done before it is on disk). A crash loses at most the answers not yet written,
which a re-run buys again; it never duplicates or drops an id.

An answer is stored, not used, so it is read with ``APIResponse.parse_as_sent()``: when it
is plainly a chat completion that the client's reading would change in nothing but its type
(no provider conversion, no finish reason to map, no tool policy), the server's own bytes
become the result line's ``response.body`` (checked, not decoded into a model and encoded
again); anything else is read by ``parse()`` as before, so a malformed answer is still a
recorded failure showing what arrived. While runs are under way the heap that existed when
the first began is frozen out of the garbage collector's passes (:func:`_heap_frozen`).

Cost, measured against ``benchmarks/server.py`` (aiohttp transport, 64 in flight, 2 CPUs
shared with the server; ``benchmarks/run.py --scenarios batch,async_many --quick``, three
invocations alternating with the code before these changes, load ~1): about 186 us of CPU
per line (from 234), of which the client's own request path is about 145; 0.50x a bare
aiohttp loop (from 0.40x) and 0.80x the same client's own ``asyncio.gather`` loop (from 0.69x).
The benchmark's ``aiohttp+durable`` floor (this module's durable work on bare aiohttp, no SDK)
is itself about 0.7x the bare loop: that gap is the price of the durability rules, not of
this code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .._retry import RetryPolicy, parse_retry_after
from .._validation import CHAT_PARAMS, REQUEST_OPTIONS
from ..errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ContextLengthExceededError,
    InvalidRequestError,
    LlamaClientError,
    ResponseValidationError,
)
from ._files import (
    append_durably,
    completion_budget,
    estimate_prompt_tokens,
    open_for_append,
)
from ._format import (
    BatchRequest,
    encode_result,
    failure_line,
    success_line,
    success_line_bytes,
)
from ._limiter import AdaptiveLimiter

if TYPE_CHECKING:
    from .._async.client import AsyncLlamaClient
    from .._response import APIResponse
    from ..pricing import Price
    from ..types.chat import ChatCompletion

__all__ = ["BatchEngine", "BatchSettings", "BatchStats", "Engine"]

logger = logging.getLogger("llama_client.batch")

#: most result lines written with one fsync
_GROUP = 512
#: most answers waiting to be written: past it nothing new starts until the disk catches up
#: (a bound on memory, and on what is bought while a write is failing)
_MAX_UNWRITTEN = 2048


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs. Everything has a default; ``model`` falls back to the client's."""

    #: model for bodies that name none (else the client's model)
    model: str | None = None
    #: body parameters for bodies that leave them out (``{"temperature": 0.7}``)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: most requests in flight (the adaptive window never exceeds it)
    concurrency: int = 32
    #: retries of a failed request (connection errors, 5xx, 408, 409); None: the client's
    max_retries: int | None = None
    #: retries of a request answered 429 (flow control, not a fault)
    max_rate_limit_retries: int = 30
    #: longest wait a server may ask for before the request is recorded as failed
    max_retry_wait: float = 600.0
    #: fixed budgets (this worker takes ``rate_share`` of them)
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    #: this worker's fraction of every budget (1/N for N workers on one account)
    rate_share: float = 1.0
    #: send again the requests whose recorded result is a failure
    retry_failed: bool = False
    #: only the ids of shard ``(index, count)`` (by a hash of the id)
    shard: tuple[int, int] | None = None
    #: completion tokens assumed for a request without ``max_tokens`` (estimates only)
    default_completion_tokens: int = 256
    #: price overrides for the cost estimate (``llama_client.pricing.price_for``)
    prices: Mapping[str, Any] | None = None
    #: stop the run when this many requests in a row failed for good with none answered in
    #: between (a server down, a wrong model, a bad parameter on every line): those failures
    #: are not recorded, so the next run sends them again. None: ``max(20, 2 * concurrency)``;
    #: 0: never stop. A 401 or 403 (the key, not the line) stops the run at once.
    max_consecutive_failures: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise InvalidRequestError(
                "concurrency", f"must be an integer >= 1, got {self.concurrency!r}"
            )
        if self.max_retries is not None and (
            not isinstance(self.max_retries, int) or self.max_retries < 0
        ):
            raise InvalidRequestError(
                "max_retries", f"must be an integer >= 0, got {self.max_retries!r}"
            )
        if not isinstance(self.max_rate_limit_retries, int) or self.max_rate_limit_retries < 0:
            raise InvalidRequestError(
                "max_rate_limit_retries",
                f"must be an integer >= 0, got {self.max_rate_limit_retries!r}",
            )
        if not 0.0 < self.rate_share <= 1.0:
            raise InvalidRequestError("rate_share", f"must be in (0, 1], got {self.rate_share!r}")
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise InvalidRequestError(name, f"must be a positive number, got {value!r}")
        if self.shard is not None:
            index, count = self.shard
            if not (isinstance(count, int) and isinstance(index, int) and 0 <= index < count):
                raise InvalidRequestError(
                    "shard", f"must be (index, count), 0 <= index < count, got {self.shard!r}"
                )
        limit = self.max_consecutive_failures
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise InvalidRequestError(
                "max_consecutive_failures", f"must be an integer >= 0 or None, got {limit!r}"
            )
        if not isinstance(self.defaults, Mapping):
            raise InvalidRequestError("defaults", "must be a mapping of body parameters")
        if "messages" in self.defaults or "stream" in self.defaults:
            raise InvalidRequestError("defaults", "must not set messages or stream")

    def body_defaults(self, client_model: str | None) -> dict[str, Any]:
        """What is merged under each body: the parameters, and the model."""
        merged = dict(self.defaults)
        model = self.model or client_model
        if model:
            merged["model"] = model
        return merged

    def failure_streak_limit(self) -> int:
        """Failures in a row that stop a run (0: none do)."""
        if self.max_consecutive_failures is not None:
            return self.max_consecutive_failures
        return max(20, 2 * self.concurrency)

    def limiter(self) -> AdaptiveLimiter:
        return AdaptiveLimiter(
            self.concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            share=self.rate_share,
            now=time.monotonic(),
        )


@dataclass
class BatchStats:
    """Live counters of a run (read them from a progress display; the engine writes them)."""

    #: requests this run set out to send
    total: int = 0
    #: of those, finished and written (answered, truncated or failed for good)
    done: int = 0
    succeeded: int = 0
    #: answers cut off by the token limit (``finish_reason`` ``"length"``); also in succeeded
    truncated: int = 0
    failed: int = 0
    in_flight: int = 0
    #: 429 answers seen
    rate_limited: int = 0
    #: attempts that failed (any reason; most were retried)
    errors: int = 0
    retries: int = 0
    #: tokens this run paid for
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: tokens of results already in the results file when the run started
    prior_prompt_tokens: int = 0
    prior_completion_tokens: int = 0
    #: the price the cost estimate uses (None: unknown, e.g. a self-hosted server)
    price: Price | None = None
    #: failures by reason (``error.code``)
    reasons: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def requests_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        tokens = self.prompt_tokens + self.completion_tokens
        return tokens / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None before the first result)."""
        rate = self.requests_per_second
        return (self.total - self.done) / rate if rate > 0 else None

    @property
    def cost(self) -> float | None:
        """Estimated USD for every result of the run so far (earlier runs included)."""
        from ..pricing import estimate_cost

        return estimate_cost(
            self.prompt_tokens + self.prior_prompt_tokens,
            self.completion_tokens + self.prior_completion_tokens,
            self.price,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "succeeded": self.succeeded,
            "truncated": self.truncated,
            "failed": self.failed,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
            "retries": self.retries,
            "failure_reasons": dict(self.reasons),
            "elapsed_seconds": round(self.elapsed, 3),
        }


_frozen_runs = 0
_frozen_lock = threading.Lock()


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """While runs are under way, what existed when the first began (modules, pydantic's
    schemas, the client) is left out of the garbage collector's passes (:func:`gc.freeze`),
    and given back when the last ends. A run allocates steadily, so the collector's full
    passes keep coming, and each walked that whole heap: measured against the fake server,
    about a tenth of a run's CPU. Nothing is lost: an object that dies meanwhile is freed
    by its reference count as ever; only a cycle among those older objects waits for the
    end of the run. A process that froze its heap itself (a pre-fork server) is left as it
    is."""
    global _frozen_runs
    with _frozen_lock:
        if _frozen_runs == 0 and gc.get_freeze_count() == 0:
            gc.freeze()
            _frozen_runs = 1
        elif _frozen_runs:
            _frozen_runs += 1
    try:
        yield
    finally:
        with _frozen_lock:
            if _frozen_runs:
                _frozen_runs -= 1
                if _frozen_runs == 0:
                    gc.unfreeze()


class _Item:
    __slots__ = ("attempts", "estimate", "rate_limited", "request")

    def __init__(self, request: BatchRequest, estimate: int) -> None:
        self.request = request
        self.estimate = estimate
        self.attempts = 0
        self.rate_limited = 0


def _reason(exc: BaseException) -> str:
    """The ``error.code`` recorded for a failure."""
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection_error"
    if isinstance(exc, ContextLengthExceededError):
        return "context_length_exceeded"
    if isinstance(exc, APIStatusError):
        if exc.status_code == 429:
            return "rate_limited"
        if exc.status_code >= 500:
            return "server_error"
        return f"http_{exc.status_code}"
    if isinstance(exc, ResponseValidationError):
        return "invalid_response"
    if isinstance(exc, (InvalidRequestError, TypeError)):
        return "invalid_request"
    if isinstance(exc, APIError):
        return "api_error"
    return "internal_error"


def _split_body(body: Mapping[str, Any]) -> tuple[Any, str | None, dict[str, Any]]:
    """messages, model and ``create`` keyword arguments; unknown fields go in ``extra_body``."""
    params: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("messages", "model"):
            continue
        if key in CHAT_PARAMS:
            params[key] = value
        elif key in REQUEST_OPTIONS and key != "extra_body":
            extra[key] = value  # a body field that happens to share an option's name
        elif key == "extra_body" and isinstance(value, Mapping):
            extra.update(value)
        else:
            extra[key] = value
    if extra:
        params["extra_body"] = extra
    model = body.get("model")
    return body["messages"], model if isinstance(model, str) else None, params


class Engine(Protocol):
    """What a :class:`~llama_client.batch.BatchJob` needs of its engine: :class:`BatchEngine`,
    or another way to send the same requests (``llama_client.batch.RayBatchEngine``)."""

    stats: BatchStats
    limiter: AdaptiveLimiter

    async def run(self, requests: Iterable[BatchRequest]) -> BatchStats: ...

    def stop(self, *, now: bool = False) -> None: ...

    @property
    def stopped(self) -> bool: ...


class BatchEngine:
    """Runs requests through a client and appends their results to ``results_path``.

    ``limiter`` (default: built from ``settings``) decides when a request may start; pass
    one to share it, or to give this worker a slice of a shared budget (``share``).
    ``stats`` is updated live. The engine sends what it is given: skipping what is done is
    the caller's (:func:`llama_client.batch.pending_requests`).
    """

    def __init__(
        self,
        client: AsyncLlamaClient,
        results_path: str | Path,
        settings: BatchSettings | None = None,
        *,
        limiter: AdaptiveLimiter | None = None,
        stats: BatchStats | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or BatchSettings()
        self.results_path = Path(results_path)
        self.limiter = limiter or self.settings.limiter()
        self.stats = stats or BatchStats()
        self._clock = clock
        max_retries = self.settings.max_retries
        self._policy = RetryPolicy(
            client.max_retries if max_retries is None else max_retries,
            max_retry_after=self.settings.max_retry_wait,
            extra_statuses=frozenset().union(*(p.retry_statuses for p in client.provider_adapters)),
        )
        # The client's path, without its own retry loop: retries are per item, here.
        self._client = client.with_options(max_retries=0)
        self._create = self._client.chat.completions.with_raw_response.create
        self._stopping = False
        self._abort = False
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._retry: list[tuple[float, int, _Item]] = []
        self._seq = itertools.count()
        self._lines: list[bytes] = []
        self._counts: list[Callable[[], None]] = []
        self._flushing: asyncio.Task[None] | None = None
        #: a write that failed (disk full, file gone): the run stops and raises it
        self._write_error: OSError | None = None
        #: answers encoded but not yet on disk (queued or being written)
        self._unwritten = 0
        #: failures for good since the last answer, held back (line, count) until an answer
        #: shows the server works; past the limit the run stops and they are not recorded
        self._streak: list[tuple[bytes, Callable[[], None]]] = []
        self._streak_limit = self.settings.failure_streak_limit()
        #: what stopped the run (raised by run()): a failure streak, or a 401 / 403
        self._fatal: LlamaClientError | None = None

    # -- control ----------------------------------------------------------------------------

    def stop(self, *, now: bool = False) -> None:
        """Start nothing more; let requests in flight finish (``now=True``: cancel them).
        Whatever was not written is sent again by the next run."""
        self._stopping = True
        if now:
            self._abort = True
            for task in list(self._tasks):
                task.cancel()
        if self._wake is not None:
            self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stopping

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, requests: Iterable[BatchRequest]) -> BatchStats:
        """Send every request (each once, retried as needed) and write its result."""
        with _heap_frozen():
            return await self._run(requests)

    async def _run(self, requests: Iterable[BatchRequest]) -> BatchStats:
        self._wake = asyncio.Event()
        self._fd = open_for_append(self.results_path)
        source: Iterator[BatchRequest] | None = iter(requests)
        held: _Item | None = None
        try:
            while True:
                if self._stopping:
                    if not self._tasks:
                        break
                    await self._sleep(None)
                    continue
                now = self._clock()
                delay: float | None = None
                while len(self._tasks) < self.limiter.limit and self._unwritten < _MAX_UNWRITTEN:
                    item = held
                    held = None
                    if item is None and self._retry and self._retry[0][0] <= now:
                        item = heapq.heappop(self._retry)[2]
                    if (
                        item is None
                        and source is not None
                        and len(self._retry) < 4 * self.settings.concurrency
                    ):
                        request = next(source, None)
                        if request is None:
                            source = None
                        else:
                            item = self._item(request)
                    if item is None:
                        break
                    wait = self.limiter.delay(now, item.estimate)
                    if wait > 0:
                        held, delay = item, wait
                        break
                    self._start(item, now)
                if source is None and held is None and not self._tasks and not self._retry:
                    break
                if self._retry and held is None:
                    until = max(0.0, self._retry[0][0] - now)
                    delay = until if delay is None else min(delay, until)
                await self._sleep(delay)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._fatal is None:  # a run that ends on failures: they are the lines' own
                self._release_streak()
            if self._flushing is not None:
                await asyncio.gather(self._flushing, return_exceptions=True)
            await self._flush_all()
            os.close(self._fd)
            self.stats.finished = time.monotonic()
        if self._write_error is not None:
            raise self._write_error
        if self._fatal is not None:
            raise self._fatal
        return self.stats

    def _item(self, request: BatchRequest) -> _Item:
        s = self.settings
        estimate = estimate_prompt_tokens(request.body) + completion_budget(
            request.body, s.default_completion_tokens
        )
        return _Item(request, estimate)

    async def _sleep(self, timeout: float | None) -> None:
        wake = self._wake
        assert wake is not None
        if wake.is_set():
            wake.clear()
            return
        handle = None
        if timeout is not None:
            handle = asyncio.get_running_loop().call_later(max(timeout, 0.001), wake.set)
        try:
            await wake.wait()
        finally:
            if handle is not None:
                handle.cancel()
            wake.clear()

    def _start(self, item: _Item, now: float) -> None:
        self.limiter.started(now, item.estimate)
        self.stats.in_flight += 1
        task = asyncio.ensure_future(self._one(item))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.stats.in_flight -= 1
        if not task.cancelled() and task.exception() is not None:  # a bug in _one: loud
            logger.error("batch worker failed", exc_info=task.exception())
        assert self._wake is not None
        self._wake.set()

    # -- one attempt ------------------------------------------------------------------------

    async def _one(self, item: _Item) -> None:
        request = item.request
        item.attempts += 1
        try:
            messages, model, params = _split_body(request.body)
            raw = await self._create(messages=messages, model=model, **params)
            # Stored, not used: the answer as the server sent it when the client's reading
            # would change nothing but its type; else the ChatCompletion (which says what is
            # wrong with a bad body).
            data = raw.parse_as_sent()
            answer = raw.parse() if data is None else data
        except asyncio.CancelledError:
            self.limiter.failed(self._clock())
            raise
        except Exception as exc:
            self._failed_attempt(item, exc)
            return
        self.limiter.succeeded(self._clock(), raw.rate_limit)
        if self._streak:  # the server answers: the failures before were the lines' own
            self._release_streak()
        try:
            self._answered(item, raw, answer)
        except Exception as exc:  # an answer that cannot be stored: recorded as a failure
            self._record_failure(item, exc)

    def _answered(
        self, item: _Item, raw: APIResponse[ChatCompletion], answer: ChatCompletion | dict[str, Any]
    ) -> None:
        request = item.request
        sent = b""
        if isinstance(answer, dict):  # as sent: the server's own bytes become the line's body
            body: Mapping[str, Any] = answer
            usage = answer.get("usage") or {}
            prompt: int = usage.get("prompt_tokens", 0)
            produced: int = usage.get("completion_tokens", 0)
            truncated = any(c.get("finish_reason") == "length" for c in answer["choices"])
            sent = raw.http_response.content.strip()
            if b"\n" in sent or b"\r" in sent:  # pretty-printed: written from its JSON instead
                sent = b""
        else:
            body = answer.model_dump(mode="json", exclude_unset=True)
            tokens = answer.usage
            prompt = tokens.prompt_tokens if tokens is not None else 0
            produced = tokens.completion_tokens if tokens is not None else 0
            truncated = any(c.finish_reason == "length" for c in answer.choices)
        where: dict[str, Any] = {
            "status_code": raw.status_code,
            "request_id": raw.request_id,
            "attempts": item.attempts,
            "provider": raw.provider_name,
        }
        line = (
            success_line_bytes(request, sent, **where)
            if sent
            else encode_result(success_line(request, body, **where))
        )

        def count() -> None:
            s = self.stats
            s.done += 1
            s.succeeded += 1
            s.truncated += truncated
            s.prompt_tokens += prompt
            s.completion_tokens += produced

        self._write_encoded(line, count)

    def _failed_attempt(self, item: _Item, exc: Exception) -> None:
        now = self._clock()
        s = self.stats
        s.errors += 1
        status = exc.status_code if isinstance(exc, APIStatusError) else None
        retry_after = (
            parse_retry_after(exc.response.headers) if isinstance(exc, APIStatusError) else None
        )
        if status == 429:
            s.rate_limited += 1
            assert isinstance(exc, APIStatusError)
            self.limiter.rate_limited_by_server(now, retry_after, exc.rate_limit)
            item.rate_limited += 1
            asked_too_long = retry_after is not None and retry_after > self.settings.max_retry_wait
            if item.rate_limited <= self.settings.max_rate_limit_retries and not asked_too_long:
                # 429s do not use up the item's retries: it waits for the pause, then goes first.
                item.attempts -= 1
                self._requeue(item, max(self.limiter.paused_until, now + (retry_after or 0.0)))
                return
        else:
            if isinstance(exc, APIStatusError) and exc.status_code < 500:
                self.limiter.succeeded(now, exc.rate_limit)  # answered: the rate was fine
            else:
                self.limiter.failed(now)  # no answer, or an overloaded one: no ramp-up
            if self._policy.should_retry(exc) and item.attempts <= self._policy.max_retries:
                if retry_after is None:
                    nominal = self._policy.initial_backoff * 2 ** (item.attempts - 1)
                    retry_after = min(self._policy.max_backoff, nominal) * (
                        0.75 + 0.25 * random.random()
                    )
                self._requeue(item, now + retry_after)
                return
        self._record_failure(item, exc)

    def _requeue(self, item: _Item, at: float) -> None:
        self.stats.retries += 1
        heapq.heappush(self._retry, (at, next(self._seq), item))

    def _record_failure(self, item: _Item, exc: Exception) -> None:
        code = _reason(exc)
        if code == "internal_error":
            logger.error("unexpected error on %s", item.request.custom_id, exc_info=exc)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, APIStatusError):
            line = failure_line(
                item.request,
                code,
                message,
                status_code=exc.status_code,
                request_id=exc.request_id,
                body=exc.body,
                attempts=item.attempts,
            )
        else:
            body = exc.body if isinstance(exc, APIError) else None
            line = failure_line(item.request, code, message, attempts=item.attempts)
            if body is not None and isinstance(exc, ResponseValidationError):
                line["error"]["body"] = body if isinstance(body, (dict, list)) else str(body)[:2000]
        logger.info("%s failed for good (%s): %s", item.request.custom_id, code, message[:200])

        def count() -> None:
            s = self.stats
            s.done += 1
            s.failed += 1
            s.reasons[code] = s.reasons.get(code, 0) + 1

        if not self._streak_limit:
            self._write(line, count)
            return
        self._streak.append((encode_result(line), count))
        whose_key = isinstance(exc, APIStatusError) and exc.status_code in (401, 403)
        if whose_key or len(self._streak) >= self._streak_limit:
            self._stop_failing(exc, whose_key)

    def _release_streak(self) -> None:
        """Write the failures held back: an answer came, so they were the lines' own."""
        for line, count in self._streak:
            self._write_encoded(line, count)
        self._streak.clear()

    def _stop_failing(self, exc: Exception, whose_key: bool) -> None:
        """Stop the run without recording the failures held back (the next run sends those
        requests again): the server, the key or the settings fail every line, not a line."""
        held = len(self._streak)
        self._streak.clear()
        if self._fatal is not None:
            return
        why = (
            f"the server refused the key ({_reason(exc)})"
            if whose_key
            else f"{held} requests in a row failed for good with none answered"
        )
        logger.error(
            "stopping the run: %s; the last error: %s. None of those failures is recorded: fix "
            "the cause and run again to resume (max_consecutive_failures=0 never stops)",
            why,
            str(exc)[:300] or type(exc).__name__,
        )
        self._fatal = (
            exc
            if isinstance(exc, LlamaClientError)
            else InvalidRequestError("body", f"{type(exc).__name__}: {exc}")
        )
        self.stop(now=True)

    # -- durable writes ---------------------------------------------------------------------

    def _write(self, record: Mapping[str, Any], count: Callable[[], None]) -> None:
        self._write_encoded(encode_result(record), count)

    def _write_encoded(self, line: bytes, count: Callable[[], None]) -> None:
        self._lines.append(line)
        self._counts.append(count)
        self._unwritten += 1
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush_all())

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        while self._lines and self._write_error is None:
            lines, counts = self._lines[:_GROUP], self._counts[:_GROUP]
            del self._lines[:_GROUP], self._counts[:_GROUP]
            try:
                await asyncio.shield(
                    loop.run_in_executor(None, append_durably, self._fd, b"".join(lines))
                )
            except OSError as exc:
                # Nothing more is bought once results cannot be kept: stop at once. What was
                # not written is sent again by the next run.
                logger.error("cannot write %s: %s; stopping", self.results_path, exc)
                self._write_error = exc
                self.stop(now=True)
                return
            self._unwritten -= len(counts)
            for count in counts:
                count()
            if self._wake is not None:
                self._wake.set()  # room for new work again
