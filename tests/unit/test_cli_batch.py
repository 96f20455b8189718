"""``llama-client batch``: run / status / export / dry-run through click's CliRunner (stdout
is not a terminal there: plain progress lines) against respx, and their exit codes."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner, Result

from llama_client.batch import BatchStats
from llama_client.cli import cli
from llama_client.cli._exit import (
    EXIT_API_ERROR,
    EXIT_FAILED_ITEMS,
    EXIT_IO_ERROR,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from llama_client.cli.batch import format_line, parse_params
from tests.wire import LOCAL_BASE_URL, completion_body

SECRET = "sk-batch-cli-5ecret"


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    monkeypatch.setenv("LLAMA_BASE_URL", LOCAL_BASE_URL)
    monkeypatch.setenv("LLAMA_MODEL", "m")
    monkeypatch.setenv("LLAMA_API_KEY", SECRET)
    monkeypatch.setenv("LLAMA_TRANSPORT", "httpx")  # respx answers httpx's pool, not aiohttp's
    with respx.mock(base_url=LOCAL_BASE_URL, assert_all_called=False) as router:
        yield router


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["batch", *args])


def _input(tmp_path: Path, *prompts: str) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return path


def _answer(request: httpx.Request) -> httpx.Response:
    prompt = json.loads(request.content)["messages"][-1]["content"]
    if prompt == "fail":
        return httpx.Response(400, json={"error": {"message": "refused", "code": 400}})
    return httpx.Response(200, json=completion_body(f"A:{prompt}", usage=(100, 10)))


def test_run_status_export_end_to_end(mock: respx.MockRouter, tmp_path: Path) -> None:
    route = mock.post("/chat/completions").mock(side_effect=_answer)
    src = _input(tmp_path, "a", "b", "c")
    out = tmp_path / "run"
    args = ("run", str(src), "-o", str(out), "--price", "1", "2", "--param", "temperature=0.5")
    result = run(*args)
    assert result.exit_code == EXIT_OK, result.output
    assert "3/3 done" in result.output  # the plain progress line (not a terminal)
    assert "complete: 3 answered" in result.output
    assert SECRET not in result.output
    assert json.loads(route.calls[0].request.content)["temperature"] == 0.5
    assert json.loads((out / "manifest.json").read_text())["transport"] == "httpx"

    again = run(*args)
    assert again.exit_code == EXIT_OK and route.call_count == 3  # resumed: nothing to send

    status = run("status", str(out))
    assert status.exit_code == EXIT_OK
    assert "answered:  3" in status.output and "300 prompt" in status.output
    assert "~$0.0004" in status.output  # 300 x $1 + 30 x $2 per 1M
    data = json.loads(run("status", str(out), "--json").output)
    assert data["succeeded"] == 3 and data["status"] == "complete"

    train = tmp_path / "train.jsonl"
    exported = run("export", str(out), str(train), "-f", "sharegpt")
    assert exported.exit_code == EXIT_OK and "wrote 3 examples" in exported.output
    first = json.loads(train.read_text().splitlines()[0])
    assert first["conversations"][-1] == {"from": "gpt", "value": "A:a"}


def test_failed_items_exit_3_and_retry_failed_sends_them_again(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = mock.post("/chat/completions").mock(side_effect=_answer)
    src = _input(tmp_path, "ok", "fail")
    out = tmp_path / "run"
    result = run("run", str(src), "-o", str(out))
    assert result.exit_code == EXIT_FAILED_ITEMS, result.output
    assert "1 failed" in result.output
    assert run("run", str(src), "-o", str(out)).exit_code == EXIT_FAILED_ITEMS
    assert route.call_count == 2  # the recorded failure is not re-sent by default
    route.mock(side_effect=lambda r: httpx.Response(200, json=completion_body("now ok")))
    assert run("run", str(src), "-o", str(out), "--retry-failed").exit_code == EXIT_OK
    assert route.call_count == 3


def test_a_server_failing_every_line_stops_the_run_with_exit_1_and_records_nothing(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = mock.post("/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    src = _input(tmp_path, *(f"q{i}" for i in range(300)))
    out = tmp_path / "run"
    args = ("run", str(src), "-o", str(out), "-c", "2", "--max-retries", "0")
    result = run(*args, "--max-consecutive-failures", "5")
    assert result.exit_code == EXIT_API_ERROR, result.output
    assert "APIConnectionError" in result.output and "refused" in result.output
    assert route.call_count <= 7 and (out / "results.jsonl").read_bytes() == b""
    failed_attempts = route.call_count
    route.mock(side_effect=_answer)  # back: the same command sends every line
    assert run(*args).exit_code == EXIT_OK and route.call_count == failed_attempts + 300
    assert len((out / "results.jsonl").read_text().splitlines()) == 300


def test_bad_input_exits_2_before_sending(mock: respx.MockRouter, tmp_path: Path) -> None:
    route = mock.post("/chat/completions").mock(side_effect=_answer)
    src = _input(tmp_path, "same", "same")
    result = run("run", str(src), "-o", str(tmp_path / "run"))
    assert result.exit_code == EXIT_USAGE
    assert "repeated on lines 1, 2" in result.output
    assert route.call_count == 0
    assert run("dry-run", str(src)).exit_code == EXIT_USAGE


def test_run_picks_aiohttp_when_installed_else_what_it_is_told(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import llama_client.client

    asked: list[str] = []
    real = llama_client.client.AsyncLlamaClient

    def recording(*, transport: str, **kwargs: Any) -> Any:
        asked.append(transport)
        return real(transport="httpx", **kwargs)  # served by respx either way

    monkeypatch.setattr(llama_client.client, "AsyncLlamaClient", recording)
    mock.post("/chat/completions").mock(side_effect=_answer)
    src = _input(tmp_path, "a")
    assert run("run", str(src), "-o", str(tmp_path / "r1")).exit_code == EXIT_OK  # env: httpx
    monkeypatch.delenv("LLAMA_TRANSPORT")
    assert run("run", str(src), "-o", str(tmp_path / "r2"), "--transport", "httpx").exit_code == 0
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)  # no aiohttp here
    assert run("run", str(src), "-o", str(tmp_path / "r3")).exit_code == EXIT_OK
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())  # installed
    assert run("run", str(src), "-o", str(tmp_path / "r4")).exit_code == EXIT_OK
    assert run("run", str(src), "-o", str(tmp_path / "r5"), "--transport", "aiohttp").exit_code == 0
    assert asked == ["httpx", "httpx", "httpx", "aiohttp", "aiohttp"]


def test_asking_for_aiohttp_without_it_exits_4_with_the_extra_to_install(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    route = mock.post("/chat/completions").mock(side_effect=_answer)
    monkeypatch.setitem(sys.modules, "llama_client._aiohttp_transport", None)  # not importable
    src = _input(tmp_path, "a")
    result = run("run", str(src), "-o", str(tmp_path / "run"), "--transport", "aiohttp")
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert "pip install 'llama-client[aiohttp]'" in result.output
    assert route.call_count == 0


def test_status_of_a_directory_that_is_no_run_exits_74(tmp_path: Path) -> None:
    result = run("status", str(tmp_path))
    assert result.exit_code == EXIT_IO_ERROR and "no manifest" in result.output


def test_dry_run_estimates_without_a_key_or_a_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    src = _input(tmp_path, "x" * 400, "y")
    with respx.mock(assert_all_called=False) as router:
        anything = router.route()
        result = run(
            "dry-run",
            str(src),
            "-p",
            "groq",
            "-m",
            "llama-3.1-8b-instruct",
            "--param",
            "max_tokens=10",
            "--json",
        )
        assert anything.call_count == 0
    assert result.exit_code == EXIT_OK, result.output
    data = json.loads(result.output)
    assert data["requests"] == 2 and data["estimated_completion_tokens_at_most"] == 20
    assert data["estimated_cost_usd_at_most"] > 0
    plain = run("dry-run", str(src), "-m", "my-model")
    assert "cost:      unknown" in plain.output and "nothing was sent" in plain.output


def test_parse_params_reads_json_values() -> None:
    assert parse_params(("temperature=0.7", 'stop=["x"]', "user=bob", "seed=3")) == {
        "temperature": 0.7,
        "stop": ["x"],
        "user": "bob",
        "seed": 3,
    }
    with pytest.raises(Exception, match="key=value"):
        parse_params(("oops",))


def test_progress_line_shows_every_figure() -> None:
    stats = BatchStats(total=10, done=4, in_flight=3, rate_limited=2, failed=1, errors=5)
    line = format_line(stats)
    for part in (
        "4/10 done",
        "req/s",
        "tok/s",
        "3 in flight",
        "2 429s",
        "1 failed",
        "cost n/a",
        "ETA",
    ):
        assert part in line


def test_export_filters_by_finish_reason(mock: respx.MockRouter, tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][-1]["content"]
        finish = "length" if prompt == "long" else "stop"
        return httpx.Response(200, json=completion_body("x", finish_reason=finish))

    mock.post("/chat/completions").mock(side_effect=answer)
    src = _input(tmp_path, "short", "long")
    out = tmp_path / "run"
    assert run("run", str(src), "-o", str(out)).exit_code == EXIT_OK
    train = tmp_path / "t.jsonl"
    result = run("export", str(out), str(train))
    assert "wrote 1 examples" in result.output and "1 length" in result.output
    result = run("export", str(out), str(train), "--any-finish-reason")
    assert "wrote 2 examples" in result.output
    result = run("export", str(out), str(train), "--finish-reason", "length", "-f", "alpaca")
    assert "wrote 1 examples" in result.output


GUARD = "meta-llama/Llama-Guard-3-8B"


def test_export_keeps_only_what_llama_guard_finds_safe(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    guard_calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["model"] == GUARD:
            guard_calls.append(body)
            last = body["messages"][-1]["content"]
            verdict = "unsafe\nS9" if "bomb" in str(last) else "safe"
            return httpx.Response(200, json=completion_body(verdict))
        prompt = body["messages"][-1]["content"]
        return httpx.Response(200, json=completion_body(f"about {prompt}"))

    mock.post("/chat/completions").mock(side_effect=answer)
    mock.get("/models").respond(
        200, json={"object": "list", "data": [{"id": GUARD, "object": "model"}, {"id": "m"}]}
    )
    src = _input(tmp_path, "cats", "a bomb", "tea")
    out = tmp_path / "run"
    assert run("run", str(src), "-o", str(out)).exit_code == EXIT_OK
    train = tmp_path / "t.jsonl"
    result = run("export", str(out), str(train), "--safety-model", "llama-guard-3-8b")
    assert result.exit_code == EXIT_OK, result.output
    kept = [json.loads(line)["messages"][-1]["content"] for line in train.read_text().splitlines()]
    assert kept == ["about cats", "about tea"]
    assert "3 answers checked, 1 unsafe (categories: S9 1)" in result.output
    assert "1 filtered (unsafe)" in result.output
    assert len(guard_calls) == 3
    assert guard_calls[0]["messages"][-1]["role"] == "assistant"  # the answer is what is judged
    # again, as many requests at once as asked: the verdicts logged in the run are reused
    again = run("export", str(out), str(train), "--safety-model", "llama-guard-3-8b",
                "--safety-concurrency", "4")  # fmt: skip
    assert again.exit_code == EXIT_OK, again.output
    assert "3 answers checked (3 verdicts from safety-verdicts.jsonl), 1 unsafe" in again.output
    assert len(guard_calls) == 3 and (out / "safety-verdicts.jsonl").exists()
    refused = run(
        "export", str(out), str(train), "--safety-model", "x", "--safety-concurrency", "0"
    )
    assert refused.exit_code == EXIT_USAGE


def test_a_failing_guard_stops_the_export_instead_of_guessing(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["model"] == GUARD:
            return httpx.Response(200, json=completion_body("I am not sure"))
        return httpx.Response(200, json=completion_body("fine"))

    mock.post("/chat/completions").mock(side_effect=answer)
    mock.get("/models").respond(200, json={"object": "list", "data": [{"id": GUARD}, {"id": "m"}]})
    src = _input(tmp_path, "x")
    out = tmp_path / "run"
    assert run("run", str(src), "-o", str(out)).exit_code == EXIT_OK
    train = tmp_path / "t.jsonl"
    result = run("export", str(out), str(train), "--safety-model", "llama-guard-3-8b")
    assert result.exit_code == 1 and "ResponseValidationError" in result.output
    assert not train.exists()  # no partial file left behind
