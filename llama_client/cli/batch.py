"""``llama-client batch``: run | status | export | dry-run (``pip install 'llama-client[cli]'``).

``run`` shows a rich progress bar on a terminal (done/total, req/s, tokens/s, in flight,
429s, errors, cost so far, ETA) and plain periodic lines otherwise. Ctrl-C (or SIGTERM)
stops cleanly: nothing new is started, requests in flight finish and are written; a second
Ctrl-C cancels them. Running the same command again resumes.

Exit codes (the CLI's table, :mod:`llama_client.cli._exit`): 0 everything answered (a
``length`` finish counts as answered); 3 the run finished and some requests failed for good
(each recorded with its reason; ``--retry-failed`` sends them again); 2 bad options or a bad
input file (nothing sent); 74 a run directory or file that cannot be read or written; 130
stopped by Ctrl-C or SIGTERM (run again to resume); 1 the server could not be used at all.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..batch import (
    FORMATS,
    VERDICTS,
    BatchJob,
    BatchSettings,
    BatchStateError,
    BatchStats,
    SafetyTally,
    dry_run,
    export_run,
    run_status,
    safety_filter,
)
from ..batch._safety_filter import MAX_CONCURRENCY
from ._common import client_options, is_tty, provider_spec
from ._exit import EXIT_FAILED_ITEMS, EXIT_INTERRUPTED, EXIT_IO_ERROR, EXIT_OK

if TYPE_CHECKING:
    from rich.console import Console

    from .._base_client import AsyncTransportName

__all__ = ["batch", "batch_transport", "format_line", "parse_params"]

logger = logging.getLogger("llama_client.batch")


class _StateError(click.ClickException):
    exit_code = EXIT_IO_ERROR


def parse_params(values: tuple[str, ...]) -> dict[str, Any]:
    """``--param key=value`` pairs; values are read as JSON when they parse (``0.7``,
    ``true``, ``[1,2]``), else kept as strings."""
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def _prices(price: tuple[float, float] | None, model: str | None) -> dict[str, Any] | None:
    if price is None:
        return None
    if not model:
        raise click.BadParameter("--price needs --model (or LLAMA_MODEL)", param_hint="--price")
    return {model: price}


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds > 360_000:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_line(stats: BatchStats) -> str:
    """One plain progress line (also the text next to the progress bar)."""
    cost = stats.cost
    cost_text = "cost n/a" if cost is None else f"cost ~${cost:.4f}"
    return (
        f"{stats.done}/{stats.total} done, {stats.requests_per_second:.1f} req/s, "
        f"{stats.tokens_per_second:.0f} tok/s, {stats.in_flight} in flight, "
        f"{stats.rate_limited} 429s, {stats.failed} failed ({stats.errors} errors), "
        f"{cost_text}, ETA {_duration(stats.eta)}"
    )


class _Display:
    """The rich bar on a terminal, plain lines every ``interval`` seconds otherwise."""

    def __init__(self, mode: str, interval: float, console: Console | None = None) -> None:
        self.bar = mode == "bar" or (mode == "auto" and is_tty(sys.stdout))
        self.quiet = mode == "none"
        self.interval = interval
        self._last = 0.0
        self._progress: Any = None
        self._task: Any = None
        self._console = console

    def __enter__(self) -> _Display:
        if self.bar and not self.quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
            )

            console = self._console or Console(markup=False, emoji=False, highlight=False)
            self._progress = Progress(
                TextColumn("batch"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[line]}"),
                console=console,
                refresh_per_second=4,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("batch", total=None, line="starting")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def update(self, stats: BatchStats, *, final: bool = False) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.update(
                self._task, total=stats.total or None, completed=stats.done, line=format_line(stats)
            )
            return
        now = time.monotonic()
        if final or now - self._last >= self.interval:
            self._last = now
            click.echo(format_line(stats))


@click.group("batch")
def batch() -> None:
    """Bulk generation: run a JSONL file of chat requests, resumably, at the provider's limit.

    Input lines are OpenAI batch lines ({"custom_id", "method", "url", "body"}) or plain
    {"messages": [...]} / {"prompt": "..."} lines. Results go to RUN_DIR/results.jsonl in the
    OpenAI batch output format; RUN_DIR/manifest.json sums up the run.
    """


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="A body parameter for lines that leave it out (repeatable), e.g. "
                     "--param temperature=0.7 --param max_tokens=512."),
        click.option("--price", type=(float, float), metavar="IN OUT", default=None,
                     help="USD per 1M prompt and completion tokens, instead of the catalogue's."),
        click.option("--completion-tokens", type=click.IntRange(1), default=256, show_default=True,
                     help="Completion tokens assumed for lines without max_tokens (estimates)."),
        click.option("--retry-failed", is_flag=True,
                     help="Send again the lines whose recorded result is a failure."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


@batch.command("run")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--run-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The run directory (created; reused to resume).",
)
@client_options
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 4096),
    default=32,
    show_default=True,
    help="Most requests in flight.",
)
@click.option(
    "--rpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per minute at most (besides what the provider reports).",
)
@click.option(
    "--tpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Tokens per minute at most (prompt + max_tokens).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(0),
    default=None,
    help="Retries of a failed request (5xx, connection); default: the client's (2).",
)
@click.option(
    "--max-consecutive-failures",
    type=click.IntRange(0),
    default=None,
    help="Stop when this many requests in a row failed for good with none answered (the "
    "server down, a wrong model or parameter): they are not recorded, so running again "
    "sends them. Default: twice --concurrency, at least 20; 0: never stop. A 401/403 stops "
    "at once.",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "lines", "none"]),
    default="auto",
    show_default=True,
    help="A rich bar on a terminal, plain lines otherwise.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between plain progress lines.",
)
@click.option(
    "--ray",
    "use_ray",
    is_flag=True,
    help="Send through Ray Data workers (pip install 'llama-client[ray]'); same run directory.",
)
@click.option(
    "--ray-address",
    default=None,
    help="With --ray: the Ray cluster to join (default: RAY_ADDRESS, else a new local Ray).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 4096),
    default=None,
    help="With --ray: worker actors (default: the cluster's CPUs); each takes 1/N of "
    "--concurrency and of the rate budgets.",
)
@click.option(
    "--transport",
    type=click.Choice(["auto", "aiohttp", "httpx"]),
    default="auto",
    envvar="LLAMA_TRANSPORT",
    show_default=True,
    help="The HTTP connection pool: aiohttp (several times less CPU per request with many "
    "in flight; pip install 'llama-client[aiohttp]'), httpx, or auto: aiohttp when installed.",
)
@_settings_options
def run(
    input_path: Path,
    run_dir: Path,
    provider: str | None,
    base_url: str | None,
    model: str | None,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    max_retries: int | None,
    max_consecutive_failures: int | None,
    progress: str,
    interval: float,
    use_ray: bool,
    ray_address: str | None,
    workers: int | None,
    transport: str,
    params: tuple[str, ...],
    price: tuple[float, float] | None,
    completion_tokens: int,
    retry_failed: bool,
) -> None:
    """Send every line of INPUT not answered yet; results go to RUN_DIR (run again to resume)."""
    from ..client import AsyncLlamaClient

    if not use_ray and (ray_address or workers):
        raise click.UsageError("--ray-address and --workers go with --ray")

    client = AsyncLlamaClient(
        provider=provider_spec(provider),
        base_url=base_url,
        model=model,
        transport=batch_transport(transport),
    )
    settings = BatchSettings(
        defaults=parse_params(params),
        concurrency=concurrency,
        max_retries=max_retries,
        max_consecutive_failures=max_consecutive_failures,
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        retry_failed=retry_failed,
        default_completion_tokens=completion_tokens,
        prices=_prices(price, model or client.model),
    )
    display = _Display(progress, interval)
    engine_factory = None
    if use_ray:
        from ..batch import ray_engine

        engine_factory = ray_engine(workers=workers, address=ray_address)
    job = BatchJob(
        client,
        input_path,
        run_dir,
        settings,
        on_progress=display.update,
        progress_interval=0.25 if display.bar else min(1.0, interval),
        engine_factory=engine_factory,
    )
    try:
        scan = job.prepare()
    except BatchStateError as exc:
        raise _StateError(str(exc)) from None
    logger.info(
        "%d requests in %s: %d done before, %d failed before (not retried), %d to send",
        scan.in_shard, input_path, scan.done, scan.failed_before, scan.pending,
    )  # fmt: skip
    started_ray = False
    if use_ray and scan.pending:  # before the loop's signal handlers: Ray's must not replace them
        from ..batch import start_ray

        started_ray = start_ray(ray_address)
    try:
        with display:
            status = asyncio.run(_run_job(job, client))
            display.update(job.stats, final=True)
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    stats = job.stats
    click.echo(
        f"{status}: {stats.succeeded} answered ({stats.truncated} cut at max_tokens), "
        f"{stats.failed} failed this run; results in {job.results_path}"
    )
    if status == "interrupted":
        click.echo("Stopped; run the same command again to resume.", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if status == "complete_with_failures":
        raise click.exceptions.Exit(EXIT_FAILED_ITEMS)
    raise click.exceptions.Exit(EXIT_OK)


def batch_transport(choice: str) -> AsyncTransportName:
    """The ``transport=`` of a batch run's client: ``auto`` is aiohttp when it is installed.

    A batch keeps many requests in flight, where httpx's async pool costs several times the
    CPU of aiohttp's per request (``benchmarks/``: about 1.4 ms against 0.15 ms at 64 in
    flight), enough to cap a run at a few hundred requests a second on a fast server.
    """
    if choice == "auto":
        found = importlib.util.find_spec("aiohttp") is not None
        logger.debug("transport: %s", "aiohttp" if found else "httpx (aiohttp not installed)")
        return "aiohttp" if found else "httpx"
    return "aiohttp" if choice == "aiohttp" else "httpx"


async def _run_job(job: BatchJob, client: Any) -> str:
    loop = asyncio.get_running_loop()
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            logger.warning("stopping: waiting for requests in flight (Ctrl-C again cancels them)")
            job.stop()
        else:
            job.stop(now=True)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, interrupt)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
            pass
    try:
        async with client:
            await job.run()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return job.status


@batch.command("status")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(run_dir: Path, as_json: bool) -> None:
    """What RUN_DIR holds: counts from its results file(s), usage and cost from its manifest."""
    try:
        info = run_status(run_dir)
    except BatchStateError as exc:
        raise _StateError(str(exc)) from None
    data = info.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    cost = data["cost"] or {}
    usd = cost.get("usd")
    price = cost.get("price") or {}
    click.echo(f"status:    {data['status']}")
    click.echo(f"requests:  {info.requests}")
    click.echo(
        f"answered:  {info.succeeded} ({info.truncated} cut at max_tokens)   failed: {info.failed}"
    )
    click.echo(f"left:      {max(0, info.requests - info.succeeded - info.failed)}")
    click.echo(f"tokens:    {info.prompt_tokens} prompt, {info.completion_tokens} completion")
    if usd is None:
        click.echo("cost:      unknown (no price for this provider/model; see --price)")
    else:
        source = price.get("source", "")
        click.echo(
            f"cost:      ~${usd:.4f} (estimate; price as of {price.get('as_of') or 'n/a'}, {source})"
        )
    if info.torn_tail:
        click.echo("note:      the results file ends in a torn line (dropped on the next run)")


@batch.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_path", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="messages",
    show_default=True,
    help="messages (TRL/torchtune/axolotl), prompt-completion, "
    "sharegpt, alpaca, or openai (one result line per id).",
)
@click.option(
    "--finish-reason",
    "finish_reasons",
    multiple=True,
    metavar="REASON",
    help="Keep answers with this finish_reason (repeatable; default: stop).",
)
@click.option("--any-finish-reason", is_flag=True, help="Keep every answer, cut ones included.")
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The input file, if it moved since the run.",
)
@click.option(
    "--safety-model",
    default=None,
    metavar="GUARD",
    help="Keep only answers this Llama Guard model finds safe (e.g. llama-guard-3-8b), asked "
    "once per answer on the server given by -p/--base-url (default: the LLAMA_* settings). "
    f"Verdicts are kept in RUN_DIR/{VERDICTS}: an export run again asks only about answers "
    "not judged yet.",
)
@click.option("-p", "--provider", help="The guard's provider (with --safety-model).")
@click.option("--base-url", help="The guard's server URL (with --safety-model).")
@click.option(
    "--safety-concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=16,
    show_default=True,
    help="Guard requests at once (with --safety-model).",
)
def export(
    run_dir: Path,
    out_path: Path,
    fmt: str,
    finish_reasons: tuple[str, ...],
    any_finish_reason: bool,
    input_path: Path | None,
    safety_model: str | None,
    provider: str | None,
    base_url: str | None,
    safety_concurrency: int,
) -> None:
    """Write the answers in RUN_DIR as a training file OUT (input order kept)."""
    reasons: tuple[str, ...] | None = None if any_finish_reason else (finish_reasons or ("stop",))
    filters = []
    tally = SafetyTally()
    guard = None
    if safety_model:
        from ..client import LlamaClient

        guard = LlamaClient(provider=provider, base_url=base_url)
        filters.append(
            safety_filter(
                guard,
                model=safety_model,
                tally=tally,
                concurrency=safety_concurrency,
                verdicts=run_dir / VERDICTS,
            )
        )
    try:
        report = export_run(
            run_dir,
            out_path,
            fmt,  # type: ignore[arg-type]
            input_path=input_path,
            finish_reasons=reasons,
            filters=filters,
        )
    except BatchStateError as exc:
        raise _StateError(str(exc)) from None
    finally:
        if guard is not None:
            guard.close()
    if safety_model:
        codes = ", ".join(f"{c} {n}" for c, n in sorted(tally.codes.items())) or "none"
        reused = f" ({tally.reused} verdicts from {VERDICTS})" if tally.reused else ""
        click.echo(
            f"{safety_model}: {tally.checked} answers checked{reused}, {tally.unsafe} unsafe "
            f"(categories: {codes})"
        )
    data = report.as_dict()
    skipped = ", ".join(f"{n} {r}" for r, n in data["skipped_finish_reason"].items()) or "none"
    click.echo(
        f"wrote {report.written} examples to {out_path}; left out: finish reason {skipped}, "
        f"{report.failed} failed, {report.missing} not run, "
        f"{report.not_representable} not representable in {fmt}, {report.empty} empty, "
        f"{report.filtered} filtered (unsafe)"
    )


@batch.command("dry-run")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Leave out what this run directory already holds.",
)
@client_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--rough",
    is_flag=True,
    help="Estimate prompt tokens from the text length instead of counting them with the "
    "Llama 3 tokenizer (faster; the count needs llama-client[tokens]).",
)
@_settings_options
def dry_run_command(
    input_path: Path,
    run_dir: Path | None,
    provider: str | None,
    base_url: str | None,
    model: str | None,
    as_json: bool,
    rough: bool,
    params: tuple[str, ...],
    price: tuple[float, float] | None,
    completion_tokens: int,
    retry_failed: bool,
) -> None:
    """Check INPUT and estimate requests, tokens and cost; nothing is sent."""
    import os

    from ..providers import get_provider

    # No client is built (a hosted provider would want its key): only the names are needed.
    name = provider or os.environ.get("LLAMA_PROVIDER") or "vllm"
    name = get_provider(name.split(",")[0].strip()).name  # unknown: InvalidRequestError (2)
    chosen = model or os.environ.get("LLAMA_MODEL") or None
    del base_url  # accepted like `run`'s; a dry run contacts nothing
    settings = BatchSettings(
        defaults=parse_params(params),
        retry_failed=retry_failed,
        default_completion_tokens=completion_tokens,
        prices=_prices(price, chosen),
    )
    try:
        report = dry_run(
            input_path, settings, provider=name, model=chosen, run_dir=run_dir, exact=not rough
        )
    except BatchStateError as exc:
        raise _StateError(str(exc)) from None
    data = report.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    click.echo(
        f"requests:  {report.requests} ({report.pending} to send, {report.done} done before)"
    )
    how = "counted, Llama 3 tokenizer" if report.exact_tokens else "estimate: text length / 4"
    click.echo(f"tokens:    {report.prompt_tokens} prompt ({how}), "
               f"<= {report.completion_tokens} completion (max_tokens)")  # fmt: skip
    if report.cost is None:
        click.echo(f"cost:      unknown: no price for {report.model!r} on {report.provider!r} "
                   "(pass --price IN OUT)")  # fmt: skip
    else:
        assert report.price is not None
        click.echo(
            f"cost:      <= ~${report.cost:.4f} (estimate at ${report.price.input_per_mtok}/"
            f"${report.price.output_per_mtok} per 1M tokens, as of "
            f"{report.price.as_of or 'n/a'}, {report.price.source})"
        )
    click.echo("nothing was sent")
