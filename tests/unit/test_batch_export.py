"""Training exports: each format, the finish-reason filter, filters, and the accounting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llama_client.batch import Example, export, parse_line
from llama_client.batch._format import encode_result, failure_line, success_line

SYSTEM = {"role": "system", "content": "Be brief."}


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    rows: list[dict[str, Any]] = [
        {"custom_id": "a", "body": {"messages": [SYSTEM, {"role": "user", "content": "Q1"}]}},
        {"prompt": "Q2"},
        {
            "custom_id": "multi",
            "body": {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": [{"type": "text", "text": "Q3"}]},
                ]
            },
        },
        {"custom_id": "cut", "body": {"messages": [{"role": "user", "content": "Q4"}]}},
        {"custom_id": "bad", "body": {"messages": [{"role": "user", "content": "Q5"}]}},
        {"custom_id": "later", "body": {"messages": [{"role": "user", "content": "Q6"}]}},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = {"a": ("A1", "stop"), "multi": ("A3", "stop"), "cut": ("A4", "length")}
    results = tmp_path / "results.jsonl"
    with results.open("wb") as f:
        for i, row in enumerate(rows[:5], 1):
            req = parse_line(json.dumps(row), i)
            if req.custom_id == "bad":
                f.write(encode_result(failure_line(req, "server_error", "503")))
                continue
            text, finish = answers.get(req.custom_id, ("A2", "stop"))
            body = {
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": text},
                    }
                ]
            }
            f.write(encode_result(success_line(req, body)))
        # a second success for "a" must not win over the first
        req = parse_line(json.dumps(rows[0]), 1)
        body = {"choices": [{"finish_reason": "stop", "message": {"content": "SECOND"}}]}
        f.write(encode_result(success_line(req, body)))
    return src, results


def _out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_messages(tmp_path: Path) -> None:
    src, results = _setup(tmp_path)
    out = tmp_path / "out.jsonl"
    report = export(src, results, out, "messages")
    rows = _out(out)
    assert rows[0] == {
        "messages": [
            SYSTEM,
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
        ]
    }
    assert [r["messages"][-1]["content"] for r in rows] == ["A1", "A2", "A3"]
    assert report.as_dict() == {
        "written": 3,
        "skipped_finish_reason": {"length": 1},
        "skipped_by_filter": 0,
        "failed": 1,
        "missing": 1,
        "not_representable": 0,
        "empty": 0,
    }


def test_prompt_completion(tmp_path: Path) -> None:
    src, results = _setup(tmp_path)
    out = tmp_path / "out.jsonl"
    export(src, results, out, "prompt-completion")
    assert _out(out)[1] == {
        "prompt": [{"role": "user", "content": "Q2"}],
        "completion": [{"role": "assistant", "content": "A2"}],
    }


def test_sharegpt(tmp_path: Path) -> None:
    src, results = _setup(tmp_path)
    out = tmp_path / "out.jsonl"
    export(src, results, out, "sharegpt")
    rows = _out(out)
    assert rows[0] == {
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "Q1"},
            {"from": "gpt", "value": "A1"},
        ]
    }
    assert rows[2]["conversations"][2] == {"from": "human", "value": "Q3"}  # text parts joined


def test_alpaca_takes_single_turn_inputs_and_counts_the_rest(tmp_path: Path) -> None:
    src, results = _setup(tmp_path)
    out = tmp_path / "out.jsonl"
    report = export(src, results, out, "alpaca")
    assert _out(out) == [
        {"instruction": "Q1", "input": "", "output": "A1", "system": "Be brief."},
        {"instruction": "Q2", "input": "", "output": "A2"},
    ]
    assert report.not_representable == 1  # the multi-turn one


def test_finish_reason_filter_and_custom_filters(tmp_path: Path) -> None:
    src, results = _setup(tmp_path)
    out = tmp_path / "out.jsonl"
    seen: list[Example] = []

    def no_q2(example: Example) -> bool:
        seen.append(example)
        return example.messages[-1].get("content") != "Q2"

    report = export(
        src, results, out, "messages", finish_reasons={"stop", "length"}, filters=[no_q2]
    )
    assert [r["messages"][-1]["content"] for r in _out(out)] == ["A1", "A3", "A4"]
    assert report.filtered == 1 and report.finish_reason == {}
    assert {e.finish_reason for e in seen} == {"stop", "length"}
    assert seen[0].result["custom_id"] == "a"


def test_openai_format_writes_each_id_once(tmp_path: Path) -> None:
    src, results = _setup(tmp_path)
    out = tmp_path / "out.jsonl"
    report = export(src, results, out, "openai")
    rows = _out(out)
    assert [r["custom_id"] for r in rows][:1] == ["a"]
    assert len(rows) == 5 == len({r["custom_id"] for r in rows})
    assert rows[0]["response"]["body"]["choices"][0]["message"]["content"] == "A1"
    assert report.failed == 1 and report.missing == 1


def test_unknown_format_is_refused_before_writing(tmp_path: Path) -> None:
    src, results = _setup(tmp_path)
    with pytest.raises(ValueError, match="format must be one of"):
        export(src, results, tmp_path / "out.jsonl", "csv")  # type: ignore[arg-type]
    assert not (tmp_path / "out.jsonl").exists()
