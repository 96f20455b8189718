"""Bulk generation: run a JSONL file of chat requests through a client, resumably.

>>> from llama_client import AsyncLlamaClient
>>> from llama_client.batch import BatchJob, BatchSettings
>>> async def main() -> None:
...     async with AsyncLlamaClient(model="llama-3.1-8b-instruct") as client:
...         job = BatchJob(client, "prompts.jsonl", "runs/teacher", BatchSettings(concurrency=64))
...         stats = await job.run()          # run it again after a crash: it resumes
...     export_run("runs/teacher", "train.jsonl", "messages")

Input and output are the OpenAI batch file format (:mod:`._format`); the results file is the
run's state (:mod:`._files`); the engine (:mod:`._engine`) sends through the client's one
request path with per-item retries and an adaptive limiter (:mod:`._limiter`); exports for
training are in :mod:`._export`. The CLI is ``llama-client batch`` (``llama-client[cli]``).
With ``llama-client[ray]``, ``BatchJob(..., engine_factory=ray_engine())`` runs the same job
over Ray Data workers (:mod:`._ray`); the run directory is the same.
"""

from ._engine import BatchEngine, BatchSettings, BatchStats, Engine
from ._export import FORMATS, Example, ExportFormat, ExportReport, export
from ._files import (
    InputScan,
    ResultsState,
    estimate_prompt_tokens,
    iter_requests,
    repair_torn_tail,
    scan_input,
    scan_results,
)
from ._format import (
    BatchInputError,
    BatchRequest,
    BatchStateError,
    DuplicateCustomIdError,
    ResultRecord,
    body_hash,
    parse_line,
    parse_result,
    request_from,
)
from ._limiter import AdaptiveLimiter, LimiterSnapshot
from ._ray import RayBatchEngine, ray_engine, start_ray
from ._run import (
    MANIFEST,
    RESULTS,
    BatchJob,
    DryRunReport,
    RunStatus,
    dry_run,
    export_run,
    merge_results,
    pending_requests,
    price_of,
    results_files,
    run_status,
)
from ._safety_filter import VERDICTS, SafetyFilter, SafetyTally, safety_filter

__all__ = [
    "FORMATS",
    "MANIFEST",
    "RESULTS",
    "VERDICTS",
    "AdaptiveLimiter",
    "BatchEngine",
    "BatchInputError",
    "BatchJob",
    "BatchRequest",
    "BatchSettings",
    "BatchStateError",
    "BatchStats",
    "DryRunReport",
    "DuplicateCustomIdError",
    "Engine",
    "Example",
    "ExportFormat",
    "ExportReport",
    "InputScan",
    "LimiterSnapshot",
    "RayBatchEngine",
    "ResultRecord",
    "ResultsState",
    "RunStatus",
    "SafetyFilter",
    "SafetyTally",
    "body_hash",
    "dry_run",
    "estimate_prompt_tokens",
    "export",
    "export_run",
    "iter_requests",
    "merge_results",
    "parse_line",
    "parse_result",
    "pending_requests",
    "price_of",
    "ray_engine",
    "repair_torn_tail",
    "request_from",
    "results_files",
    "run_status",
    "safety_filter",
    "scan_input",
    "scan_results",
    "start_ray",
]
