"""A 200-line batch job against the real local vLLM, single-process and on a local Ray
(``ray.init(num_cpus=2)``): the two runs leave the same results, id for id, and the same
training export, byte for byte."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llama_client import AsyncLlamaClient
from llama_client.batch import BatchJob, BatchSettings, export_run, ray_engine

from .conftest import BASE_URL

ray = pytest.importorskip("ray")

LINES = 200


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def _input(path: Path) -> Path:
    with path.open("w") as f:
        for i in range(LINES):
            if i % 2:
                line: dict[str, Any] = {"prompt": f"Write a line about the number {i}."}
            else:
                line = {
                    "custom_id": f"q-{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {
                        "messages": [
                            {"role": "system", "content": "Answer briefly."},
                            {"role": "user", "content": f"What is {i} plus {i}?"},
                        ],
                        "max_tokens": 4 + i % 7,
                    },
                }
            f.write(json.dumps(line) + "\n")
    return path


def _comparable(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each id's result, without what a server makes up per request (ids, timestamps)."""
    out: dict[str, dict[str, Any]] = {}
    for raw in (run_dir / "results.jsonl").read_text().splitlines():
        record = json.loads(raw)
        assert record["custom_id"] not in out, f"{record['custom_id']} twice"
        record.pop("id")
        body = (record.get("response") or {}).get("body") or {}
        for volatile in ("id", "created", "system_fingerprint"):
            body.pop(volatile, None)
        out[record["custom_id"]] = record
    return out


async def _run(src: Path, run_dir: Path, model: str, *, on_ray: bool) -> BatchJob:
    settings = BatchSettings(concurrency=8, defaults={"temperature": 0, "max_tokens": 12})
    async with AsyncLlamaClient(
        base_url=BASE_URL, api_key=os.environ.get("LLAMA_IT_API_KEY"), model=model, timeout=120
    ) as client:
        job = BatchJob(
            client, src, run_dir, settings, engine_factory=ray_engine(workers=2) if on_ray else None
        )
        await job.run()
        return job


def test_a_200_line_job_on_ray_equals_the_single_process_run(
    local_ray: None, model: str, tmp_path: Path
) -> None:
    src = _input(tmp_path / "prompts.jsonl")
    single = asyncio.run(_run(src, tmp_path / "single", model, on_ray=False))
    on_ray = asyncio.run(_run(src, tmp_path / "ray", model, on_ray=True))

    assert single.status == on_ray.status == "complete"
    assert single.stats.succeeded == on_ray.stats.succeeded == LINES
    ray_results = _comparable(tmp_path / "ray")
    assert len(ray_results) == LINES
    assert ray_results == _comparable(tmp_path / "single")
    for name in ("prompt_tokens", "completion_tokens", "truncated"):
        assert getattr(on_ray.stats, name) == getattr(single.stats, name), name

    for run in ("single", "ray"):
        export_run(tmp_path / run, tmp_path / f"{run}.train.jsonl", "messages", finish_reasons=None)
    exported = (tmp_path / "ray.train.jsonl").read_bytes()
    assert exported == (tmp_path / "single.train.jsonl").read_bytes()
    assert exported.count(b"\n") == LINES

    # run again on Ray: it resumes, finds everything done and sends nothing
    again = asyncio.run(_run(src, tmp_path / "ray", model, on_ray=True))
    assert again.stats.total == 0 and again.status == "complete"
