"""100k lines through the batch engine against the fast fake server (benchmarks/server.py, a
separate process on 127.0.0.1): the run's memory stays flat. RSS is sampled in the running
process; the check is a bound on growth between 10 % done and the end, not a time."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RUNNER = r"""
import asyncio, json, sys
from llama_client import AsyncLlamaClient
from llama_client.batch import BatchJob, BatchSettings

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

async def main(url, src, run_dir, transport):
    samples = []
    async with AsyncLlamaClient(base_url=url, model="m", transport=transport) as client:
        job = BatchJob(client, src, run_dir, BatchSettings(concurrency=64),
                       on_progress=lambda s: samples.append((s.done, rss_mb())),
                       progress_interval=0.5)
        await job.run()
    print(json.dumps({"samples": samples, "done": job.stats.done, "total": job.stats.total}))

asyncio.run(main(*sys.argv[1:5]))
"""


@pytest.fixture
def fake_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "server.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_100k_lines_with_flat_memory(fake_server: str, tmp_path: Path) -> None:
    n = 100_000
    src = tmp_path / "in.jsonl"
    with src.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt": f"question {i}: " + "x" * 200}) + "\n")
    transport = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, fake_server, str(src), str(tmp_path / "run"), transport],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["done"] == n == report["total"]
    lines = (tmp_path / "run" / "results.jsonl").read_bytes().count(b"\n")
    assert lines == n
    samples = report["samples"]
    early = [rss for done, rss in samples if done >= n // 10]
    assert len(early) >= 3, samples
    growth = max(rss for _, rss in samples) - early[0]
    # 100k results of ~1 KB each went through; holding them would cost > 100 MB.
    assert growth < 15, f"RSS grew {growth:.1f} MB from 10% done to the end: {samples}"
