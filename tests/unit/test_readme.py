"""The README's Python blocks compile, use only names they define, and run.

Every ```python block of README.md is checked the way a newcomer would use it:

* it compiles, and every name it reads is defined in it, imported in it or a builtin. A block
  that builds on the one before it says so in its first line, ``# Uses client and msgs from
  the block above.`` (or ``blocks above``); the names listed there must be defined by the
  block(s) it continues and must all be used, and no other name may be missing.
* it runs, against a fake Llama server on 127.0.0.1 (``tests/faultserver.py`` with a small
  scripted "model" below): chat, streams, tools, the tool loop, structured output and a
  context-length error all get plausible answers. The subprocess sees only
  ``LLAMA_BASE_URL`` (the fake server), ``LLAMA_API_KEY`` and ``LLAMA_MODEL``, and the literal
  ``http://localhost:8000/v1`` in a block is pointed at the fake server. A block continuing
  another runs in that block's namespace, after it.
* a block preceded by ``<!-- readme-test: skip (why) -->`` is compiled and name-checked but
  not run; the reason is shown as the skip reason (today: blocks that need a hosted vendor's
  key, which must never be sent anywhere from a test).
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import re
import subprocess
import symtable
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faultserver import Behaviour, FaultServer, RecordedRequest, respond, sse_stream
from tests.wire import FAULT, completion_body, sse_events

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FAKE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
LOCAL_URL = "http://localhost:8000/v1"  # the First call block's explicit base_url

_FENCE = re.compile(r"^\s*(?:```|~~~)(\S*)\s*$")  # indented ones too (in lists)
_MARKER = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")
_SKIP = re.compile(r"^skip \((.+)\)$")
_USES = re.compile(r"^# Uses (.+) from the blocks? above\.\s*$")


@dataclass(frozen=True)
class Block:
    index: int  # among the python blocks, from 0
    line: int  # of the first code line in README.md
    heading: str
    code: str
    skip: str | None  # the reason given by a readme-test: skip marker
    uses: tuple[str, ...] | None  # names taken from the block(s) above; None: self-contained

    @property
    def numbered_code(self) -> str:
        """The code padded so that line numbers in errors are README.md's."""
        return "\n" * (self.line - 1) + self.code

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"L{self.line}-{slug}"


def _split_names(text: str) -> tuple[str, ...]:
    parts = re.split(r",\s*|\s+and\s+", text.strip())
    return tuple(p.strip() for p in parts if p.strip())


def parse_readme(text: str) -> list[Block]:
    """The ```python blocks, with their heading, skip marker and declared inputs."""
    lines = text.splitlines()
    blocks: list[Block] = []
    heading = "top"
    pending_skip: str | None = None
    pending_line = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        if marker:
            skip = _SKIP.match(marker.group(1))
            if skip is None:
                raise AssertionError(f"README.md:{i + 1}: unknown readme-test marker {line!r}")
            pending_skip, pending_line = skip.group(1), i + 1
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            lang = fence.group(1)
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(("```", "~~~")):
                end += 1
            if end == len(lines):
                raise AssertionError(f"README.md:{i + 1}: unclosed code fence")
            if lang in ("py", "python3", "pycon", "ipython"):
                raise AssertionError(
                    f"README.md:{i + 1}: write Python blocks as ```python so this test checks them"
                )
            if lang == "python":
                code = textwrap.dedent("\n".join(lines[i + 1 : end]) + "\n")
                first = code.splitlines()[0] if code.strip() else ""
                uses = _USES.match(first)
                blocks.append(
                    Block(
                        index=len(blocks),
                        line=i + 2,
                        heading=heading,
                        code=code,
                        skip=pending_skip,
                        uses=_split_names(uses.group(1)) if uses else None,
                    )
                )
            elif pending_skip is not None:
                raise AssertionError(
                    f"README.md:{pending_line}: a readme-test marker must stand right before a "
                    "```python block"
                )
            pending_skip = None
            i = end + 1
            continue
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() and pending_skip is not None:
            raise AssertionError(
                f"README.md:{pending_line}: a readme-test marker must stand right before a "
                "```python block"
            )
        i += 1
    return blocks


BLOCKS = parse_readme(README.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- names


def defined_and_free(code: str, filename: str) -> tuple[set[str], set[str]]:
    """(names bound at the block's top level, names it reads that nothing in it binds)."""
    top = symtable.symtable(code, filename, "exec")
    defined = {
        s.get_name()
        for s in top.get_symbols()
        if s.is_assigned() or s.is_imported() or s.is_namespace()
    }
    read: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for s in table.get_symbols():
            if not s.is_referenced():
                continue
            if table is top or s.is_global():  # a function's free names resolve at top level
                read.add(s.get_name())
        for child in table.get_children():
            walk(child)

    walk(top)
    free = {n for n in read - defined if not hasattr(builtins, n)}
    return defined, free


def _chain(block: Block) -> list[Block]:
    """The block and the ones it continues, oldest first."""
    chain = [block]
    while chain[0].uses is not None:
        if chain[0].index == 0:
            raise AssertionError(f"README.md:{chain[0].line}: the first block continues nothing")
        chain.insert(0, BLOCKS[chain[0].index - 1])
    return chain


def test_the_readme_has_python_blocks_to_check() -> None:
    # A parsing slip must not turn this file into a no-op.
    assert len(BLOCKS) >= 15
    assert sum(b.skip is None for b in BLOCKS) >= 12


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_compiles_and_defines_what_it_uses(block: Block) -> None:
    where = f"README.md:{block.line} ({block.heading})"
    try:
        compile(block.numbered_code, "README.md", "exec")
    except SyntaxError as exc:
        pytest.fail(f"{where} does not compile: {exc}")
    _, free = defined_and_free(block.code, where)
    declared = set(block.uses or ())
    missing = free - declared
    assert not missing, (
        f"{where} uses {sorted(missing)} without defining or importing them; define them in the "
        "block, or start it with '# Uses ... from the block above.' if an earlier block does"
    )
    unused = declared - free
    assert not unused, f"{where} says it uses {sorted(unused)} from above but does not"
    if block.uses is not None:
        earlier: set[str] = set()
        for b in _chain(block)[:-1]:
            earlier |= defined_and_free(b.code, "")[0]
        assert declared <= earlier, (
            f"{where} takes {sorted(declared - earlier)} from the blocks above, which do not "
            "define them"
        )
        assert block.skip is not None or BLOCKS[block.index - 1].skip is None, (
            f"{where} continues a block that is not run; mark it skip too"
        )


# --------------------------------------------------------------------------- the fake model

USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
CONTEXT_BYTES = 300_000  # a request body larger than this "exceeds the context window"
_EXAMPLE_STRINGS = {"code": "print(2**100)", "query": "llamas", "name": "Ada"}


def example_value(schema: dict[str, Any], root: dict[str, Any], name: str = "") -> Any:
    """A small value valid for a JSON schema (what a cooperative model would produce)."""
    if "$ref" in schema:
        return example_value(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root, name)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_value(options[0], root, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props: dict[str, Any] = schema.get("properties", {})
        return {k: example_value(props[k], root, k) for k in schema.get("required", list(props))}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [example_value(schema.get("items", {}), root, name) for _ in range(count)]
    if kind == "integer":
        return 3
    if kind == "number":
        return 2.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _EXAMPLE_STRINGS.get(name, "Paris")


GUARD_MODEL = "meta-llama/Llama-Guard-3-8B"


def _prompt_guard_probs(text: str) -> list[float]:
    """BENIGN / INJECTION / JAILBREAK: a jailbreak when the text says to ignore something."""
    return [0.01, 0.02, 0.97] if "ignore" in text.lower() else [0.98, 0.015, 0.005]


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message a cooperative model would send for this request."""
    if body.get("model") == GUARD_MODEL:  # Llama Guard: unsafe (S9) when a bomb is mentioned
        last = str(body["messages"][-1].get("content"))
        return {"role": "assistant", "content": "unsafe\nS9" if "bomb" in last else "safe"}
    tools = body.get("tools") or []
    if tools and body["messages"][-1].get("role") == "user":
        fn = tools[0]["function"]
        params = fn.get("parameters") or {}
        args = json.dumps(example_value(params, params))
        call = {
            "id": "call_readme_1",
            "type": "function",
            "function": {"name": fn["name"], "arguments": args},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    response_format = body.get("response_format") or {}
    choice = (body.get("structured_outputs") or {}).get("choice")
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"]["schema"]
        content = json.dumps(example_value(schema, schema))
    elif response_format.get("type") == "json_object":
        content = "{}"
    elif choice:
        content = choice[0]
    else:
        content = "Hello from the README test server."
    return {"role": "assistant", "content": content}


def _chunks(message: dict[str, Any], finish: str, usage: bool) -> list[bytes]:
    base = {
        "id": "chatcmpl-readme",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": FAKE_MODEL,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    events = [chunk({"role": "assistant", "content": ""})]
    for i, call in enumerate(message.get("tool_calls") or []):
        args = call["function"]["arguments"]
        head = {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        for part in (args[: len(args) // 2], args[len(args) // 2 :]):
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    for word in re.findall(r"\S+\s*", message.get("content") or ""):
        events.append(chunk({"content": word}))
    events.append(chunk({}, finish))
    if usage:
        events.append({**base, "choices": [], "usage": USAGE})
    return sse_events(*events)


def _answer(request: RecordedRequest) -> Behaviour:
    path = request.path.split("?", 1)[0]
    if request.method == "GET" and path.endswith("/models"):
        card = {
            "id": FAKE_MODEL,
            "object": "model",
            "created": 0,
            "owned_by": "readme-test",
            "max_model_len": 131072,
        }
        guard = {**card, "id": GUARD_MODEL}
        return respond(200, {"object": "list", "data": [card, guard]})
    if request.method == "POST" and path.endswith("/classify"):  # a Prompt Guard classifier
        texts = json.loads(request.body)["input"]
        data = [
            {"index": i, "label": None, "num_classes": 3, "probs": _prompt_guard_probs(t)}
            for i, t in enumerate(texts)
        ]
        return respond(200, {"object": "list", "model": "pg", "data": data})
    if request.method != "POST" or not path.endswith("/chat/completions"):
        return respond(404, {"detail": "Not Found"})
    if len(request.body) > CONTEXT_BYTES:  # vLLM's words for an over-long prompt
        return respond(
            400,
            {
                "object": "error",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
                "message": "This model's maximum context length is "
                "131072 tokens. However, you requested 200000 tokens in the "
                "messages, Please reduce the length of the messages.",
            },
        )
    body = json.loads(request.body)
    message = _reply(body)
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    if body.get("stream"):
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return sse_stream(_chunks(message, finish, usage))
    out = completion_body("", model=FAKE_MODEL, usage=USAGE, server=FAULT)
    out["choices"][0].update(message=message, finish_reason=finish)
    return respond(200, out)


async def fake_model(request: RecordedRequest, writer: Any) -> bool:
    """A behaviour for FaultServer that answers like a small, cooperative Llama server."""
    return await _answer(request)(request, writer)


# --------------------------------------------------------------------------- running

_RUNNER = r"""
import contextlib, io, json, signal, sys, traceback

def on_alarm(signum, frame):
    raise TimeoutError("the block did not finish within 30 s")

alarm = getattr(signal, "alarm", lambda seconds: 0)  # no SIGALRM on Windows: no per-block limit
if hasattr(signal, "SIGALRM"):
    signal.signal(signal.SIGALRM, on_alarm)
results = {}
namespaces = {}
for job in json.load(sys.stdin):
    if job["continues"] is None:
        ns = {"__name__": "__main__"}
    elif job["continues"] in namespaces:
        ns = namespaces[job["continues"]]
    else:
        results[job["index"]] = {"ok": False, "out": "", "error": "the block it continues failed"}
        continue
    out = io.StringIO()
    alarm(30)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(job["code"], "README.md", "exec"), ns)
    except BaseException:
        alarm(0)
        results[job["index"]] = {"ok": False, "out": out.getvalue(), "error": traceback.format_exc()}
        continue
    alarm(0)
    namespaces[job["index"]] = ns
    results[job["index"]] = {"ok": True, "out": out.getvalue(), "error": ""}
print(json.dumps(results))
"""

_VENDOR_ENV = re.compile(r"^(LLAMA_|.*_API_KEY$|.*_API_BASE$|.*_TOKEN$|.*_PROXY$|ALL_PROXY$)", re.I)


@pytest.fixture(scope="module")
def run_results() -> Iterator[dict[int, dict[str, Any]]]:
    """Run every block not marked skip, in one subprocess, against the fake server."""
    with FaultServer() as server:
        server.script(fake_model)
        jobs = [
            {
                "index": b.index,
                "code": b.numbered_code.replace(LOCAL_URL, server.url),
                "continues": None if b.uses is None else b.index - 1,
            }
            for b in BLOCKS
            if b.skip is None
        ]
        env = {k: v for k, v in os.environ.items() if not _VENDOR_ENV.match(k)}
        env.update(
            LLAMA_BASE_URL=server.url,
            LLAMA_API_KEY="sk-readme-test",
            LLAMA_MODEL=FAKE_MODEL,
            PYTHONPATH=str(ROOT),  # the checkout under test, not an installed copy
        )
        done = subprocess.run(
            [sys.executable, "-c", _RUNNER],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout.splitlines()[-1])
        yield {int(k): v for k, v in results.items()}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_runs_against_a_local_server(
    block: Block, run_results: dict[int, dict[str, Any]]
) -> None:
    if block.skip is not None:
        pytest.skip(f"README.md:{block.line}: {block.skip}")
    if 'transport="aiohttp"' in block.code and importlib.util.find_spec("aiohttp") is None:
        pytest.skip("aiohttp is not installed (pip install -e '.[aiohttp]')")
    result = run_results[block.index]
    assert result["ok"], f"README.md:{block.line} ({block.heading}) failed:\n{result['error']}"


def test_blocks_that_print_show_the_answer(run_results: dict[int, dict[str, Any]]) -> None:
    """Spot checks that the runs really reached the server and printed its answers."""
    outputs: dict[str, str] = {}
    for i, r in run_results.items():
        outputs[BLOCKS[i].heading] = outputs.get(BLOCKS[i].heading, "") + r["out"]
    assert "Hello from the README test server." in outputs["First call"]
    assert "{'city': 'Paris'}" in outputs["Tool calling"]
    assert "get_weather" in outputs["Streaming with tools"]
    assert "Hello from the README test server." in outputs["The tool loop"]
    assert "name='Ada' age=3" in outputs["Structured output"]
    assert "trim the conversation:" in outputs["Errors and retries"]
    assert "positive" in outputs["Local vLLM"]
    assert outputs['Many requests in flight: `transport="aiohttp"`'].strip() == "64"


def test_the_parser_sees_markers_and_continuations() -> None:
    text = (
        "# A\n\n<!-- readme-test: skip (needs a key) -->\n```python\nx = 1\n```\n\n"
        "## B\n```python\n# Uses x from the block above.\nprint(x)\n```\n"
    )
    first, second = parse_readme(text)
    assert parse_readme("- item\n\n  ```python\n  y = 2\n  ```\n")[0].code == "y = 2\n"
    assert (first.heading, first.skip, first.uses) == ("A", "needs a key", None)
    assert (second.heading, second.skip, second.uses) == ("B", None, ("x",))
    with pytest.raises(AssertionError, match="right before"):
        parse_readme("<!-- readme-test: skip (x) -->\ntext\n```python\nx = 1\n```\n")
    with pytest.raises(AssertionError, match="unknown"):
        parse_readme("<!-- readme-test: run please -->\n```python\nx = 1\n```\n")


def test_the_name_check_finds_what_a_newcomer_would_trip_on() -> None:
    code = (
        "import json\nfrom m import a as b\nclient = C()\n"
        "def f(x):\n    return x + y + b + json.dumps(len([z for z in w]))\n"
        "class K:\n    v = u\n"
    )
    _, free = defined_and_free(code, "example")
    assert free == {"C", "y", "w", "u"}
