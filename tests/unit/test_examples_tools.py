"""The tools and structured-output examples run end to end against scripted replies.

(Without a server they are covered by test_examples.py.)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import respx

from tests.wire import LOCAL_BASE_URL, PLAIN

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_BASE_URL", LOCAL_BASE_URL)
    monkeypatch.setenv("LLAMA_MODEL", "llama")


def _serve(mock: respx.MockRouter, *replies: dict[str, Any]) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    queue = list(replies)

    def reply(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=queue.pop(0))

    mock.post("/chat/completions").mock(side_effect=reply)
    return bodies


def test_tools_example(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=LOCAL_BASE_URL) as mock:
        bodies = _serve(
            mock,
            PLAIN.completion('{"name": "get_weather", "parameters": {"city": "Paris"}}'),
            PLAIN.completion("It is 21 degrees celsius in Paris."),
        )
        assert _load("tools").main() == 0
    out = capsys.readouterr().out
    assert '-> get_weather({"city": "Paris"})' in out
    assert "<- 21 degrees celsius in Paris" in out
    assert "It is 21 degrees celsius in Paris." in out
    assert bodies[1]["messages"][-1]["content"] == "21 degrees celsius in Paris"


def test_structured_output_example(capsys: pytest.CaptureFixture[str]) -> None:
    cities = {"cities": [{"name": "Paris", "country": "France", "population_millions": 2.1}]}
    with respx.mock(base_url=LOCAL_BASE_URL) as mock:
        _serve(mock, PLAIN.completion(json.dumps(cities)))
        assert _load("structured_output").main() == 0
    assert "Paris (France): 2.1 million" in capsys.readouterr().out
