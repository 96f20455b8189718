"""A run directory: input → results file + manifest, resumable. Also the dry run and status.

Layout of ``run_dir``::

    manifest.json     input (path, SHA-256, line counts), settings, counts, usage, cost, status
    results.jsonl     the output lines (OpenAI batch output format); THE state of the run

The manifest is rewritten (atomically) every few seconds and at the end; it is a summary for
people and scripts. The results file decides what is done: on start it is read back (a torn
last line dropped), and an input line is sent only if no result answers its id *and body*
(or its result is a failure and ``retry_failed`` is set).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ._engine import BatchEngine, BatchSettings, BatchStats, Engine
from ._export import Example, ExportFormat, ExportReport, export
from ._files import (
    InputScan,
    ResultsState,
    done_key,
    estimate_prompt_tokens,
    iter_requests,
    read_manifest,
    repair_torn_tail,
    scan_input,
    scan_results,
    write_manifest,
)
from ._format import BatchRequest, BatchStateError, parse_result
from ._index import U64Map, U64Set
from ._limiter import AdaptiveLimiter

if TYPE_CHECKING:
    from .._async.client import AsyncLlamaClient
    from .._base_client import AsyncTransportName
    from ..pricing import Price

__all__ = [
    "MANIFEST",
    "RESULTS",
    "BatchJob",
    "DryRunReport",
    "RunStatus",
    "dry_run",
    "export_run",
    "merge_results",
    "pending_requests",
    "price_of",
    "results_files",
    "run_status",
    "transport_of",
]

logger = logging.getLogger("llama_client.batch")

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
#: seconds between manifest rewrites during a run
MANIFEST_INTERVAL = 5.0


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def price_of(
    provider: str | None, model: str | None, overrides: Mapping[str, Any] | None = None
) -> Price | None:
    """The catalogue price (or an override) of ``model`` on ``provider``; None if unknown."""
    if not provider or not model:
        return None
    from ..pricing import price_for

    return price_for(provider, model, overrides=overrides)


def _price_dict(price: Price | None) -> dict[str, Any] | None:
    if price is None:
        return None
    return {
        "input_per_mtok": price.input_per_mtok,
        "output_per_mtok": price.output_per_mtok,
        "as_of": price.as_of,
        "source": price.source,
        "verified": price.verified,
    }


def results_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The results files of a run directory: ``results.jsonl`` and any shard files
    (``results-*.jsonl``, e.g. written by parallel workers), in name order."""
    root = Path(run_dir)
    return sorted(p for p in root.glob("results*.jsonl") if p.is_file())


def merge_results(run_dir: str | os.PathLike[str]) -> int:
    """Fold every results file of ``run_dir`` into one ``results.jsonl`` holding each
    (id, body) once: its first success, else its last failure. Shard files are removed
    afterwards. Safe to repeat after a crash at any point (the rename is atomic and a second
    merge drops what the first already folded in). Returns the lines written."""
    root = Path(run_dir)
    paths = results_files(root)
    for path in paths:
        repair_torn_tail(path)
    ok = U64Set()
    last_failure = U64Map()
    for _raw, succeeded, key, where in _result_lines(paths):
        if succeeded:
            ok.add(key)
        else:
            last_failure.set(key, where)
    target = root / RESULTS
    tmp = root / ".results.merge.tmp"
    written = 0
    seen = U64Set()
    with tmp.open("wb") as out:
        for raw, succeeded, key, where in _result_lines(paths):
            # the first success of a key, else (no success anywhere) its last failure
            keep = seen.add(key) if succeeded else key not in ok and last_failure.get(key) == where
            if keep:
                out.write(raw)
                written += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    _fsync_dir(root)
    for path in paths:
        if path.resolve() != target.resolve():
            path.unlink()
    return written


def _result_lines(paths: list[Path]) -> Iterator[tuple[bytes, bool, int, int]]:
    """Every result line of ``paths``, streamed: the line, whether it is a success, its
    (id, body) key, and where it stands (its offset and file index, one number)."""
    for index, path in enumerate(paths):
        with path.open("rb") as f:
            offset = 0
            for number, raw in enumerate(f, 1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                record = parse_result(raw, f"{path}:{number}")
                key = done_key(record.custom_id, record.body_hash)
                yield raw, record.ok, key, (start << 8) | index


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def pending_requests(
    input_path: str | os.PathLike[str],
    state: ResultsState,
    settings: BatchSettings,
    defaults: Mapping[str, Any],
) -> Iterator[BatchRequest]:
    """The requests of the input (this shard) that no stored result answers yet, streamed."""
    for request in iter_requests(input_path, defaults, shard=settings.shard):
        if state.decide(request, settings.retry_failed) == "send":
            yield request


def transport_of(client: AsyncLlamaClient) -> AsyncTransportName:
    """The ``transport=`` that builds a client sending the way ``client`` does (a caller's
    own ``http_client`` counts as httpx)."""
    return "aiohttp" if type(client._http).__name__ == "AiohttpClient" else "httpx"


def _settings_dict(settings: BatchSettings) -> dict[str, Any]:
    return {
        "model": settings.model,
        "defaults": dict(settings.defaults),
        "concurrency": settings.concurrency,
        "max_retries": settings.max_retries,
        "max_rate_limit_retries": settings.max_rate_limit_retries,
        "max_consecutive_failures": settings.failure_streak_limit(),
        "requests_per_minute": settings.requests_per_minute,
        "tokens_per_minute": settings.tokens_per_minute,
        "rate_share": settings.rate_share,
        "retry_failed": settings.retry_failed,
        "shard": list(settings.shard) if settings.shard else None,
    }


class BatchJob:
    """One run of an input file into a run directory; resumable by running it again.

    ``results_path`` (default ``run_dir/results.jsonl``) is where lines are appended;
    ``state_paths`` are more results files whose answers count as done (e.g. other shards'
    files). ``limiter`` replaces the one built from ``settings`` (a shared budget).
    ``on_progress(stats)`` is called about every ``progress_interval`` seconds and at the end.
    ``engine_factory(job)`` builds the engine instead of :class:`BatchEngine` (same surface:
    ``run(requests)``, ``stop(now=)``, ``stopped``, ``limiter``, ``stats``).
    :meth:`stop` (from a signal handler, another task) stops cleanly; run again to resume.
    """

    def __init__(
        self,
        client: AsyncLlamaClient,
        input_path: str | os.PathLike[str],
        run_dir: str | os.PathLike[str],
        settings: BatchSettings | None = None,
        *,
        results_path: str | os.PathLike[str] | None = None,
        state_paths: Sequence[str | os.PathLike[str]] = (),
        limiter: AdaptiveLimiter | None = None,
        manifest: bool = True,
        on_progress: Callable[[BatchStats], None] | None = None,
        progress_interval: float = 1.0,
        engine_factory: Callable[[BatchJob], Engine] | None = None,
    ) -> None:
        self.client = client
        self.input_path = Path(input_path)
        self.run_dir = Path(run_dir)
        self.settings = settings or BatchSettings()
        self.results_path = Path(results_path) if results_path else self.run_dir / RESULTS
        self.state_paths = [Path(p) for p in state_paths]
        self.stats = BatchStats()
        self.scan: InputScan | None = None
        self.status = "new"
        self._limiter = limiter
        self._manifest = manifest
        self._on_progress = on_progress
        self._interval = progress_interval
        self._engine: Engine | None = None
        self._engine_factory = engine_factory
        self._stop_requested = False
        self._created = _now()

    @property
    def limiter(self) -> AdaptiveLimiter | None:
        return self._engine.limiter if self._engine is not None else self._limiter

    def stop(self, *, now: bool = False) -> None:
        """Stop starting requests (``now=True``: also cancel those in flight)."""
        self._stop_requested = True
        if self._engine is not None:
            self._engine.stop(now=now)

    def prepare(self) -> InputScan:
        """Read the state and check the input (no request sent): what :meth:`run` will do."""
        if not self.input_path.is_file():
            raise BatchStateError(f"{self.input_path}: no such input file")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = self.run_dir / MANIFEST
        previous: dict[str, Any] = {}
        if self._manifest and manifest_path.exists():
            previous = read_manifest(manifest_path)
            self._created = str(previous.get("created") or self._created)
        # Only this job's own file is repaired: other shards' files may be being written.
        cut = repair_torn_tail(self.results_path)
        if cut:
            logger.warning("%s: dropped a torn last line (%d bytes)", self.results_path, cut)
        own = self.results_path.resolve()
        others = [p for p in results_files(self.run_dir) if p.resolve() != own]
        extra = [p for p in self.state_paths if p.resolve() != own and p not in others]
        state = scan_results([self.results_path, *others, *extra], repair=False)
        defaults = self.settings.body_defaults(self.client.model)
        scan = scan_input(
            self.input_path,
            defaults,
            shard=self.settings.shard,
            state=state,
            retry_failed=self.settings.retry_failed,
            default_completion_tokens=self.settings.default_completion_tokens,
        )
        self._state, self._defaults, self.scan = state, defaults, scan
        before = previous.get("input", {}).get("sha256") if previous else None
        if before and before != scan.sha256:
            logger.warning(
                "%s changed since the last run of %s: lines whose body changed are sent again, "
                "results of lines no longer in it stay in the results file",
                self.input_path,
                self.run_dir,
            )
        stats = self.stats
        stats.total = scan.pending
        stats.prior_prompt_tokens = state.prompt_tokens
        stats.prior_completion_tokens = state.completion_tokens
        model = defaults.get("model") if len(scan.models) <= 1 else None
        if scan.models and len(scan.models) == 1:
            model = next(iter(scan.models))
        stats.price = price_of(self.client.providers[0], model, self.settings.prices)
        return scan

    async def run(self) -> BatchStats:
        """Send what is not done yet; returns the stats (``self.status`` says how it ended:
        ``"complete"``, ``"complete_with_failures"`` or ``"interrupted"``)."""
        if self.scan is None:
            self.prepare()
        assert self.scan is not None
        engine = self._make_engine()
        self._engine = engine
        if self._stop_requested:
            engine.stop()
        self.status = "running"
        self._write_manifest()
        ticker = asyncio.ensure_future(self._tick())
        try:
            await engine.run(
                pending_requests(self.input_path, self._state, self.settings, self._defaults)
            )
        except BaseException:
            self.status = "interrupted"
            raise
        else:
            self.status = (
                "interrupted"
                if self.stats.done < self.stats.total
                else "complete_with_failures"
                if self.stats.failed or self.scan.failed_before
                else "complete"
            )
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            self._write_manifest()
            if self._on_progress is not None:
                self._on_progress(self.stats)
        return self.stats

    def _make_engine(self) -> Engine:
        """The engine that sends (``engine_factory(job)`` when given: e.g. one that spreads
        the requests over Ray workers). It must append to :attr:`results_path` and update
        :attr:`stats`; everything else (state, manifest, progress) stays the job's."""
        if self._engine_factory is not None:
            return self._engine_factory(self)
        return BatchEngine(
            self.client,
            self.results_path,
            self.settings,
            limiter=self._limiter,
            stats=self.stats,
        )

    async def _tick(self) -> None:
        last_manifest = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self._interval)
            if self._on_progress is not None:
                self._on_progress(self.stats)
            now = asyncio.get_running_loop().time()
            if now - last_manifest >= MANIFEST_INTERVAL:
                last_manifest = now
                await asyncio.get_running_loop().run_in_executor(None, self._write_manifest)

    def _write_manifest(self) -> None:
        if not self._manifest or self.scan is None:
            return
        scan, stats = self.scan, self.stats
        manifest = {
            "format": 1,
            "llama_client": __version__,
            "created": self._created,
            "updated": _now(),
            "status": self.status,
            "input": {
                "path": str(self.input_path.resolve()),
                "sha256": scan.sha256,
                "lines": scan.lines,
                "requests": scan.requests,
                "in_shard": scan.in_shard,
            },
            "results": str(self.results_path.resolve()),
            "provider": self.client.providers[0],
            "transport": transport_of(self.client),
            "settings": _settings_dict(self.settings),
            "body_defaults": self._defaults,
            "counts": {
                "done_before": scan.done,
                "failed_before": scan.failed_before,
                "pending_at_start": scan.pending,
                **stats.as_dict(),
                "left": max(0, scan.pending - stats.done),
            },
            "usage": {
                "prompt_tokens": stats.prompt_tokens + stats.prior_prompt_tokens,
                "completion_tokens": stats.completion_tokens + stats.prior_completion_tokens,
                "this_run": {
                    "prompt_tokens": stats.prompt_tokens,
                    "completion_tokens": stats.completion_tokens,
                },
            },
            "cost": {
                "usd": stats.cost,
                "estimate": True,
                "price": _price_dict(stats.price),
            },
        }
        write_manifest(self.run_dir / MANIFEST, manifest)


# ------------------------------------------------------------------------------- dry run


def exact_prompt_counter(
    provider: str | None, model: str | None
) -> Callable[[Mapping[str, Any]], int] | None:
    """A counter of a body's prompt tokens with the Llama 3 tokenizer and the chat template
    the provider renders (:func:`llama_client.tokens.count_tokens`), or None when the
    ``tokens`` extra is not installed. A body it cannot render is estimated instead."""
    from ..errors import InvalidRequestError
    from ..tokens import count_tokens

    try:
        count_tokens([{"role": "user", "content": "x"}], model=model, provider=provider)
    except ImportError:
        return None

    def count(body: Mapping[str, Any]) -> int:
        named = body.get("model")
        try:
            return count_tokens(
                body["messages"],
                tools=body.get("tools") or None,
                model=named if isinstance(named, str) else model,
                provider=provider,
            )
        except (InvalidRequestError, TypeError, ValueError, KeyError):
            return estimate_prompt_tokens(body)

    return count


@dataclass(frozen=True)
class DryRunReport:
    """What a run would send, without sending it. ``exact_tokens``: the prompt tokens were
    counted with the Llama 3 tokenizer (``llama-client[tokens]``), not estimated."""

    requests: int
    pending: int
    done: int
    failed_before: int
    prompt_tokens: int
    completion_tokens: int
    provider: str | None
    model: str | None
    price: Price | None
    cost: float | None
    exact_tokens: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "prompt_tokens_exact": self.exact_tokens,
            "to_send": self.pending,
            "already_done": self.done,
            "failed_before": self.failed_before,
            "estimated_prompt_tokens": self.prompt_tokens,
            "estimated_completion_tokens_at_most": self.completion_tokens,
            "provider": self.provider,
            "model": self.model,
            "price": _price_dict(self.price),
            "estimated_cost_usd_at_most": self.cost,
        }


def dry_run(
    input_path: str | os.PathLike[str],
    settings: BatchSettings | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    exact: bool = True,
) -> DryRunReport:
    """Count the requests a run would send, their tokens and cost; send nothing.

    Prompt tokens are counted exactly (the Llama 3 tokenizer and the provider's chat template,
    when ``llama-client[tokens]`` is installed and ``exact``), else estimated from the text
    (about 4 characters a token); completion tokens are each request's ``max_tokens`` (else
    ``settings.default_completion_tokens``), so the cost is an upper estimate. With
    ``run_dir``, results already there are left out.
    """
    settings = settings or BatchSettings()
    state = None
    if run_dir is not None:
        state = scan_results(results_files(run_dir), repair=False)
    defaults = settings.body_defaults(model)
    counter = exact_prompt_counter(provider, defaults.get("model")) if exact else None
    scan = scan_input(
        input_path,
        defaults,
        shard=settings.shard,
        state=state,
        retry_failed=settings.retry_failed,
        default_completion_tokens=settings.default_completion_tokens,
        count_prompt=counter,
    )
    chosen = defaults.get("model")
    if len(scan.models) == 1:
        chosen = next(iter(scan.models))
    price = price_of(provider, chosen, settings.prices)
    from ..pricing import estimate_cost

    return DryRunReport(
        scan.requests,
        scan.pending,
        scan.done,
        scan.failed_before,
        scan.prompt_tokens,
        scan.completion_tokens,
        provider,
        chosen,
        price,
        estimate_cost(scan.prompt_tokens, scan.completion_tokens, price),
        counter is not None,
    )


# -------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class RunStatus:
    """A run directory read back: its manifest, and the counts its results file holds."""

    manifest: dict[str, Any]
    lines: int
    succeeded: int
    truncated: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    torn_tail: bool

    @property
    def requests(self) -> int:
        value = self.manifest.get("input", {}).get("in_shard")
        return value if isinstance(value, int) else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.manifest.get("status"),
            "input": self.manifest.get("input"),
            "results_lines": self.lines,
            "succeeded": self.succeeded,
            "truncated": self.truncated,
            "failed": self.failed,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
            "cost": self.manifest.get("cost"),
            "torn_tail": self.torn_tail,
        }


def run_status(run_dir: str | os.PathLike[str]) -> RunStatus:
    """Read a run directory without changing it (a torn last line is reported, not cut)."""
    root = Path(run_dir)
    manifest = read_manifest(root / MANIFEST)
    paths = results_files(root)
    state = scan_results(paths, repair=False)
    torn = False
    for path in paths:
        if path.stat().st_size:
            with path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = torn or f.read(1) != b"\n"
    return RunStatus(
        manifest,
        state.lines,
        state.succeeded,
        state.truncated,
        state.failures,
        state.prompt_tokens,
        state.completion_tokens,
        torn,
    )


def export_run(
    run_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    fmt: ExportFormat = "messages",
    *,
    input_path: str | os.PathLike[str] | None = None,
    finish_reasons: Collection[str] | None = ("stop",),
    filters: Sequence[Callable[[Example], bool]] = (),
) -> ExportReport:
    """:func:`~llama_client.batch.export` for a run directory: the input path, the body
    defaults and the shard come from its manifest (``input_path`` overrides the path)."""
    root = Path(run_dir)
    manifest = read_manifest(root / MANIFEST)
    source = input_path or manifest.get("input", {}).get("path")
    if not source:
        raise BatchStateError(f"{root / MANIFEST}: names no input file; pass input_path")
    results = results_files(root)
    defaults = manifest.get("body_defaults")
    shard = manifest.get("settings", {}).get("shard")
    return export(
        source,
        results,
        out_path,
        fmt,
        defaults=defaults if isinstance(defaults, dict) else None,
        finish_reasons=finish_reasons,
        filters=filters,
        shard=(shard[0], shard[1]) if isinstance(shard, list) and len(shard) == 2 else None,
    )
