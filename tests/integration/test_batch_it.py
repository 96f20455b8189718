"""``llama-client batch`` against the real local vLLM: a 200-line job, single process, as a
user runs it (a subprocess); its results, usage, resume and export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from .conftest import BASE_URL


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_")}
    env["LLAMA_BASE_URL"] = BASE_URL
    if os.environ.get("LLAMA_IT_API_KEY"):
        env["LLAMA_API_KEY"] = os.environ["LLAMA_IT_API_KEY"]
    return subprocess.run(
        [sys.executable, "-m", "llama_client.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_a_200_line_job_end_to_end(model: str, tmp_path: Path) -> None:
    src = tmp_path / "prompts.jsonl"
    with src.open("w") as f:
        for i in range(200):
            if i % 4 == 0:  # OpenAI batch lines, some cut short on purpose
                body = {"messages": [{"role": "user", "content": f"Count to {i}."}]}
                if i % 8 == 0:
                    body["max_tokens"] = 1
                f.write(json.dumps({"custom_id": f"q{i}", "method": "POST",
                                    "url": "/v1/chat/completions", "body": body}) + "\n")  # fmt: skip
            else:
                f.write(json.dumps({"prompt": f"Write one word about the number {i}."}) + "\n")
    run_dir = tmp_path / "run"
    args = ["batch", "run", str(src), "-o", str(run_dir), "-m", model, "-c", "16",
            "--param", "max_tokens=8", "--param", "temperature=0", "--interval", "5"]  # fmt: skip
    out = _cli(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "complete: 200 answered" in out.stdout

    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 200 == len({r["custom_id"] for r in rows})
    assert all(r["error"] is None and r["response"]["status_code"] == 200 for r in rows)
    finishes = [r["response"]["body"]["choices"][0]["finish_reason"] for r in rows]
    assert finishes.count("length") >= 25  # max_tokens=1 lines (and 8-token answers)
    usage = [r["response"]["body"]["usage"] for r in rows]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["usage"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in usage) > 0
    assert manifest["usage"]["completion_tokens"] == sum(u["completion_tokens"] for u in usage)
    assert manifest["counts"]["truncated"] == finishes.count("length")
    assert manifest["status"] == "complete"
    # the command's default pool: aiohttp when installed (the dev extra has it)
    assert manifest["transport"] == ("aiohttp" if find_spec("aiohttp") else "httpx")

    again = _cli(*args)  # resumes: nothing left, nothing re-bought (length included)
    assert again.returncode == 0 and "complete: 0 answered" in again.stdout
    assert (run_dir / "results.jsonl").read_text().count("\n") == 200

    train = tmp_path / "train.jsonl"
    exported = _cli("batch", "export", str(run_dir), str(train))
    assert exported.returncode == 0, exported.stderr
    examples = [json.loads(line) for line in train.read_text().splitlines()]
    assert len(examples) == finishes.count("stop")
    assert all(e["messages"][-1]["role"] == "assistant" for e in examples)

    status = _cli("batch", "status", str(run_dir), "--json")
    assert json.loads(status.stdout)["succeeded"] == 200
