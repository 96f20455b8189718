"""The batch job as a Ray Data pipeline (``pip install 'llama-client[ray]'``).

:class:`RayBatchEngine` has the surface of :class:`~llama_client.batch.BatchEngine` and takes
its place inside a :class:`~llama_client.batch.BatchJob` (``engine_factory=ray_engine()``), so
the run directory, the manifest, resume, status, exports and progress are the job's own, the
same as a single-process run's. What changes is who sends:

    driver: the job's pending requests (read from the input as it streams)
      → windows of rows → ``ray.data.from_items(window)``
      → ``map_batches(_EngineWorker, compute=ActorPoolStrategy(size=N))``:
            each actor runs a BatchEngine on its batches, with 1/N of the concurrency and of
            every rate budget (``BatchSettings.rate_share``), its limiter kept across batches
      → result lines back to the driver → appended to ``results.jsonl`` and fsynced, exactly
        as the single-process engine appends them.

Ray schedules the actors and moves the rows; nothing here schedules. The data travels through
Ray's object store, so workers need no shared filesystem, only ``llama_client`` installed (and,
with several providers, their key variables). A crash of the driver loses the answers of the
batches still out with workers: the next run buys them again; it never duplicates or drops an
id, as with one process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._engine import BatchEngine, BatchSettings, BatchStats
from ._files import append_durably, open_for_append
from ._format import BatchRequest, ResultRecord, canonical_json, parse_result
from ._limiter import AdaptiveLimiter
from ._run import transport_of

if TYPE_CHECKING:
    from .._async.client import AsyncLlamaClient
    from ._run import BatchJob

__all__ = ["RayBatchEngine", "accept_lines", "ray_engine", "start_ray"]

logger = logging.getLogger("llama_client.batch")

INSTALL_HINT = "the Ray backend needs ray[data]: pip install 'llama-client[ray]'"
#: requests handed to Ray at a time (the driver holds one window; workers start per window)
DEFAULT_WINDOW = 20_000


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


def start_ray(address: str | None = None) -> bool:
    """Connect to the Ray cluster at ``address`` (else ``RAY_ADDRESS``, else a new local
    one) unless Ray is initialised already; True when this call started it (then
    ``ray.shutdown()`` is the caller's). ImportError naming the extra without ray.

    A Ray started here keeps Ray Data's progress bars and per-dataset log lines off the
    terminal (the job shows its own progress; DEBUG logging brings them back). A Ray you
    initialised yourself is left as you configured it."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    logger.info("ray: %s", ray.cluster_resources())
    _quiet_ray_data(ray)
    return True


def _cause(exc: BaseException) -> BaseException:
    """What a worker raised, out of Ray's wrapping (its message repeats the remote traceback)."""
    from ..errors import LlamaClientError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "cause", None)
        if isinstance(inner, BaseException):
            current = inner
            continue
        if isinstance(current, (LlamaClientError, OSError)):
            return current
        current = current.__cause__
    return exc


class _ClientRecipe:
    """What rebuilds the job's client in a worker: provider(s), URL, key, model, timeouts.

    The key travels inside Ray (pickled with the actors' arguments), never in an environment
    variable or a log line: ``repr`` masks it.
    """

    def __init__(self, client: AsyncLlamaClient) -> None:
        kwargs = client._copy_kwargs()
        fallback = kwargs.pop("fallback")
        # The driver's observers stay with the driver: usage totals hold a lock, hooks and an
        # OTel tracer are the caller's objects. The driver adds what the workers used to its
        # usage totals as it writes their results (RayBatchEngine._count_usage).
        for name in ("usage", "hooks", "otel"):
            kwargs.pop(name, None)
        self.cooldown = float(fallback.cooldown)
        self.kwargs = {
            **kwargs,
            "model": client.model,
            "timeout": client.timeout,
            "max_retries": client.max_retries,
            "default_headers": dict(client._default_headers),
            "transport": transport_of(client),
        }

    def build(self) -> AsyncLlamaClient:
        from .._async.client import AsyncLlamaClient
        from ..providers import Fallback

        return AsyncLlamaClient(**self.kwargs, fallback=Fallback(self.cooldown))

    def __repr__(self) -> str:
        # Names only: a header value or a URL's password may be a credential too.
        from .._secrets import mask_url

        url = self.kwargs.get("base_url")
        providers = [getattr(p, "name", p) for p in self.kwargs.get("provider") or []]
        return (
            f"_ClientRecipe(provider={providers!r}, base_url={mask_url(url) if url else None!r}, "
            f"model={self.kwargs.get('model')!r}, "
            f"headers={sorted(self.kwargs.get('default_headers') or {})!r}, "
            f"api_key={'***' if self.kwargs.get('api_key') else None})"
        )


def worker_settings(settings: BatchSettings, workers: int) -> BatchSettings:
    """One worker's settings: its share of the concurrency and of every rate budget."""
    return dataclasses.replace(
        settings,
        concurrency=max(1, math.ceil(settings.concurrency / workers)),
        rate_share=settings.rate_share / workers,
        shard=None,  # the driver already chose what to send
    )


class _Switch:
    """A tiny Ray actor: set when the driver stops, read by the workers before each batch."""

    def __init__(self) -> None:
        self.on = False

    def set(self) -> None:
        self.on = True

    def stopped(self) -> bool:
        return self.on


#: What a worker returns for a batch it did not send (the driver stopped): one empty line,
#: so that every batch has the same columns and types.
def _skipped() -> dict[str, list[Any]]:
    return {"line": [b""], "rate_limited": [0], "errors": [0], "retries": [0]}


class _EngineWorker:
    """A Ray Data actor: a client, a limiter, and a BatchEngine run per batch of rows."""

    def __init__(self, recipe: _ClientRecipe, settings: BatchSettings, switch: Any = None) -> None:
        self._switch = switch
        self._loop = asyncio.new_event_loop()
        self._client = recipe.build()
        self._settings = settings
        self._limiter: AdaptiveLimiter = settings.limiter()  # kept across batches
        fd, name = tempfile.mkstemp(prefix="llama-client-ray-", suffix=".jsonl")
        os.close(fd)
        self._path = Path(name)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        if self._switch is not None:
            import ray

            if ray.get(self._switch.stopped.remote()):
                return _skipped()
        requests = [
            BatchRequest(str(custom_id), int(line), json.loads(body), str(digest))
            for custom_id, line, body, digest in zip(
                batch["custom_id"], batch["line"], batch["body"], batch["body_hash"], strict=True
            )
        ]
        self._path.write_bytes(b"")
        stats = BatchStats()
        engine = BatchEngine(
            self._client, self._path, self._settings, limiter=self._limiter, stats=stats
        )
        self._loop.run_until_complete(engine.run(requests))
        lines = self._path.read_bytes().splitlines(keepends=True)
        if not lines:
            return _skipped()
        counters = [0] * len(lines)
        if lines:
            counters[0] = 1
        return {
            "line": lines,
            # the attempts' counters ride on the batch's first row
            "rate_limited": [stats.rate_limited * c for c in counters],
            "errors": [stats.errors * c for c in counters],
            "retries": [stats.retries * c for c in counters],
        }

    def __del__(self) -> None:
        try:
            self._loop.run_until_complete(self._client.close())
            self._loop.close()
            self._path.unlink(missing_ok=True)
        except Exception:  # interpreter shutdown: nothing left to clean reliably
            pass


def _quiet_ray_data(ray: Any) -> None:
    """Ray Data's progress bars and per-dataset log lines off (unless DEBUG logging)."""
    if logger.isEnabledFor(logging.DEBUG):
        return
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False


def _row(request: BatchRequest) -> dict[str, Any]:
    # The body as JSON text: bodies differ in shape, which Arrow columns would not hold.
    return {
        "custom_id": request.custom_id,
        "line": request.line,
        "body": canonical_json(request.body),
        "body_hash": request.body_hash,
    }


def _windows(requests: Iterable[BatchRequest], size: int) -> Iterator[list[BatchRequest]]:
    window: list[BatchRequest] = []
    for request in requests:
        window.append(request)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window


_DONE = object()


class RayBatchEngine:
    """Sends a job's requests through Ray Data workers; appends their results here.

    Same surface as :class:`~llama_client.batch.BatchEngine` (``run``, ``stop``, ``stopped``,
    ``limiter``, ``stats``). ``workers`` (default: the cluster's CPUs) actors each run the
    async engine with ``1/workers`` of ``settings.concurrency`` and of the rate budgets;
    ``batch_size`` rows go to an actor at a time; the driver hands Ray ``window`` requests at a
    time. Ray is started locally (``ray.init()``) unless it is already initialised or
    ``address`` names a cluster.
    """

    def __init__(
        self,
        client: AsyncLlamaClient,
        results_path: str | Path,
        settings: BatchSettings | None = None,
        *,
        stats: BatchStats | None = None,
        workers: int | None = None,
        batch_size: int | None = None,
        window: int = DEFAULT_WINDOW,
        address: str | None = None,
    ) -> None:
        from ..errors import InvalidRequestError

        for name, value in (("workers", workers), ("batch_size", batch_size), ("window", window)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidRequestError(name, f"must be an integer >= 1, got {value!r}")
        self.settings = settings or BatchSettings()
        self.results_path = Path(results_path)
        self.stats = stats or BatchStats()
        self._recipe = _ClientRecipe(client)
        #: the driver's usage totals (``client.usage``): workers' answers are added as they
        #: are written, so that the client counts a Ray run as it counts a local one
        self._usage = client.usage
        self._provider = client.providers[0]
        self._ray = _import_ray()  # a missing extra fails here, before anything runs
        self._address = address
        self._workers, self._batch_size, self._window = workers, batch_size, window
        #: set when Ray is started (on the first request to send: a finished run starts none)
        self.workers = 0
        self.batch_size = 0
        self.window = 0
        self._cpus_per_worker = 1.0
        self._worker_settings = self.settings
        #: the whole job's budget, for display: each worker limits itself to its share
        self.limiter = self.settings.limiter()
        self._stopping = False
        self._abort = False
        self._wake: asyncio.Event | None = None
        self._switch: Any = None

    def stop(self, *, now: bool = False) -> None:
        """Hand Ray no more work; keep what comes back (``now=True``: stop reading too).
        What was not written is sent again by the next run."""
        self._stopping = True
        self._abort = self._abort or now
        if self._switch is not None:
            self._switch.set.remote()  # workers send no batch they have not started
        if self._wake is not None:
            self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stopping

    def _start(self) -> None:
        """Join (or start) Ray and size the pool from the cluster's CPUs."""
        start_ray(self._address)
        cpus = float(self._ray.cluster_resources().get("CPU", 1.0))
        self.workers = self._workers or max(1, int(cpus))
        self._cpus_per_worker = min(1.0, cpus / self.workers)
        self._worker_settings = worker_settings(self.settings, self.workers)
        per_worker = self._worker_settings.concurrency
        self.batch_size = self._batch_size or max(16, 4 * per_worker)
        self.window = max(self._window, self.batch_size)
        self._switch = self._ray.remote(num_cpus=0)(_Switch).remote()
        if self._stopping:
            self._switch.set.remote()

    async def run(self, requests: Iterable[BatchRequest]) -> BatchStats:
        """Send every request through the workers and append each result line."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        source = iter(requests)
        first = next(source, None)
        if first is None or self._stopping:
            self.stats.finished = time.monotonic()
            return self.stats  # nothing to send: Ray is not even started
        self._start()
        fd = open_for_append(self.results_path)
        try:
            for window in _windows(itertools.chain([first], source), self.window):
                if self._stopping:
                    break
                await self._run_window(loop, fd, window)
        finally:
            os.close(fd)
            self.stats.in_flight = 0
            self.stats.finished = time.monotonic()
        return self.stats

    def _dataset(self, window: list[BatchRequest]) -> Any:
        ray = self._ray
        from ray.data import ActorPoolStrategy

        # a small job still spreads over every worker
        batch_size = min(self.batch_size, max(1, math.ceil(len(window) / self.workers)))
        blocks = max(1, math.ceil(len(window) / batch_size))
        rows = ray.data.from_items([_row(r) for r in window], override_num_blocks=blocks)
        return rows.map_batches(
            _EngineWorker,
            fn_constructor_kwargs={
                "recipe": self._recipe,
                "settings": self._worker_settings,
                "switch": self._switch,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=self.workers),
            num_cpus=self._cpus_per_worker,
        )

    async def _run_window(
        self, loop: asyncio.AbstractEventLoop, fd: int, window: list[BatchRequest]
    ) -> None:
        dataset = self._dataset(window)
        pending = {r.custom_id: r.body_hash for r in window}
        models = {r.custom_id: r.body.get("model") for r in window}
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.stats.in_flight = len(window)

        def pull() -> None:
            # Ray's iterator blocks: it runs in a daemon thread, so that a stop (or the end of
            # the process) never waits for it.
            try:
                for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    loop.call_soon_threadsafe(queue.put_nowait, batch)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        threading.Thread(target=pull, name="llama-client-ray-pull", daemon=True).start()
        try:
            while True:
                item = await self._next(queue)
                if item is None or item is _DONE:  # None: stopped now
                    return
                if isinstance(item, BaseException):
                    raise _cause(item) from None
                await self._append(loop, fd, item, pending, models)
        finally:
            self.stats.in_flight = 0  # what did not come back is sent again by the next run

    async def _next(self, queue: asyncio.Queue[Any]) -> Any:
        assert self._wake is not None
        while True:
            if self._abort:
                return None
            if not queue.empty():
                return queue.get_nowait()
            getter = asyncio.ensure_future(queue.get())
            waker = asyncio.ensure_future(self._wake.wait())
            done, _ = await asyncio.wait({getter, waker}, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            if getter in done:
                return getter.result()
            getter.cancel()
            self._wake.clear()

    async def _append(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        batch: Any,
        pending: dict[str, str],
        models: Mapping[str, Any] | None = None,
    ) -> None:
        accepted = accept_lines(batch["line"], pending, str(self.results_path))
        if accepted:
            data = b"".join(line for line, _ in accepted)
            await loop.run_in_executor(None, append_durably, fd, data)
        s = self.stats
        for _, record in accepted:  # counted once on disk, as the engine counts
            s.done += 1
            s.in_flight -= 1
            model = (models or {}).get(record.custom_id)
            self._count_usage(record, model if isinstance(model, str) else "")
            if record.ok:
                s.succeeded += 1
                s.truncated += record.truncated
                s.prompt_tokens += record.prompt_tokens
                s.completion_tokens += record.completion_tokens
            else:
                s.failed += 1
                error = record.data.get("error")
                code = error.get("code") if isinstance(error, dict) else None
                code = code if isinstance(code, str) else "unknown"
                s.reasons[code] = s.reasons.get(code, 0) + 1
        s.rate_limited += int(sum(batch["rate_limited"]))
        s.errors += int(sum(batch["errors"]))
        s.retries += int(sum(batch["retries"]))

    def _count_usage(self, record: ResultRecord, model: str) -> None:
        """Add a written result to the driver's ``client.usage``, as the client would have
        had the request gone through it here: an answer with its tokens and the retries it
        took, a failure as an error. (A worker's failed attempts that a retry made good are
        not rows of their own; they are in the run's ``errors`` count.)"""
        meta = record.data.get("x_llama_client")
        meta = meta if isinstance(meta, dict) else {}
        provider = meta.get("provider")
        provider = provider if isinstance(provider, str) and provider else self._provider
        attempts = meta.get("attempts")
        retries = attempts - 1 if isinstance(attempts, int) and attempts > 0 else 0
        if not record.ok:
            self._usage.add(provider, model, errors=1, retries=retries)
            return
        response = record.data.get("response")
        body = response.get("body") if isinstance(response, dict) else None
        answered = body.get("model") if isinstance(body, dict) else None
        answered = answered if isinstance(answered, str) else ""
        self._usage.answered(
            provider,
            model or answered,
            answered,
            record.prompt_tokens,
            record.completion_tokens,
            retries,
        )


def accept_lines(
    lines: Iterable[Any], pending: dict[str, str], where: str
) -> list[tuple[bytes, ResultRecord]]:
    """The result lines a worker returned that answer a request of this window not answered
    yet (``pending``: custom_id → body hash, emptied as answers arrive), checked before
    anything is written: an id answered twice (a task Ray ran again) or an answer to no
    request sent is dropped with a warning, so the results file holds each id once
    whatever the workers return. A line that is not a result line is a bug:
    :class:`BatchStateError`, and nothing of its batch is written."""
    accepted: list[tuple[bytes, ResultRecord]] = []
    for index, raw in enumerate(lines):
        line = bytes(raw)
        if not line.strip():
            continue  # a skipped batch's placeholder
        if not line.endswith(b"\n"):
            line += b"\n"
        record = parse_result(line, f"{where} (from a Ray worker, row {index})")
        if pending.get(record.custom_id) != record.body_hash:
            logger.warning(
                "a Ray worker returned %s %s; dropped",
                record.custom_id[:100],
                "twice or unasked for" if record.custom_id not in pending else "with another body",
            )
            continue
        del pending[record.custom_id]
        accepted.append((line, record))
    return accepted


def ray_engine(
    *,
    workers: int | None = None,
    batch_size: int | None = None,
    window: int = DEFAULT_WINDOW,
    address: str | None = None,
) -> Callable[[BatchJob], RayBatchEngine]:
    """An ``engine_factory`` for :class:`~llama_client.batch.BatchJob`: the job runs on Ray.

    ``BatchJob(client, "prompts.jsonl", "runs/x", settings, engine_factory=ray_engine())``
    """

    def factory(job: BatchJob) -> RayBatchEngine:
        return RayBatchEngine(
            job.client,
            job.results_path,
            job.settings,
            stats=job.stats,
            workers=workers,
            batch_size=batch_size,
            window=window,
            address=address,
        )

    return factory
