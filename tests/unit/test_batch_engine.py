"""The batch engine over the client's one path, against respx (offline, no sleeping beyond
zero-second Retry-After waits)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llama_client import (
    APIConnectionError,
    AsyncLlamaClient,
    AuthenticationError,
    InvalidRequestError,
)
from llama_client.batch import (
    BatchJob,
    BatchSettings,
    dry_run,
    export_run,
    merge_results,
    results_files,
    run_status,
)
from tests.wire import BASE_URL, completion_body

URL = BASE_URL + "/chat/completions"


def _input(tmp_path: Path, n: int, **extra: Any) -> Path:
    path = tmp_path / "in.jsonl"
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt": f"p{i}", **extra}) + "\n")
    return path


def _prompt(request: httpx.Request) -> str:
    return str(json.loads(request.content)["messages"][-1]["content"])


def _echo(finish: str = "stop", usage: tuple[int, int] = (10, 5)) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=completion_body("re: " + _prompt(request), finish_reason=finish, usage=usage),
            headers={"x-request-id": "req-" + _prompt(request)},
        )

    return answer


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def _run(tmp_path: Path, src: Path, **settings: Any) -> BatchJob:
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        job = BatchJob(client, src, tmp_path / "run", BatchSettings(**settings))
        await job.run()
        return job


@respx.mock
async def test_every_line_answered_once_and_a_rerun_sends_nothing(tmp_path: Path) -> None:
    route = respx.post(URL).mock(side_effect=_echo())
    src = _input(tmp_path, 30)
    job = await _run(tmp_path, src, concurrency=4)
    assert job.status == "complete"
    rows = _lines(tmp_path / "run" / "results.jsonl")
    assert len(rows) == 30 and len({r["custom_id"] for r in rows}) == 30
    first = next(r for r in rows if r["x_llama_client"]["line"] == 1)
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "re: p0"
    assert first["response"]["request_id"] == "req-p0"
    assert first["error"] is None
    assert job.stats.succeeded == 30 and job.stats.prompt_tokens == 300
    assert route.call_count == 30

    again = await _run(tmp_path, src, concurrency=4)
    assert route.call_count == 30  # nothing sent twice
    assert again.stats.total == 0 and again.status == "complete"
    assert len(_lines(tmp_path / "run" / "results.jsonl")) == 30
    assert again.stats.prior_prompt_tokens == 300  # usage of earlier runs is kept


@respx.mock
async def test_the_request_is_the_bodys_model_params_and_unknown_fields_as_extra_body(
    tmp_path: Path,
) -> None:
    route = respx.post(URL).mock(side_effect=_echo())
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps(
            {
                "custom_id": "a",
                "body": {
                    "model": "other",
                    "messages": [{"role": "user", "content": "x"}],
                    "max_tokens": 7,
                    "ignore_eos": True,
                },
            }
        )
        + "\n"
    )
    await _run(tmp_path, src, defaults={"temperature": 0.3})
    sent = json.loads(route.calls[0].request.content)
    assert sent["model"] == "other" and sent["max_tokens"] == 7
    assert sent["ignore_eos"] is True and sent["temperature"] == 0.3
    assert "stream" not in sent or sent["stream"] is False


@respx.mock
async def test_failures_are_recorded_with_their_reason_never_dropped(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        prompt = _prompt(request)
        if prompt == "p1":
            return httpx.Response(400, json={"error": {"message": "bad thing", "code": 400}})
        if prompt == "p2":
            return httpx.Response(503, json={"error": "down"}, headers={"retry-after": "0"})
        if prompt == "p3":
            return httpx.Response(200, content=b"{not json")
        return _echo()(request)

    route = respx.post(URL).mock(side_effect=answer)
    src = _input(tmp_path, 5)
    job = await _run(tmp_path, src, concurrency=2, max_retries=2)
    assert job.status == "complete_with_failures"
    rows = {r["x_llama_client"]["line"]: r for r in _lines(tmp_path / "run" / "results.jsonl")}
    assert len(rows) == 5
    assert rows[2]["error"]["code"] == "http_400" and "bad thing" in rows[2]["error"]["message"]
    assert rows[2]["response"]["status_code"] == 400
    assert rows[2]["x_llama_client"]["attempts"] == 1  # a 400 is not retried
    assert rows[3]["error"]["code"] == "server_error"
    assert rows[3]["x_llama_client"]["attempts"] == 3  # the client's policy: 2 retries
    assert rows[4]["error"]["code"] == "invalid_response"
    assert rows[1]["error"] is None and rows[5]["error"] is None
    assert job.stats.failed == 3 and job.stats.reasons == {
        "http_400": 1,
        "server_error": 1,
        "invalid_response": 1,
    }
    assert route.call_count == 1 + 1 + 3 + 1 + 1

    # recorded failures are not retried by a plain re-run, only with retry_failed
    await _run(tmp_path, src)
    assert route.call_count == 7
    respx.post(URL).mock(side_effect=_echo())
    fixed = await _run(tmp_path, src, retry_failed=True)
    assert fixed.stats.total == 3 and fixed.stats.succeeded == 3
    assert fixed.status == "complete"


@respx.mock
async def test_a_connection_error_is_retried_then_recorded(tmp_path: Path) -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    job = await _run(tmp_path, _input(tmp_path, 1), max_retries=0)
    (row,) = _lines(tmp_path / "run" / "results.jsonl")
    assert row["error"]["code"] == "connection_error" and row["response"] is None
    assert job.stats.failed == 1


@respx.mock
async def test_a_server_that_fails_every_line_stops_the_run_and_nothing_is_recorded(
    tmp_path: Path,
) -> None:
    route = respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    src = _input(tmp_path, 500)
    with pytest.raises(APIConnectionError, match="refused"):
        await _run(tmp_path, src, concurrency=4, max_retries=0, max_consecutive_failures=10)
    results = tmp_path / "run" / "results.jsonl"
    assert results.read_bytes() == b""  # the lines are not at fault: none is marked failed
    assert route.call_count < 20  # stopped after 10 failures in a row (and those in flight)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["counts"]["failed"] == 0

    # the server is back: a plain re-run (no retry_failed) sends every line
    route.mock(side_effect=_echo())
    job = await _run(tmp_path, src, concurrency=4)
    assert job.status == "complete" and job.stats.succeeded == 500


@respx.mock
async def test_a_refused_key_stops_the_run_at_the_first_answer(tmp_path: Path) -> None:
    route = respx.post(URL).respond(401, json={"error": {"message": "bad key"}})
    with pytest.raises(AuthenticationError):
        await _run(tmp_path, _input(tmp_path, 100), concurrency=1)
    assert route.call_count == 1
    assert (tmp_path / "run" / "results.jsonl").read_bytes() == b""


@respx.mock
async def test_failures_between_answers_are_the_lines_own_and_recorded(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if int(_prompt(request)[1:]) % 4:  # three lines in four fail, one in four is answered
            return httpx.Response(400, json={"error": {"message": "bad line"}})
        return _echo()(request)

    src = _input(tmp_path, 200)
    respx.post(URL).mock(side_effect=answer)
    job = await _run(tmp_path, src, concurrency=1, max_consecutive_failures=5)
    assert job.status == "complete_with_failures"
    assert (job.stats.succeeded, job.stats.failed) == (50, 150)
    assert len(_lines(tmp_path / "run" / "results.jsonl")) == 200

    # failures at the end, fewer than the limit, after answers: recorded when the run ends
    tail = tmp_path / "tail"
    tail.mkdir()
    respx.post(URL).mock(
        side_effect=lambda r: _echo()(r) if int(_prompt(r)[1:]) < 7 else httpx.Response(400)
    )
    job = await _run(tail, _input(tail, 10), concurrency=1, max_consecutive_failures=5)
    assert (job.stats.succeeded, job.stats.failed) == (7, 3)


@respx.mock
async def test_max_consecutive_failures_0_records_every_failure(tmp_path: Path) -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    job = await _run(
        tmp_path, _input(tmp_path, 60), concurrency=4, max_retries=0, max_consecutive_failures=0
    )
    assert job.stats.failed == 60 and job.status == "complete_with_failures"
    assert BatchSettings(concurrency=40).failure_streak_limit() == 80
    assert BatchSettings().failure_streak_limit() == 64
    for bad in (-1, 1.5, True):
        with pytest.raises(InvalidRequestError, match="max_consecutive_failures"):
            BatchSettings(max_consecutive_failures=bad)


@respx.mock
async def test_retries_are_interleaved_with_new_work(tmp_path: Path) -> None:
    failed_once: set[str] = set()

    async def answer(request: httpx.Request) -> httpx.Response:
        prompt = _prompt(request)
        if prompt == "p0" and prompt not in failed_once:
            failed_once.add(prompt)
            return httpx.Response(503, json={"error": "x"}, headers={"retry-after": "0.05"})
        await asyncio.sleep(0.01)  # 50 answers take >= 0.5 s; p0 may come back after 0.05 s
        return _echo()(request)

    route = respx.post(URL).mock(side_effect=answer)
    await _run(tmp_path, _input(tmp_path, 50), concurrency=1)
    order = [_prompt(call.request) for call in route.calls]
    assert order[0] == "p0" and order[1] == "p1"  # the next item took the slot
    second = order.index("p0", 1)
    assert second < 40  # p0 came back while new work was still going, not at the end
    assert len(order) == 51


@respx.mock
async def test_429s_back_off_and_do_not_use_up_retries(tmp_path: Path) -> None:
    state = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        state["n"] += 1
        if state["n"] <= 3:
            return httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "0"})
        return _echo()(request)

    respx.post(URL).mock(side_effect=answer)
    job = await _run(tmp_path, _input(tmp_path, 2), max_retries=0, concurrency=1)
    assert job.stats.succeeded == 2 and job.stats.rate_limited == 3
    rows = _lines(tmp_path / "run" / "results.jsonl")
    assert all(r["error"] is None for r in rows)


@respx.mock
async def test_endless_429s_end_as_a_recorded_rate_limit_failure(tmp_path: Path) -> None:
    respx.post(URL).respond(429, json={"error": "no"}, headers={"retry-after": "0"})
    job = await _run(tmp_path, _input(tmp_path, 1), max_rate_limit_retries=2)
    (row,) = _lines(tmp_path / "run" / "results.jsonl")
    assert row["error"]["code"] == "rate_limited" and row["response"]["status_code"] == 429
    assert job.stats.rate_limited == 3


@respx.mock
async def test_a_length_finish_is_recorded_and_not_bought_again(tmp_path: Path) -> None:
    route = respx.post(URL).mock(side_effect=_echo(finish="length"))
    src = _input(tmp_path, 3)
    job = await _run(tmp_path, src)
    assert job.stats.truncated == 3 and job.stats.succeeded == 3 and job.stats.failed == 0
    await _run(tmp_path, src, retry_failed=True)
    assert route.call_count == 3
    assert run_status(tmp_path / "run").truncated == 3


@respx.mock
async def test_a_changed_body_is_sent_again(tmp_path: Path) -> None:
    route = respx.post(URL).mock(side_effect=_echo())
    src = _input(tmp_path, 3)
    await _run(tmp_path, src)
    await _run(tmp_path, src, defaults={"temperature": 0.9})  # every body changes
    assert route.call_count == 6
    lines = src.read_text().splitlines()
    lines[1] = json.dumps({"prompt": "p1", "seed": 3})  # a new line: a new id
    src.write_text("\n".join(lines) + "\n")
    await _run(tmp_path, src, defaults={"temperature": 0.9})
    assert route.call_count == 7


@respx.mock
async def test_usage_and_cost_are_summed_in_the_manifest(tmp_path: Path) -> None:
    respx.post(URL).mock(side_effect=_echo(usage=(1000, 500)))
    src = _input(tmp_path, 4)
    job = await _run(tmp_path, src, prices={"m": (1.0, 2.0)})
    assert job.stats.cost == pytest.approx((4000 * 1.0 + 2000 * 2.0) / 1e6)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["usage"]["prompt_tokens"] == 4000
    assert manifest["cost"]["usd"] == pytest.approx(0.008)
    assert manifest["cost"]["estimate"] is True
    assert manifest["cost"]["price"]["source"] == "override"
    assert manifest["input"]["requests"] == 4 and manifest["status"] == "complete"
    assert manifest["counts"]["succeeded"] == 4
    assert "api_key" not in json.dumps(manifest)


@respx.mock
async def test_stop_ends_cleanly_and_the_next_run_finishes_the_rest(tmp_path: Path) -> None:
    jobs: list[BatchJob] = []
    sent = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 5:
            jobs[0].stop()  # like Ctrl-C while the 5th request is in flight
        return _echo()(request)

    route = respx.post(URL).mock(side_effect=answer)
    src = _input(tmp_path, 40)
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        job = BatchJob(client, src, tmp_path / "run", BatchSettings(concurrency=1))
        jobs.append(job)
        await job.run()
    assert job.status == "interrupted"
    stopped_at = len(_lines(tmp_path / "run" / "results.jsonl"))
    assert stopped_at == 5 == route.call_count  # the request in flight was finished and kept
    rest = await _run(tmp_path, src)
    assert rest.status == "complete" and rest.stats.total == 40 - stopped_at
    rows = _lines(tmp_path / "run" / "results.jsonl")
    assert len(rows) == 40 == len({r["custom_id"] for r in rows}) == route.call_count


@respx.mock
async def test_shards_in_parallel_equal_one_run(tmp_path: Path) -> None:
    respx.post(URL).mock(side_effect=_echo())
    src = _input(tmp_path, 60)
    run = tmp_path / "run"
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        jobs = [
            BatchJob(
                client,
                src,
                run,
                BatchSettings(shard=(i, 3), rate_share=1 / 3),
                results_path=run / f"results-{i:05d}-of-00003.jsonl",
                manifest=False,
            )
            for i in range(3)
        ]
        await asyncio.gather(*(j.run() for j in jobs))
        assert sum(j.stats.done for j in jobs) == 60
        assert len(results_files(run)) == 3
        # a single-process re-run sees the shard files as done
        check = BatchJob(client, src, run)
        check.prepare()
        assert check.scan is not None and check.scan.done == 60 and check.scan.pending == 0
    assert merge_results(run) == 60
    assert merge_results(run) == 60  # idempotent
    assert [p.name for p in results_files(run)] == ["results.jsonl"]
    rows = _lines(run / "results.jsonl")
    assert sorted(r["custom_id"] for r in rows) == sorted({r["custom_id"] for r in rows})


def test_dry_run_counts_and_prices_without_sending(tmp_path: Path) -> None:
    src = _input(tmp_path, 10, max_tokens=100)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(URL)
        report = dry_run(
            src,
            BatchSettings(prices={"groq:llama-3.1-8b-instruct": (1.0, 1.0)}),
            provider="groq",
            model="llama-3.1-8b-instruct",
        )
        assert route.call_count == 0
    assert report.requests == 10 == report.pending
    assert report.completion_tokens == 1000
    assert report.prompt_tokens > 0
    assert report.cost == pytest.approx((report.prompt_tokens + 1000) / 1e6)
    data = report.as_dict()
    assert data["to_send"] == 10 and data["price"]["source"] == "override"


def test_dry_run_counts_prompt_tokens_with_the_llama_tokenizer(tmp_path: Path) -> None:
    pytest.importorskip("tiktoken")
    pytest.importorskip("llama_models")
    from llama_client.tokens import count_tokens

    src = _input(tmp_path, 3)
    exact = dry_run(src, provider="vllm", model="llama-3.1-8b-instruct")
    rough = dry_run(src, provider="vllm", model="llama-3.1-8b-instruct", exact=False)
    expected = sum(count_tokens([{"role": "user", "content": f"p{i}"}]) for i in range(3))
    assert exact.exact_tokens and exact.prompt_tokens == expected
    assert not rough.exact_tokens and rough.prompt_tokens != expected
    assert abs(rough.prompt_tokens - expected) <= 3 * 5  # the rough estimate is close here


def test_dry_run_without_a_known_price_says_so(tmp_path: Path) -> None:
    report = dry_run(_input(tmp_path, 2), provider="vllm", model="my-finetune")
    assert report.price is None and report.cost is None


@respx.mock
async def test_export_from_a_run_directory(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        finish = "length" if _prompt(request) == "p1" else "stop"
        return _echo(finish=finish)(request)

    respx.post(URL).mock(side_effect=answer)
    src = _input(tmp_path, 3)
    await _run(tmp_path, src)
    out = tmp_path / "train.jsonl"
    report = export_run(tmp_path / "run", out, "messages")
    assert report.written == 2 and report.finish_reason == {"length": 1}
    first = json.loads(out.read_text().splitlines()[0])
    assert first == {
        "messages": [
            {"role": "user", "content": "p0"},
            {"role": "assistant", "content": "re: p0"},
        ]
    }
    everything = export_run(tmp_path / "run", out, "messages", finish_reasons=None)
    assert everything.written == 3


@respx.mock
async def test_a_results_file_that_cannot_be_written_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from llama_client.batch import _engine

    route = respx.post(URL).mock(side_effect=_echo())
    real = _engine.append_durably
    calls = {"n": 0}

    def failing(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(_engine, "append_durably", failing)
    monkeypatch.setattr(_engine, "_MAX_UNWRITTEN", 4)
    src = _input(tmp_path, 1000)
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        job = BatchJob(client, src, tmp_path / "run", BatchSettings(concurrency=1))
        with pytest.raises(OSError, match="No space"):
            await job.run()
    assert job.status == "interrupted"
    written = len(_lines(tmp_path / "run" / "results.jsonl"))
    assert written == job.stats.done >= 2
    # it stopped buying answers it could not keep: at most the unwritten bound (4) and the
    # request in flight beyond what was written
    assert route.call_count <= written + 4 + 1
    monkeypatch.setattr(_engine, "append_durably", real)
    rest = await _run(tmp_path, src)
    assert rest.stats.total == 1000 - written and rest.status == "complete"


@respx.mock
async def test_an_answer_that_cannot_be_stored_is_recorded_as_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_client.batch import _engine

    respx.post(URL).mock(side_effect=_echo())

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("cannot store this answer")

    monkeypatch.setattr(_engine, "success_line", broken)
    monkeypatch.setattr(_engine, "success_line_bytes", broken)  # the answer-as-sent path
    job = await _run(tmp_path, _input(tmp_path, 2))
    rows = _lines(tmp_path / "run" / "results.jsonl")
    assert len(rows) == 2 and job.stats.failed == 2
    assert all(r["error"]["code"] == "internal_error" for r in rows)
    assert "cannot store this answer" in rows[0]["error"]["message"]


@respx.mock
async def test_an_answer_is_stored_with_the_servers_own_bytes(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = completion_body("re: " + _prompt(request), usage=(7, 2))
        body["choices"][0]["stop_reason"] = None  # a vLLM extra
        body["kv_transfer_params"] = None
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return httpx.Response(200, content=content, headers={"x-request-id": "r1"})

    respx.post(URL).mock(side_effect=answer)
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        job = BatchJob(client, _input(tmp_path, 3), tmp_path / "run", BatchSettings())
        await job.run()
        assert client.usage.prompt_tokens == 21  # the client's totals still hear of it
    text = (tmp_path / "run" / "results.jsonl").read_bytes()
    for raw in text.splitlines():
        row = json.loads(raw)
        sent = json.dumps(row["response"]["body"], separators=(",", ":"), ensure_ascii=False)
        assert sent.encode() in raw  # the body as it came, not decoded and re-encoded
        assert row["response"]["request_id"] == "r1" and row["error"] is None
        assert row["response"]["body"]["kv_transfer_params"] is None
    assert (job.stats.prompt_tokens, job.stats.completion_tokens) == (21, 6)


@respx.mock
async def test_answers_not_plainly_a_completion_are_read_by_the_model(tmp_path: Path) -> None:
    """The cheap path takes only plain bodies: the rest are read as before, so a bad body is a
    recorded failure showing what arrived, and a vendor's shape is normalized."""

    def answer(request: httpx.Request) -> httpx.Response:
        prompt = _prompt(request)
        body = completion_body("re: " + prompt)
        if prompt == "p0":  # pretty-printed: still one line in the results
            return httpx.Response(200, content=json.dumps(body, indent=2).encode())
        if prompt == "p1":  # a NaN in an extra field: stored as null
            return httpx.Response(200, content=json.dumps({**body, "score": float("nan")}).encode())
        if prompt == "p2":  # a vendor's finish reason: normalized as the client does
            return httpx.Response(200, json=completion_body("x", finish_reason="max_tokens"))
        if prompt == "p3":  # not a completion at all
            return httpx.Response(200, json={**body, "choices": "none"})
        if prompt == "p4":  # an error in a 200
            return httpx.Response(200, json={"error": {"message": "overloaded"}})
        return httpx.Response(200, json=body)

    respx.post(URL).mock(side_effect=answer)
    job = await _run(tmp_path, _input(tmp_path, 6))
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6
    rows = {r["x_llama_client"]["line"]: r for r in map(json.loads, lines)}
    assert rows[1]["response"]["body"]["choices"][0]["message"]["content"] == "re: p0"
    assert rows[2]["error"] is None and rows[2]["response"]["body"]["score"] is None
    choice = rows[3]["response"]["body"]["choices"][0]
    assert (choice["finish_reason"], choice["raw_finish_reason"]) == ("length", "max_tokens")
    assert rows[4]["error"]["code"] == "invalid_response" and "none" in rows[4]["error"]["message"]
    assert rows[5]["error"]["code"] == "invalid_response"
    assert "overloaded" in rows[5]["error"]["message"]
    assert rows[6]["error"] is None
    assert job.stats.succeeded == 4 and job.stats.failed == 2 and job.stats.truncated == 1


@respx.mock
async def test_the_heap_is_frozen_while_runs_are_under_way(tmp_path: Path) -> None:
    import gc

    seen: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(gc.get_freeze_count())
        return _echo()(request)

    respx.post(URL).mock(side_effect=answer)
    assert gc.get_freeze_count() == 0
    await _run(tmp_path, _input(tmp_path, 3))
    assert len(seen) == 3 and all(seen)  # left out of the collector's passes meanwhile
    assert gc.get_freeze_count() == 0  # and given back after
    # two runs at once: given back when the last ends
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    await asyncio.gather(_run(a, _input(a, 5)), _run(b, _input(b, 5)))
    assert gc.get_freeze_count() == 0
    # a heap its process froze itself stays frozen
    gc.freeze()
    try:
        c = tmp_path / "c"
        c.mkdir()
        await _run(c, _input(c, 2))
        assert gc.get_freeze_count() > 0  # not given back by the run: not the run's to give
    finally:
        gc.unfreeze()
