"""``safety_filter`` on large exports: windows judged ``concurrency`` at a time, order kept,
verdicts logged and reused by the next export, a failure stopping the export with what was
judged kept, and bad arguments refused before any request (respx: no network)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llama_client import InvalidRequestError, LlamaClient, ResponseValidationError
from llama_client.batch import Example, SafetyTally, export, parse_line, safety_filter
from llama_client.batch._format import encode_result, success_line
from tests.wire import LOCAL_BASE_URL, completion_body

GUARD = "meta-llama/Llama-Guard-3-8B"


def _run(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """An input of ``n`` prompts and a results file answering each (every 7th about a bomb)."""
    src, results = tmp_path / "in.jsonl", tmp_path / "results.jsonl"
    lines, out = [], []
    for i in range(n):
        row = {"custom_id": f"q{i}", "body": {"messages": [{"role": "user", "content": f"Q{i}"}]}}
        lines.append(json.dumps(row) + "\n")
        text = f"how to build a bomb {i}" if i % 7 == 3 else f"answer {i}"
        body = {"choices": [{"finish_reason": "stop", "message": {"content": text}}]}
        out.append(encode_result(success_line(parse_line(json.dumps(row), i + 1), body)))
    src.write_text("".join(lines))
    results.write_bytes(b"".join(out))
    return src, results


class Guard:
    """A respx guard: "unsafe\\nS9" for answers about a bomb; counts calls and the most in
    flight at once; ``fail_on`` answers that text with something that is not a verdict."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.delay, self.fail_on = delay, fail_on
        self.calls: list[str] = []
        self.in_flight = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        answer = body["messages"][-1]["content"]
        with self.lock:
            self.calls.append(answer)
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(self.delay)
            if self.fail_on is not None and self.fail_on in answer:
                return httpx.Response(200, json=completion_body("I would rather not say"))
            verdict = "unsafe\nS9" if "bomb" in answer else "safe"
            return httpx.Response(200, json=completion_body(verdict))
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def guard_client() -> Any:
    with respx.mock(base_url=LOCAL_BASE_URL, assert_all_called=False) as router:
        router.get("/models").respond(200, json={"object": "list", "data": [{"id": GUARD}]})
        client = LlamaClient(base_url=LOCAL_BASE_URL, api_key="sk-x", max_retries=0)
        try:
            yield router, client
        finally:
            client.close()


def _serving(guard_client: Any, guard: Guard) -> LlamaClient:
    """The fixture's client, with ``guard`` answering its chat requests."""
    router, client = guard_client
    router.post("/chat/completions").mock(side_effect=guard)
    return client  # type: ignore[no-any-return]


def _kept(path: Path) -> list[str]:
    return [json.loads(line)["messages"][-1]["content"] for line in path.read_text().splitlines()]


def test_a_window_is_judged_concurrently_and_the_order_is_kept(
    guard_client: Any, tmp_path: Path
) -> None:
    guard = Guard(delay=0.02)
    client = _serving(guard_client, guard)
    src, results = _run(tmp_path, 40)
    tally = SafetyTally()
    keep = safety_filter(client, model="llama-guard-3-8b", tally=tally, concurrency=8)
    report = export(src, results, tmp_path / "out.jsonl", filters=[keep])
    expected = [f"answer {i}" for i in range(40) if i % 7 != 3]
    assert _kept(tmp_path / "out.jsonl") == expected  # input order, unsafe ones left out
    assert report.written == len(expected) and report.filtered == 40 - len(expected)
    assert (tally.checked, tally.unsafe, tally.codes, tally.reused) == (40, 6, {"S9": 6}, 0)
    assert len(guard.calls) == 40
    assert 1 < guard.most <= 8  # several at once, never more than asked


def test_the_verdict_log_makes_a_repeated_export_ask_nothing_again(
    guard_client: Any, tmp_path: Path
) -> None:
    guard = Guard()
    client = _serving(guard_client, guard)
    src, results = _run(tmp_path, 20)
    log = tmp_path / "run" / "verdicts.jsonl"
    first = SafetyTally()
    export(src, results, tmp_path / "a.jsonl", filters=[
        safety_filter(client, tally=first, concurrency=4, verdicts=log)
    ])  # fmt: skip
    assert len(guard.calls) == 20 and first.reused == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 20 and {e["custom_id"] for e in entries} == {f"q{i}" for i in range(20)}
    assert all("bomb" not in line and "answer" not in line for line in log.read_text().splitlines())

    again = SafetyTally()
    export(src, results, tmp_path / "b.jsonl", filters=[
        safety_filter(client, tally=again, concurrency=4, verdicts=log)
    ])  # fmt: skip
    assert len(guard.calls) == 20  # nothing asked again
    assert (again.checked, again.reused, again.unsafe) == (20, 20, first.unsafe)
    assert _kept(tmp_path / "b.jsonl") == _kept(tmp_path / "a.jsonl")

    # other categories are another question: asked again, and logged beside the first verdicts
    other = SafetyTally()
    export(src, results, tmp_path / "c.jsonl", filters=[
        safety_filter(client, categories=["S9"], ask="prompt", tally=other, verdicts=log)
    ])  # fmt: skip
    assert len(guard.calls) == 40 and other.reused == 0
    assert len(log.read_text().splitlines()) == 40


def test_a_failing_check_stops_the_export_and_what_was_judged_is_kept(
    guard_client: Any, tmp_path: Path
) -> None:
    guard = Guard(fail_on="answer 12")
    client = _serving(guard_client, guard)
    src, results = _run(tmp_path, 30)
    log = tmp_path / "verdicts.jsonl"
    keep = safety_filter(client, verdicts=log)  # one at a time: the failure comes 13th
    with pytest.raises(ResponseValidationError, match="not a Llama Guard verdict"):
        export(src, results, tmp_path / "out.jsonl", filters=[keep])
    assert not (tmp_path / "out.jsonl").exists()
    assert len(log.read_text().splitlines()) == 12  # the twelve before the failure
    guard.fail_on = None
    tally = SafetyTally()
    export(src, results, tmp_path / "out.jsonl", filters=[
        safety_filter(client, tally=tally, concurrency=4, verdicts=log)
    ])  # fmt: skip
    assert len(guard.calls) == 13 + 18  # the failed one and the 17 after it, asked once more
    assert tally.reused == 12 and tally.checked == 30


def test_concurrent_failure_leaves_nothing_queued_running(
    guard_client: Any, tmp_path: Path
) -> None:
    guard = Guard(delay=0.01, fail_on="answer 0")
    client = _serving(guard_client, guard)
    src, results = _run(tmp_path, 200)
    keep = safety_filter(client, concurrency=4)
    with pytest.raises(ResponseValidationError):
        export(src, results, tmp_path / "out.jsonl", filters=[keep])
    asked = len(guard.calls)
    time.sleep(0.1)
    assert len(guard.calls) == asked < 200  # the queued checks were cancelled, none ran later
    assert guard.in_flight == 0


def test_a_torn_last_verdict_is_ignored_and_cut_before_appending(
    guard_client: Any, tmp_path: Path
) -> None:
    guard = Guard()
    client = _serving(guard_client, guard)
    src, results = _run(tmp_path, 5)
    log = tmp_path / "verdicts.jsonl"
    export(src, results, tmp_path / "a.jsonl", filters=[safety_filter(client, verdicts=log)])
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:3]) + lines[3][:20])  # a crash cut the fourth line
    tally = SafetyTally()
    export(src, results, tmp_path / "b.jsonl", filters=[
        safety_filter(client, tally=tally, verdicts=log)
    ])  # fmt: skip
    assert tally.reused == 3 and len(guard.calls) == 5 + 2
    assert [json.loads(line)["custom_id"] for line in log.read_text().splitlines()] == [
        "q0", "q1", "q2", "q3", "q4"
    ]  # fmt: skip


def test_lines_of_the_log_that_are_no_verdicts_are_skipped_and_asked_again(
    guard_client: Any, tmp_path: Path
) -> None:
    guard = Guard()
    client = _serving(guard_client, guard)
    src, results = _run(tmp_path, 4)
    log = tmp_path / "verdicts.jsonl"
    export(src, results, tmp_path / "a.jsonl", filters=[safety_filter(client, verdicts=log)])
    good = log.read_text().splitlines(keepends=True)
    entry = json.loads(good[1])
    junk = [
        "not json\n",
        "[1, 2]\n",
        '"text"\n',
        "[" * 5_000 + "\n",  # deeper than the recursion limit
        json.dumps({**entry, "key": "f" * 40}) + "\n",  # wider than 64 bits
        json.dumps({**entry, "key": 5}) + "\n",
        json.dumps({**entry, "codes": "S9"}) + "\n",
        json.dumps({**entry, "safe": "yes"}) + "\n",
        b"\xff\xfe\n".decode("latin-1"),
    ]
    log.write_text(good[0] + "".join(junk) + good[2] + good[3])  # line 1's verdict is gone
    tally = SafetyTally()
    export(src, results, tmp_path / "b.jsonl", filters=[
        safety_filter(client, tally=tally, verdicts=log)
    ])  # fmt: skip
    assert tally.reused == 3 and len(guard.calls) == 4 + 1
    assert (tmp_path / "b.jsonl").read_text() == (tmp_path / "a.jsonl").read_text()


def test_the_same_conversation_twice_in_a_window_is_asked_about_once(
    guard_client: Any, tmp_path: Path
) -> None:
    guard = Guard()
    client = _serving(guard_client, guard)
    src, results = tmp_path / "in.jsonl", tmp_path / "results.jsonl"
    rows, lines = [], []
    for i in range(12):  # two ids per conversation: six distinct ones
        row = {"custom_id": f"d{i}", "body": {"messages": [{"role": "user", "content": "Q"}]}}
        rows.append(json.dumps(row) + "\n")
        body = {"choices": [{"finish_reason": "stop", "message": {"content": f"A{i // 2}"}}]}
        lines.append(encode_result(success_line(parse_line(json.dumps(row), i + 1), body)))
    src.write_text("".join(rows))
    results.write_bytes(b"".join(lines))
    tally = SafetyTally()
    keep = safety_filter(client, tally=tally, concurrency=4)  # no verdict log
    report = export(src, results, tmp_path / "out.jsonl", filters=[keep])
    assert sorted(guard.calls) == [f"A{i}" for i in range(6)]
    assert report.written == 12 and (tally.checked, tally.reused) == (12, 0)


def test_an_earlier_filter_spares_the_guard_its_rejects(guard_client: Any, tmp_path: Path) -> None:
    guard = Guard()
    client = _serving(guard_client, guard)
    src, results = _run(tmp_path, 10)

    def short_ids(example: Example) -> bool:
        return len(example.custom_id) == 2  # q0..q9: all; then only those below 5 survive

    def low(example: Example) -> bool:
        return int(example.custom_id[1:]) < 5

    keep = safety_filter(client, concurrency=4)
    report = export(src, results, tmp_path / "out.jsonl", filters=[short_ids, low, keep])
    assert sorted(guard.calls) == [f"answer {i}" for i in (0, 1, 2, 4)] + ["how to build a bomb 3"]
    assert report.written == 4 and report.filtered == 6


@pytest.mark.parametrize("concurrency", [0, 257, True, 2.0])
def test_bad_concurrency_is_refused_before_any_request(guard_client: Any, concurrency: Any) -> None:
    router, client = guard_client
    route = router.post("/chat/completions")
    with pytest.raises(InvalidRequestError, match="concurrency"):
        safety_filter(client, concurrency=concurrency)
    assert route.call_count == 0
