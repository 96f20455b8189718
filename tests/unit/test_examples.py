"""Every example exits with a short message, not a traceback, when no server is listening."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_without_server_fails_cleanly(path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_", "GROQ_", "TOGETHER_"))
    }
    env["LLAMA_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}/v1"
    # examples/bedrock.py: never AWS itself; the same closed port instead
    env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = env["LLAMA_BASE_URL"]
    env["AWS_REGION"] = "us-east-1"
    env["AWS_BEARER_TOKEN_BEDROCK"] = "bedrock-example-test-key"
    env["PYTHONPATH"] = str(path.parents[1])  # the checkout under test, not an installed copy
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert 0 < len(out.stderr.strip().splitlines()) <= 3, out.stderr
