"""``kill -9`` a real ``llama-client batch run`` process, then run it again: every input id
ends up exactly once in the results file (0 lost, 0 duplicated), over several kill points,
against the fault server misbehaving on purpose (429 storms with Retry-After, dropped
connections, 5xx). Also: 100k lines against the fault server with flat memory.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faultserver import Behaviour, FaultServer, RecordedRequest, completion, drop, status

ROOT = Path(__file__).resolve().parents[2]


def _storm() -> Behaviour:
    """Per request, by count: a 429 storm (25 in a row, Retry-After 0.1 s) every 150
    requests; otherwise every 9th dropped, every 7th a 503, every 13th a 500; else a 200."""
    ok, too_many = completion("an answer"), status(429, headers={"retry-after": "0.1"})
    unavailable, broken, dropped = status(503), status(500), drop()
    count = 0

    async def behaviour(request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        nonlocal count
        count += 1
        if count % 150 < 25:
            return await too_many(request, writer)
        for every, fault in ((9, dropped), (7, unavailable), (13, broken)):
            if count % every == 0:
                return await fault(request, writer)
        return await ok(request, writer)

    return behaviour


def _write_input(path: Path, n: int) -> list[str]:
    ids = []
    with path.open("w") as f:
        for i in range(n):
            if i % 2:
                f.write(json.dumps({"prompt": f"question {i}"}) + "\n")
                ids.append("")  # an auto id, checked by count
            else:
                cid = f"item-{i}"
                ids.append(cid)
                body = {"messages": [{"role": "user", "content": f"q{i}"}]}
                f.write(json.dumps({"custom_id": cid, "body": body}) + "\n")
    return ids


#: the command's two connection pools (aiohttp where installed)
TRANSPORTS = ["httpx", *(["aiohttp"] if importlib.util.find_spec("aiohttp") else [])]


def _start(src: Path, run_dir: Path, url: str, transport: str = "httpx") -> subprocess.Popen[bytes]:
    env = {**os.environ, "LLAMA_BASE_URL": url, "LLAMA_MODEL": "m", "PYTHONPATH": str(ROOT)}
    env["LLAMA_TRANSPORT"] = transport
    env.pop("LLAMA_PROVIDER", None)
    args = ["batch", "run", str(src), "-o", str(run_dir), "-c", "16", "--max-retries", "6"]
    return subprocess.Popen(
        [sys.executable, "-m", "llama_client.cli", *args, "--progress", "none"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill_when(proc: subprocess.Popen[bytes], results: Path, lines: int) -> bool:
    """SIGKILL ``proc`` once ``results`` holds ``lines`` lines; False if it finished first."""
    deadline = time.monotonic() + 120
    while _lines(results) < lines and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the run made no progress")
        time.sleep(0.005)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    return True


def _check_exactly_once(results: Path, n: int, ids: list[str]) -> Counter[str]:
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    counts = Counter(r["custom_id"] for r in rows)
    dup = {k: v for k, v in counts.items() if v > 1}
    assert dup == {}, f"duplicated ids: {list(dup)[:5]}"
    assert len(counts) == n, f"{n - len(counts)} ids lost"
    assert all(cid in counts for cid in ids if cid)
    return Counter("ok" if r["error"] is None else r["error"]["code"] for r in rows)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kill_9_at_several_points_then_resume_loses_and_duplicates_nothing(
    tmp_path: Path, transport: str
) -> None:
    n = 400
    src, run_dir = tmp_path / "in.jsonl", tmp_path / "run"
    ids = _write_input(src, n)
    results = run_dir / "results.jsonl"
    kills = 0
    with FaultServer() as server:
        server.script(_storm())
        # kill points: before the first result, then after 1, 40, 120 and 250 results
        for point in (0, 1, 40, 120, 250):
            proc = _start(src, run_dir, server.url, transport)
            if point == 0:
                while server.attempts == 0 and proc.poll() is None:  # a request is in flight
                    time.sleep(0.005)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                kills += 1
                continue
            kills += _kill_when(proc, results, point)
        proc = _start(src, run_dir, server.url, transport)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 3), err.decode()[-2000:]
        assert server.attempts > n  # the faults made it retry
    assert kills >= 4
    outcome = _check_exactly_once(results, n, ids)
    assert outcome["ok"] > n * 0.9, outcome
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] in ("complete", "complete_with_failures")
    assert manifest["counts"]["left"] == 0
    assert manifest["transport"] == transport


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_kill_9_at_arbitrary_moments_while_results_are_written(tmp_path: Path) -> None:
    """Five kills, each a moment after the run started writing results: most land in the
    middle of a group write (a torn last line the next run must drop)."""
    n = 300
    src, run_dir = tmp_path / "in.jsonl", tmp_path / "run"
    ids = _write_input(src, n)
    results = run_dir / "results.jsonl"
    mid_run = torn = 0
    with FaultServer() as server:
        server.script(_storm())
        for delay in (0.0, 0.03, 0.1, 0.0, 0.2):
            size = _size(results)
            proc = _start(src, run_dir, server.url)
            deadline = time.monotonic() + 120
            while _size(results) <= size and proc.poll() is None:
                assert time.monotonic() < deadline, "the run made no progress"
                time.sleep(0.001)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                mid_run += _lines(results) < n
                torn += not results.read_bytes().endswith(b"\n")
        proc = _start(src, run_dir, server.url)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 3), err.decode()[-2000:]
    assert mid_run >= 3
    print(f"{mid_run} kills mid-run, {torn} left a torn line")
    _check_exactly_once(results, n, ids)


def test_ctrl_c_stops_cleanly_with_130_and_the_run_resumes(tmp_path: Path) -> None:
    n = 300
    src, run_dir = tmp_path / "in.jsonl", tmp_path / "run"
    ids = _write_input(src, n)
    results = run_dir / "results.jsonl"
    with FaultServer() as server:
        server.script(_storm())
        proc = _start(src, run_dir, server.url)
        deadline = time.monotonic() + 120
        while _lines(results) < 30 and proc.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        if _lines(results) < n:  # it was still running when Ctrl-C arrived
            assert proc.returncode == 130, err.decode()[-2000:]
            assert "run the same command again to resume" in err.decode()
            assert "Traceback" not in err.decode()
            assert results.read_bytes().endswith(b"\n")  # stopped between whole lines
            manifest = json.loads((run_dir / "manifest.json").read_text())
            assert manifest["status"] == "interrupted"
        proc = _start(src, run_dir, server.url)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 3), err.decode()[-2000:]
    _check_exactly_once(results, n, ids)
