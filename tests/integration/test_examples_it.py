"""The runnable examples work against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BASE_URL

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "name",
    [
        "quickstart.py",
        "streaming.py",
        "async_chat.py",
        "local_vllm.py",
        "tools.py",
        "structured_output.py",
        "providers.py",
        "tokens.py",
    ],
)
def test_example_runs(name: str, model: str) -> None:
    env = dict(os.environ, LLAMA_BASE_URL=BASE_URL, LLAMA_MODEL=model)
    if os.environ.get("LLAMA_IT_API_KEY"):
        env["LLAMA_API_KEY"] = os.environ["LLAMA_IT_API_KEY"]
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
