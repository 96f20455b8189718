"""The Ray backend's parts that need no Ray cluster: the split of the budget, the client
recipe the workers rebuild, one worker's batch run in-process (respx), errors, the CLI flags.

The pipeline itself runs on a local Ray in tests/reliability/test_batch_ray.py (fault server)
and tests/integration/test_batch_ray_it.py (the real local vLLM).
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

from llama_client import AsyncLlamaClient
from llama_client.batch import BatchSettings, iter_requests
from llama_client.batch._ray import (
    INSTALL_HINT,
    _cause,
    _ClientRecipe,
    _EngineWorker,
    _row,
    _windows,
    worker_settings,
)
from llama_client.cli import cli
from llama_client.cli._exit import EXIT_UNAVAILABLE, EXIT_USAGE
from llama_client.errors import AuthenticationError
from tests.wire import BASE_URL, completion_body

SECRET = "sk-ray-5ecret-never-shown"


def test_each_worker_takes_its_share_of_the_budget() -> None:
    settings = BatchSettings(
        concurrency=10, requests_per_minute=600, rate_share=0.5, shard=(0, 2), retry_failed=True
    )
    one = worker_settings(settings, 4)
    assert one.concurrency == 3  # ceil(10 / 4): together at least the whole window
    assert one.rate_share == 0.125  # the fixed and the provider's budgets, split four ways
    assert one.requests_per_minute == 600  # scaled by rate_share inside the limiter
    assert one.shard is None  # the driver already picked the shard's requests
    assert one.retry_failed is True
    assert worker_settings(BatchSettings(concurrency=1), 8).concurrency == 1
    limiter = one.limiter()
    assert limiter.limit <= 3


def test_windows_cover_every_request_once() -> None:
    items = list(range(10))
    windows = list(_windows(items, 4))  # type: ignore[arg-type]
    assert windows == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(_windows([], 4)) == []


async def test_the_recipe_rebuilds_the_client_and_never_shows_the_key() -> None:
    async with AsyncLlamaClient(base_url="http://user:pa55word@llama.test/v1") as client:
        shown = repr(_ClientRecipe(client))
        assert "pa55word" not in shown and "llama.test" in shown
    async with AsyncLlamaClient(
        base_url=BASE_URL,
        api_key=SECRET,
        model="m",
        timeout=12.0,
        max_retries=5,
        default_headers={"X-Team-Token": "tok-5ecret"},
    ) as client:
        recipe = _ClientRecipe(client)
        shown = repr(recipe)
        assert SECRET not in shown and "***" in shown and "X-Team-Token" in shown
        assert "tok-5ecret" not in shown
        again = pickle.loads(pickle.dumps(recipe))  # what Ray does with it
        rebuilt = again.build()
        try:
            assert rebuilt.base_url == client.base_url
            assert rebuilt.api_key == SECRET
            assert rebuilt.model == "m" and rebuilt.max_retries == 5
            assert rebuilt.timeout == client.timeout
            assert rebuilt.providers == client.providers
            assert rebuilt._default_headers == {"X-Team-Token": "tok-5ecret"}
        finally:
            await rebuilt.close()


def _input(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": f"p{i}", "max_tokens": 4}) + "\n" for i in range(n))
    )
    return path


def _batch(path: Path) -> dict[str, list[Any]]:
    rows = [_row(r) for r in iter_requests(path, {"model": "m"})]
    return {key: [row[key] for row in rows] for key in rows[0]}


def _echo(request: httpx.Request) -> httpx.Response:
    prompt = json.loads(request.content)["messages"][-1]["content"]
    if prompt == "p3":
        return httpx.Response(400, json={"error": {"message": "bad p3"}})
    return httpx.Response(200, json=completion_body("re: " + prompt))


def test_a_worker_runs_its_batch_through_the_engine(tmp_path: Path) -> None:
    # In-process (no Ray): what an actor does with one batch of rows.
    async def make() -> _ClientRecipe:
        async with AsyncLlamaClient(base_url=BASE_URL, api_key=SECRET, model="m") as client:
            return _ClientRecipe(client)

    recipe = asyncio.run(make())
    batch = _batch(_input(tmp_path, 6))
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/chat/completions").mock(side_effect=_echo)
        worker = _EngineWorker(recipe, worker_settings(BatchSettings(concurrency=4), 2))
        out = worker(batch)
        again = worker(batch)  # the next batch starts from an empty scratch file
        del worker
    assert route.call_count == 12
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r, _ in route.calls)
    lines = [json.loads(line) for line in out["line"]]
    assert len(lines) == 6 and len(again["line"]) == 6
    assert {r["custom_id"] for r in lines} == set(batch["custom_id"])
    by_prompt = {r["x_llama_client"]["line"]: r for r in lines}
    assert by_prompt[1]["response"]["body"]["choices"][0]["message"]["content"] == "re: p0"
    assert by_prompt[4]["error"]["code"] == "http_400"
    assert sum(out["errors"]) == 1  # the attempts' counters, once per batch
    assert all(line.endswith(b"\n") for line in out["line"])


def test_a_workers_error_comes_out_of_rays_wrapping() -> None:
    inner = AuthenticationError.__new__(AuthenticationError)
    Exception.__init__(inner, "bad key")

    class Wrapped(Exception):
        def __init__(self, cause: BaseException) -> None:
            super().__init__("Traceback (most recent call last): ... many lines")
            self.cause = cause

    assert _cause(Wrapped(inner)) is inner
    outer = RuntimeError("task failed")
    outer.__cause__ = Wrapped(inner)
    assert _cause(outer) is inner
    other = RuntimeError("not ours")
    assert _cause(other) is other


def test_without_ray_the_error_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from llama_client import AsyncLlamaClient\n"
        "from llama_client.batch import RayBatchEngine\n"
        "c = AsyncLlamaClient(base_url='http://127.0.0.1:9/v1', model='m')\n"
        "try:\n"
        "    RayBatchEngine(c, 'r.jsonl')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == INSTALL_HINT
    assert "pip install 'llama-client[ray]'" in INSTALL_HINT


def test_cli_without_ray_exits_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    result = CliRunner().invoke(
        cli,
        ["batch", "run", str(_input(tmp_path, 2)), "-o", str(tmp_path / "run"), "--ray"],
        env={"LLAMA_BASE_URL": "http://127.0.0.1:9/v1", "LLAMA_MODEL": "m"},
    )
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert "pip install 'llama-client[ray]'" in result.stderr


def test_cli_ray_options_need_ray(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["batch", "run", str(_input(tmp_path, 2)), "-o", str(tmp_path / "run"), "--workers", "2"],
        env={"LLAMA_BASE_URL": "http://127.0.0.1:9/v1", "LLAMA_MODEL": "m"},
    )
    assert result.exit_code == EXIT_USAGE
    assert "--workers go with --ray" in result.stderr


def test_the_driver_writes_each_id_once_whatever_the_workers_return(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from llama_client.batch import BatchStateError
    from llama_client.batch._format import encode_result, success_line
    from llama_client.batch._ray import accept_lines

    requests = list(iter_requests(_input(tmp_path, 3), {"model": "m"}))
    lines = [encode_result(success_line(r, completion_body("x"), status_code=200, request_id=None, attempts=1, provider="vllm")) for r in requests]  # fmt: skip
    pending = {r.custom_id: r.body_hash for r in requests}
    first = accept_lines([lines[0], b"", lines[1].rstrip(b"\n")], pending, "results.jsonl")
    assert [line for line, _ in first] == [lines[0], lines[1]]  # newline restored
    assert [record.custom_id for _, record in first] == [r.custom_id for r in requests[:2]]
    # the same answer again (a task Ray ran twice) and an answer to nothing sent: dropped
    stranger = lines[2].replace(requests[2].custom_id.encode(), b"auto-not-sent")
    again = accept_lines([lines[0], stranger, lines[2]], pending, "results.jsonl")
    assert [record.custom_id for _, record in again] == [requests[2].custom_id]
    assert pending == {}
    assert caplog.text.count("a Ray worker returned") == 2
    with pytest.raises(BatchStateError, match="from a Ray worker"):
        accept_lines([b"not json\n"], {}, "results.jsonl")


def test_the_driver_adds_what_workers_answered_to_its_clients_usage(tmp_path: Path) -> None:
    """A Ray run shows in ``client.usage`` as a local run does: the workers' own usage stays in
    their processes, so the driver adds each result it writes."""
    from llama_client.batch._format import encode_result, failure_line, success_line
    from llama_client.batch._ray import RayBatchEngine

    client = AsyncLlamaClient(base_url=BASE_URL, api_key=SECRET, model="m")
    client.usage.set_prices({"vllm:m": (1.0, 2.0)})
    requests = list(iter_requests(_input(tmp_path, 3), {"model": "m"}))
    answer = completion_body("x", usage=(100, 10))
    lines = [
        encode_result(success_line(requests[0], answer, attempts=1, provider="vllm")),
        encode_result(success_line(requests[1], answer, attempts=3, provider="vllm")),
        encode_result(failure_line(requests[2], "server_error", "503", attempts=2)),
    ]
    batch = {"line": lines, "rate_limited": [0], "errors": [3], "retries": [3]}
    engine = RayBatchEngine(client, tmp_path / "results.jsonl")
    pending = {r.custom_id: r.body_hash for r in requests}
    models = {r.custom_id: r.body["model"] for r in requests}

    async def append() -> None:
        fd = os.open(tmp_path / "results.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            await engine._append(asyncio.get_running_loop(), fd, batch, pending, models)
        finally:
            os.close(fd)

    asyncio.run(append())
    row = client.usage.get("vllm", "m")
    assert row is not None
    assert (row.requests, row.errors, row.retries) == (2, 1, 3)  # 0 + 2 retries, 1 for the failure
    assert (row.prompt_tokens, row.completion_tokens) == (200, 20)
    assert row.cost == pytest.approx((200 * 1.0 + 20 * 2.0) / 1e6)
    assert engine.stats.succeeded == 2 and engine.stats.failed == 1
    assert (tmp_path / "results.jsonl").read_bytes() == b"".join(lines)
