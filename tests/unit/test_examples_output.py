"""No example succeeds in silence: an empty answer is said out loud, an empty server is an error.

Every script in examples/ runs as a subprocess against a loopback server
(tests/faultserver.py) that answers with nothing: empty text, a stream with no text, no tool
call, an empty list for structured output. Each must exit 0 *and* say there was nothing,
rather than print a blank line, ``None`` or nothing at all. A server that lists no models
(and no LLAMA_MODEL) must give one clear line on stderr and exit 1, not an IndexError.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faultserver import Behaviour, FaultServer, RecordedRequest, respond, sse_stream
from tests.wire import (
    FAULT,
    completion_body,
    converse_answer,
    converse_stream_events,
    delta_chunk,
    sse_events,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"

NO_TEXT = "(the reply has no text)"
#: what each example must print when the server's answer is empty
EXPECTED = {
    "async_chat.py": [NO_TEXT],
    "bedrock.py": [
        NO_TEXT,
        "(the model answered without calling a tool)",
        "(the final reply has no text)",
    ],
    "guarded_chat.py": ["The guard gave no verdict"],
    "distill.py": ["(the teacher gave no usable answer)", "15 without text"],
    "local_vllm.py": [NO_TEXT, "serving " + MODEL],
    "observability.py": [NO_TEXT, "events logged to", ": 2 requests, 15 + 3 tokens"],
    "providers.py": [NO_TEXT],
    "quickstart.py": [NO_TEXT],
    "streaming.py": [NO_TEXT],
    "structured_output.py": ["The model named no cities"],
    "tokens.py": [NO_TEXT, "counted here:", "the server cannot count tokens"],
    "tools.py": ["(the model answered without calling a tool)", "(the final reply has no text)"],
}
#: examples that never read a model listing (an alias for hosted vendors; Bedrock has none)
_NO_LISTING = {"providers.py", "bedrock.py"}
_ENV = re.compile(r"^(LLAMA_|.*_API_KEY$|.*_API_BASE$|.*_TOKEN$|.*_PROXY$|ALL_PROXY$)", re.I)


def _empty_answers(models: list[str]) -> Behaviour:
    def pick(request: RecordedRequest) -> Behaviour:
        if request.method == "GET" and request.path.endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "t"} for m in models]
            return respond(200, {"object": "list", "data": data})
        if request.path.endswith("/converse-stream"):  # examples/bedrock.py: AWS event-stream
            events = converse_stream_events(usage=(3, 0))
            return sse_stream(events, content_type="application/vnd.amazon.eventstream")
        if request.path.endswith("/converse"):
            return respond(200, converse_answer("", usage=(3, 0)))
        body = json.loads(request.body)
        content = '{"cities": []}' if body.get("response_format") else ""
        if body.get("stream"):
            usage = {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}
            return sse_stream(
                sse_events(
                    delta_chunk(content),
                    delta_chunk(None, "stop"),
                    {**delta_chunk(), "choices": [], "usage": usage},
                )
            )
        return respond(200, completion_body(content, server=FAULT))

    async def behaviour(request: RecordedRequest, writer: Any) -> bool:
        return await pick(request)(request, writer)

    return behaviour


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    attempts: int  # requests the server received


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], Run]:
    """Every example in both situations, all at once (each with its own loopback server)."""
    jobs = [("empty answer", name) for name in sorted(EXPECTED)]
    jobs += [("no models", name) for name in sorted(EXPECTED) if name not in _NO_LISTING]
    base_env = {k: v for k, v in os.environ.items() if not _ENV.match(k)}
    with contextlib.ExitStack() as stack:
        started = []
        for situation, name in jobs:
            server = stack.enter_context(FaultServer())
            server.script(_empty_answers([MODEL] if situation == "empty answer" else []))
            env = dict(base_env, LLAMA_BASE_URL=server.url, PYTHONPATH=str(EXAMPLES.parent))
            env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
            env.update(  # examples/bedrock.py talks to the same loopback server
                AWS_ENDPOINT_URL_BEDROCK_RUNTIME=server.url,
                AWS_REGION="us-east-1",
                AWS_BEARER_TOKEN_BEDROCK="bedrock-example-test-key",
            )
            proc = subprocess.Popen(
                [sys.executable, str(EXAMPLES / name)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            stack.callback(proc.kill)
            started.append((situation, name, server, proc))
        out: dict[tuple[str, str], Run] = {}
        for situation, name, server, proc in started:
            stdout, stderr = proc.communicate(timeout=60)
            out[situation, name] = Run(proc.returncode, stdout, stderr, server.attempts)
        return out


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_empty_answer_is_said_not_hidden(name: str, runs: dict[tuple[str, str], Run]) -> None:
    out = runs["empty answer", name]
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    for text in EXPECTED[name]:
        assert text in out.stdout, out.stdout
    shown_none = [line for line in out.stdout.splitlines() if re.search(r"(^|: +|-> )None$", line)]
    assert not shown_none, out.stdout  # an answer printed as "None"
    assert out.attempts >= 1  # it really asked the server


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - _NO_LISTING))
def test_a_server_with_no_models_is_one_clear_line(
    name: str, runs: dict[tuple[str, str], Run]
) -> None:
    out = runs["no models", name]
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == ["The server lists no models; set LLAMA_MODEL."]
