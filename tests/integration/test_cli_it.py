"""``llama-client`` against a real server, as a user runs it: a subprocess, stdout a pipe."""

from __future__ import annotations

import os
import subprocess
import sys

from llama_client import LlamaClient

from .conftest import BASE_URL


def _cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_")}
    environment["LLAMA_BASE_URL"] = BASE_URL
    if os.environ.get("LLAMA_IT_API_KEY"):
        environment["LLAMA_API_KEY"] = os.environ["LLAMA_IT_API_KEY"]
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "llama_client.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def test_models_lists_the_served_model(model: str) -> None:
    out = _cli("models")
    assert out.returncode == 0, out.stderr
    assert model in out.stdout.splitlines()


def test_chat_streams_what_the_client_gets(client: LlamaClient, model: str) -> None:
    # no --model and no LLAMA_MODEL: the one model the server serves
    out = _cli("chat", "--temperature", "0", "--max-tokens", "16", "Say hello")
    assert out.returncode == 0, out.stderr
    expected = client.chat.completions.create(
        messages=[{"role": "user", "content": "Say hello"}], temperature=0, max_tokens=16
    )
    assert out.stdout == (expected.choices[0].message.content or "") + "\n"


def test_chat_conversation_from_a_pipe(model: str) -> None:
    out = _cli(
        "chat", "-i", "--max-tokens", "8", stdin="hello\nand again\n/exit\n", LLAMA_MODEL=model
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 2


def test_errors_and_exit_codes(model: str) -> None:
    out = _cli("chat", "--model", "no-such-model-xyz", "hi")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: NotFoundError") and "Traceback" not in out.stderr
    out = _cli("chat", "--max-tokens", "0", "hi", LLAMA_MODEL=model)
    assert out.returncode == 2
    out = _cli("chat", "hi", LLAMA_BASE_URL="http://127.0.0.1:9/v1", LLAMA_MODEL=model)
    assert out.returncode == 1 and out.stderr.startswith("Error: APIConnectionError")
