"""The batch job on a local Ray (``ray.init(num_cpus=2)``) against the fault server.

A scripted server answers each prompt the same way in every run (a 429 or a 500 on the first
attempt for some, a 400 for good for others, answers cut at ``length`` for others), so a Ray run
and a single-process run of the same input must leave the same results, id for id. A stopped
Ray run resumes as a single-process run does (and the other way round), and a ``kill -9`` of
a Ray driver, then a re-run, leaves every id exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llama_client import AsyncLlamaClient
from llama_client.batch import BatchJob, BatchSettings, BatchStats, ray_engine
from tests.faultserver import FaultServer, RecordedRequest, respond, status
from tests.wire import FAULT

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
MODEL = "m"


class Scripted:
    """The server's answer to a prompt ``p<i>`` depends only on i and the attempt number."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.attempts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # 200s per prompt: what was paid for
        self.lock = threading.Lock()

    async def __call__(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        prompt = json.loads(request.body)["messages"][-1]["content"]
        i = int(prompt[1:])
        with self.lock:
            attempt = self.attempts[prompt]
            self.attempts[prompt] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if i % 7 == 3 and attempt == 0:
            return await status(429, headers={"retry-after": "0"})(request, writer)
        if i % 11 == 5 and attempt == 0:
            return await status(500)(request, writer)
        if i % 13 == 6:
            return await status(400)(request, writer)
        finish = "length" if i % 17 == 2 else "stop"
        with self.lock:
            self.answered[prompt] += 1
        body = FAULT.completion(f"re: {prompt}", finish_reason=finish, usage=(i + 3, 5))
        return await respond(200, body)(request, writer)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def _input(path: Path, n: int) -> Path:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"custom_id": f"id-{i}", "body": {"messages": [
                {"role": "user", "content": f"p{i}"}], "max_tokens": 5}}) + "\n")  # fmt: skip
    return path


def _results(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each id's result line, without what differs by nature between runs (generated ids)."""
    out: dict[str, dict[str, Any]] = {}
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert record["custom_id"] not in out, f"{record['custom_id']} twice"
        record.pop("id")
        out[record["custom_id"]] = record
    return out


async def _run(
    url: str, src: Path, run_dir: Path, *, on_ray: bool, stop_after: int | None = None
) -> BatchJob:
    settings = BatchSettings(concurrency=4, max_retries=2)
    async with AsyncLlamaClient(base_url=url, model=MODEL, max_retries=2) as client:
        job: BatchJob

        def progress(stats: BatchStats) -> None:
            if stop_after is not None and stats.done >= stop_after:
                job.stop()

        job = BatchJob(
            client,
            src,
            run_dir,
            settings,
            engine_factory=ray_engine(workers=2, batch_size=6) if on_ray else None,
            on_progress=progress,
            progress_interval=0.05,
        )
        await job.run()
        return job


def test_a_ray_run_leaves_what_a_single_process_run_leaves(
    local_ray: None, server: FaultServer, tmp_path: Path
) -> None:
    src = _input(tmp_path / "in.jsonl", 60)
    single_script, ray_script = Scripted(), Scripted()
    server.script(single_script)
    single = asyncio.run(_run(server.url, src, tmp_path / "single", on_ray=False))
    server.script(ray_script)
    on_ray = asyncio.run(_run(server.url, src, tmp_path / "ray", on_ray=True))

    assert _results(tmp_path / "ray") == _results(tmp_path / "single")
    assert on_ray.status == single.status == "complete_with_failures"
    for name in ("done", "succeeded", "truncated", "failed", "prompt_tokens", "completion_tokens"):
        assert getattr(on_ray.stats, name) == getattr(single.stats, name), name
    assert on_ray.stats.reasons == single.stats.reasons == {"http_400": 5}
    assert on_ray.stats.rate_limited == single.stats.rate_limited > 0  # the workers' counters
    assert ray_script.attempts == single_script.attempts  # the same retries, per prompt
    manifests = [
        json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("single", "ray")
    ]
    assert manifests[0]["usage"] == manifests[1]["usage"]
    assert manifests[0]["counts"]["succeeded"] == manifests[1]["counts"]["succeeded"] == 55


def test_a_stopped_ray_run_resumes_either_way_and_pays_once(
    local_ray: None, server: FaultServer, tmp_path: Path
) -> None:
    src = _input(tmp_path / "in.jsonl", 90)
    script = Scripted()
    server.script(script)
    run_dir = tmp_path / "run"
    first = asyncio.run(_run(server.url, src, run_dir, on_ray=True, stop_after=12))
    assert first.status == "interrupted"
    written = len(_results(run_dir))
    assert 12 <= written < 90
    # resumed by a single process: only what is missing is sent
    second = asyncio.run(_run(server.url, src, run_dir, on_ray=False))
    assert second.status == "complete_with_failures"
    assert second.stats.done == 90 - written
    results = _results(run_dir)
    assert len(results) == 90
    assert max(script.answered.values()) == 1  # no answer bought twice: the stop waited for it
    # and a Ray run over the finished directory sends nothing
    before = server.attempts
    third = asyncio.run(_run(server.url, src, run_dir, on_ray=True))
    assert third.stats.total == 0 and server.attempts == before


def _session_processes(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(p) for p, s in (line.split() for line in out.splitlines()) if int(s) == sid]


def test_kill_9_of_a_ray_driver_then_rerun_gives_every_id_once(
    server: FaultServer, tmp_path: Path
) -> None:
    src = _input(tmp_path / "in.jsonl", 120)
    script = Scripted(delay=0.2)
    server.script(script)
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_", "RAY_"))}
    env.update(LLAMA_BASE_URL=server.url, LLAMA_MODEL=MODEL, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "llama_client.cli", "batch", "run", str(src), "-o",
               str(run_dir), "--ray", "--ray-address", "local", "--workers", "2",
               "--concurrency", "4", "--progress", "none"]  # fmt: skip
    driver = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # Ray's processes join its session: all of them can be ended
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = run_dir / "results.jsonl"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and driver.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 8:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the Ray run ended before it could be killed"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        for pid in _session_processes(driver.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    killed_at = results.read_bytes().count(b"\n")
    assert killed_at < 120
    rerun = asyncio.run(_run(server.url, src, run_dir, on_ray=False))
    assert rerun.status == "complete_with_failures"
    records = _results(run_dir)  # asserts no id twice
    assert sorted(records) == sorted(f"id-{i}" for i in range(120))
