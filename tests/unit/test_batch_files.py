"""Batch file formats, id rules, duplicate detection and the resume state (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llama_client.batch import (
    BatchInputError,
    DuplicateCustomIdError,
    parse_line,
    parse_result,
    repair_torn_tail,
    scan_input,
    scan_results,
)
from llama_client.batch._format import encode_result, failure_line, success_line
from llama_client.batch._index import U64Map, U64Set, key_of


def _write(path: Path, *rows: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def openai_line(cid: str, content: str = "hi", **body: object) -> dict[str, object]:
    return {
        "custom_id": cid,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"messages": [{"role": "user", "content": content}], **body},
    }


# ------------------------------------------------------------------------------ input lines


def test_openai_line_keeps_its_id_and_body() -> None:
    req = parse_line(json.dumps(openai_line("q1", temperature=0.2)), 7)
    assert req.custom_id == "q1"
    assert req.line == 7
    assert req.body == {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}


def test_plain_lines_get_deterministic_ids_from_their_content() -> None:
    a = parse_line('{"prompt": "2+2?"}', 1)
    b = parse_line('{ "prompt" :  "2+2?" }', 99)  # other spacing, other line: same id
    c = parse_line('{"prompt": "2+3?"}', 1)
    assert a.custom_id == b.custom_id != c.custom_id
    assert a.custom_id.startswith("auto-") and len(a.custom_id) == 5 + 24
    assert a.body["messages"] == [{"role": "user", "content": "2+2?"}]
    m = parse_line('{"messages": [{"role": "user", "content": "x"}], "seed": 1}', 3)
    assert m.custom_id.startswith("auto-") and m.body["seed"] == 1


def test_defaults_fill_the_body_and_change_its_hash() -> None:
    plain = parse_line('{"prompt": "p"}', 1)
    with_model = parse_line('{"prompt": "p"}', 1, {"model": "m", "temperature": 0.5})
    own = parse_line('{"prompt": "p", "temperature": 0.9}', 1, {"model": "m", "temperature": 0.5})
    assert with_model.custom_id == plain.custom_id  # the id comes from the line alone
    assert with_model.body_hash != plain.body_hash  # what is sent differs
    assert with_model.body["model"] == "m"
    assert own.body["temperature"] == 0.9  # the line wins over defaults


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (
            '{"custom_id": "", "body": {"messages": [{"role": "user", "content": "x"}]}}',
            "custom_id",
        ),
        ('{"custom_id": 5, "body": {}}', "custom_id"),
        ('{"custom_id": "a", "method": "GET", "body": {}}', "method must be POST"),
        ('{"custom_id": "a", "url": "/v1/embeddings", "body": {}}', "url must be"),
        ('{"custom_id": "a", "body": []}', "body must be a JSON object"),
        ('{"custom_id": "a", "body": {"messages": []}}', "non-empty messages"),
        ('{"prompt": 3}', "prompt must be a string"),
        ('{"prompt": "a", "messages": []}', "either messages or prompt"),
        ('{"prompt": "a", "stream": true}', "stream must not be set"),
        ('{"prompt": "a", "model": 3}', "model must be a string"),
        ('{"temperature": 1}', "non-empty messages"),
    ],
)
def test_bad_lines_name_their_line(line: str, message: str) -> None:
    with pytest.raises(BatchInputError) as info:
        parse_line(line, 12)
    assert info.value.problems[0][0] == 12
    assert message in str(info.value)
    assert "line 12" in str(info.value)


def test_overlong_custom_id_is_refused() -> None:
    with pytest.raises(BatchInputError, match="longer than 512"):
        parse_line(json.dumps(openai_line("x" * 513)), 1)


def test_scan_lists_every_bad_line_before_anything_runs(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "in.jsonl", openai_line("a"), "oops", "", {"prompt": 1}, openai_line("b")
    )
    with pytest.raises(BatchInputError) as info:
        scan_input(src)
    assert [n for n, _ in info.value.problems] == [2, 4]
    assert info.value.total == 2


def test_duplicate_custom_ids_are_refused_with_their_line_numbers(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "in.jsonl",
        openai_line("a"),
        openai_line("b"),
        openai_line("a", "other"),
        {"prompt": "same"},
        {"prompt": "same"},
        openai_line("a"),
    )
    with pytest.raises(DuplicateCustomIdError) as info:
        scan_input(src)
    dups = info.value.duplicates
    assert dups["a"] == [1, 3, 6]
    auto = next(k for k in dups if k.startswith("auto-"))
    assert dups[auto] == [4, 5]
    assert "lines 1, 3, 6" in str(info.value)


def test_scan_counts_and_estimates(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "in.jsonl",
        openai_line("a", "x" * 400, max_tokens=50),
        {"prompt": "y" * 40},
        "",
    )
    scan = scan_input(src, {"model": "m"}, default_completion_tokens=100)
    assert (scan.lines, scan.requests, scan.pending) == (3, 2, 2)
    assert scan.completion_tokens == 150
    assert scan.prompt_tokens == (100 + 5 + 30) + (10 + 5 + 30)  # text / 4 + per message + header
    assert scan.models == {"m"}
    assert len(scan.sha256) == 64


def test_shards_split_ids_without_overlap(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", *[{"prompt": f"p{i}"} for i in range(300)])
    counts = [scan_input(src, shard=(i, 3)).in_shard for i in range(3)]
    assert sum(counts) == 300 and all(c > 50 for c in counts)
    with pytest.raises(ValueError, match="shard"):
        scan_input(src, shard=(3, 3))


# ---------------------------------------------------------------------------- output lines


def test_output_lines_are_the_openai_batch_format() -> None:
    req = parse_line(json.dumps(openai_line("q")), 1)
    ok = success_line(req, {"choices": []}, request_id="r-1", attempts=2, provider="vllm")
    assert set(ok) == {"id", "custom_id", "response", "error", "x_llama_client"}
    assert ok["id"].startswith("batch_req_")
    assert ok["response"] == {"status_code": 200, "request_id": "r-1", "body": {"choices": []}}
    assert ok["error"] is None
    assert ok["x_llama_client"] == {
        "body_hash": req.body_hash,
        "line": 1,
        "attempts": 2,
        "provider": "vllm",
    }
    bad = failure_line(req, "server_error", "boom", status_code=503, body={"error": "x"})
    assert bad["error"] == {"code": "server_error", "message": "boom"}
    assert bad["response"]["status_code"] == 503
    gone = failure_line(req, "connection_error", "reset")
    assert gone["response"] is None


def test_encoded_lines_are_strict_json_even_from_hostile_values() -> None:
    line = encode_result({"a": float("nan"), "b": [float("inf")], "c": "\ud800", "d": "é"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"a": None, "b": [None], "c": "\ud800", "d": "é"}
    assert encode_result({"d": "é"}) == '{"d": "é"}\n'.encode()


def test_a_body_nested_too_deeply_is_replaced_by_a_note_not_a_crash() -> None:
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    req = parse_line(json.dumps(openai_line("q")), 1)
    line = encode_result(failure_line(req, "invalid_response", "bad", status_code=200, body=deep))
    row = json.loads(line)
    assert row["response"]["body"].startswith("<omitted") and row["custom_id"] == "q"
    assert row["error"]["code"] == "invalid_response"


def test_parse_result_reads_status_finish_and_usage() -> None:
    body = {
        "choices": [{"finish_reason": "length", "message": {"content": "x"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7},
    }
    req = parse_line(json.dumps(openai_line("q")), 1)
    rec = parse_result(encode_result(success_line(req, body)), "f:1")
    assert rec.ok and rec.truncated and rec.finish_reasons == ("length",)
    assert (rec.prompt_tokens, rec.completion_tokens) == (5, 7)
    assert rec.body_hash == req.body_hash
    failed = parse_result(encode_result(failure_line(req, "timeout", "t")), "f:2")
    assert not failed.ok and not failed.truncated


# ------------------------------------------------------------------------------ resume state


def _result(cid: str, *, ok: bool = True, content: str = "hi", finish: str = "stop") -> str:
    req = parse_line(json.dumps(openai_line(cid, content)), 1)
    if ok:
        body = {
            "choices": [{"finish_reason": finish, "message": {"content": "a"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        }
        return encode_result(success_line(req, body)).decode()
    return encode_result(failure_line(req, "server_error", "503")).decode()


def test_a_torn_last_line_is_dropped_and_complete_lines_kept(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    whole = _result("a") + _result("b")
    path.write_text(whole + _result("c")[:40])
    state = scan_results([path])
    assert state.succeeded == 2 and state.dropped_bytes == 40
    assert path.read_text() == whole
    assert repair_torn_tail(path) == 0  # nothing more to cut


def test_a_file_that_is_only_a_torn_line_becomes_empty(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"custom_id": "a", "resp')
    assert scan_results([path]).lines == 0
    assert path.read_bytes() == b""


def test_without_repair_a_torn_tail_is_ignored_but_kept(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(_result("a") + '{"custom_id')
    assert scan_results([path], repair=False).succeeded == 1
    assert path.read_text().endswith('{"custom_id')


def test_a_corrupt_line_in_the_middle_is_an_error_not_skipped(tmp_path: Path) -> None:
    from llama_client.batch import BatchStateError

    path = tmp_path / "results.jsonl"
    path.write_text(_result("a") + "garbage\n" + _result("b"))
    with pytest.raises(BatchStateError, match=r"results.jsonl:2"):
        scan_results([path])


def test_decide_done_failed_changed_and_retry_failed(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(_result("ok") + _result("bad", ok=False) + _result("trunc", finish="length"))
    state = scan_results([path])
    assert (state.succeeded, state.failures, state.truncated) == (2, 1, 1)
    assert (state.prompt_tokens, state.completion_tokens) == (6, 8)

    def req(cid: str, content: str = "hi") -> object:
        return parse_line(json.dumps(openai_line(cid, content)), 1)

    assert state.decide(req("ok"), False) == "done"  # type: ignore[arg-type]
    assert state.decide(req("trunc"), True) == "done"  # type: ignore[arg-type]  # length: not re-bought
    assert state.decide(req("bad"), False) == "failed"  # type: ignore[arg-type]
    assert state.decide(req("bad"), True) == "send"  # type: ignore[arg-type]
    assert state.decide(req("ok", "changed"), False) == "send"  # type: ignore[arg-type]
    assert state.decide(req("new"), False) == "send"  # type: ignore[arg-type]


def test_first_success_per_id_wins(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(_result("a") + _result("a") + _result("a", ok=False))
    state = scan_results([path])
    assert (state.succeeded, state.repeated, state.failures) == (1, 1, 1)
    assert (state.prompt_tokens, state.completion_tokens) == (3, 4)  # counted once


# ------------------------------------------------------------------------------ flat index


def test_u64_set_and_map_grow_and_answer_like_builtins() -> None:
    keys = [key_of(f"id-{i}") for i in range(5000)]
    s, m = U64Set(), U64Map()
    for i, k in enumerate(keys):
        assert s.add(k)
        m.set(k, i)
    assert not s.add(keys[10]) and len(s) == 5000 == len(m)
    assert all(k in s for k in keys) and key_of("other") not in s
    assert m.get(keys[1234]) == 1234 and m.get(key_of("other")) is None
    m.set(keys[1], 7, keep_first=True)
    assert m.get(keys[1]) == 1
    m.set(keys[1], 7)
    assert m.get(keys[1]) == 7
    with pytest.raises(ValueError):
        s.add(0)


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hé ✓"}], "model": "m", "temperature": 0.7},
        {"b": [1e100, -0.0, 2**70, None, True], "a": {"z": "\n\u2028", "y": 1.5}},
        {"x": float("nan")},
    ],
)
def test_the_body_hash_is_stable_across_versions(body: dict[str, Any]) -> None:
    """Stored results are matched by this hash: its text must never change (a change would
    buy every answer again on resume). It is SHA-256 over json.dumps with sorted keys, no
    spaces, UTF-8 kept."""
    import hashlib

    from llama_client.batch._format import body_hash

    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert body_hash(body) == hashlib.sha256(text.encode()).hexdigest()[:32]
