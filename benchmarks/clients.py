"""The clients the benchmark compares, and the worker that runs one measurement in a fresh process.

``python benchmarks/clients.py CLIENT SCENARIO BASE_URL [PARAMS_JSON]`` prints one JSON line:
``{"ops": ..., "wall": s, "cpu": s, "maxrss_kb": ..., ...}``. :mod:`run` starts it, several
times per cell, and never imports a client itself, so every number comes from a process that
imported only that client.

A client is a class with one method per scenario it supports (a missing method is shown as
"n/a"). Every method does its own imports (so ``import`` is measured by the ``import``
scenario alone) and returns the number of operations it completed.

Adding a scenario (for example the tool-calling or provider hot paths once they land):
  1. write a method with the scenario's name on each client that can do it
     (``def tools(self, url, n): ...`` returning the number of operations);
  2. add a :class:`run.Scenario` entry naming its unit, its floor client and its parameters.
The server already serves tool-call answers under ``/tools/v1`` (see ``server.py``).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from typing import Any

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write one paragraph about foxes."},
]
BODY = {"model": MODEL, "messages": MESSAGES, "max_tokens": 128, "temperature": 0.7}
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _stream_body() -> bytes:
    return json.dumps({**BODY, "stream": True, "stream_options": {"include_usage": True}}).encode()


# --------------------------------------------------------------------------- async driver


def _run_concurrently(make_call: Any, total: int, concurrency: int) -> int:
    """Run ``total`` calls with ``concurrency`` in flight; ``make_call`` is an async factory."""
    import asyncio

    async def main() -> None:
        call, close = await make_call()
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                await call()

        await asyncio.gather(*(one() for _ in range(concurrency)))  # warm the pool
        global _t0, _c0
        _t0, _c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(total)))
        await close()

    asyncio.run(main())
    return total


_t0 = 0.0
_c0 = 0.0


def _mark() -> None:
    """Start the clock here: what came before was set-up and warm-up.

    A full garbage collection runs first, for every client alike. Python's first full
    collection of a process comes after a fixed number of allocations; a client that imports
    lazily reaches it during its first requests instead of during its import, and one pass
    (15-20 ms over the ~45,000 objects a process holds by then) would land in the measured
    window of one client and not of another. The window measures the cost per request; the
    one-time costs are in the import column.
    """
    global _t0, _c0
    gc.collect()
    _t0, _c0 = time.perf_counter(), time.process_time()


# --------------------------------------------------------------------------- floors


class RawHttpx:
    """httpx and json.loads: the floor."""

    module = "httpx"

    def seq(self, url: str, n: int) -> int:
        import httpx

        body = json.dumps(BODY).encode()
        with httpx.Client() as c:
            for i in range(n + 20):
                if i == 20:
                    _mark()
                json.loads(c.post(url + "/chat/completions", content=body, headers=HEADERS).content)
        return n

    def stream(self, url: str, chunks: int, repeats: int) -> int:
        import httpx

        body = _stream_body()
        count = 0
        with httpx.Client() as c:
            for i in range(repeats + 1):
                if i == 1:
                    _mark()
                    count = 0
                with c.stream(
                    "POST", f"{url}/chat/completions", content=body, headers=HEADERS
                ) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            data = line[6:]
                            if data == "[DONE]":
                                break
                            json.loads(data)
                            count += 1
        return count

    def async_many(self, url: str, total: int, concurrency: int) -> int:
        async def make() -> Any:
            import httpx

            c = (
                httpx.AsyncClient()
            )  # as users write it: httpx's default limits (100, 20 kept alive)
            body = json.dumps(BODY).encode()

            async def call() -> None:
                r = await c.post(url + "/chat/completions", content=body, headers=HEADERS)
                json.loads(r.content)

            return call, c.aclose

        return _run_concurrently(make, total, concurrency)


class HttpxBaseModel:
    """The bare import floor: ``import httpx; from pydantic import BaseModel``, no model defined.

    Import only (no request scenario): what any httpx + pydantic client must load before it
    defines a single model. ``module:attr`` entries are imported, then the attribute read
    (pydantic loads ``BaseModel`` lazily, on first access).
    """

    module = "httpx, pydantic:BaseModel"


class HttpxPydantic(RawHttpx):
    """httpx and pydantic models: the floor for a typed client.

    Its import is ``httpx`` plus its models (``floor_models``): ``import pydantic`` alone is
    lazy and loads no model machinery, which no typed client can avoid.
    """

    module = "httpx, floor_models"

    def seq(self, url: str, n: int) -> int:
        import httpx
        from floor_models import Completion

        body = json.dumps(BODY).encode()
        with httpx.Client() as c:
            for i in range(n + 20):
                if i == 20:
                    _mark()
                r = c.post(url + "/chat/completions", content=body, headers=HEADERS)
                Completion.model_validate_json(r.content)
        return n

    def stream(self, url: str, chunks: int, repeats: int) -> int:
        import httpx
        from floor_models import Chunk

        body = _stream_body()
        count = 0
        with httpx.Client() as c:
            for i in range(repeats + 1):
                if i == 1:
                    _mark()
                    count = 0
                with c.stream(
                    "POST", f"{url}/chat/completions", content=body, headers=HEADERS
                ) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            data = line[6:]
                            if data == "[DONE]":
                                break
                            Chunk.model_validate_json(data)
                            count += 1
        return count

    def async_many(self, url: str, total: int, concurrency: int) -> int:
        async def make() -> Any:
            import httpx
            from floor_models import Completion

            c = httpx.AsyncClient()
            body = json.dumps(BODY).encode()

            async def call() -> None:
                r = await c.post(url + "/chat/completions", content=body, headers=HEADERS)
                Completion.model_validate_json(r.content)

            return call, c.aclose

        return _run_concurrently(make, total, concurrency)


def _tool_stream_body() -> bytes:
    return json.dumps({**BODY, "stream": True, "tools": TOOLS}).encode()


class _ToolStreamFloor:
    """Tool-call streams with httpx and the floor's pydantic chunk model."""

    def tool_stream(self, url: str, n: int) -> int:
        import httpx
        from floor_models import Chunk

        body = _tool_stream_body()
        with httpx.Client() as c:
            for i in range(n + 10):
                if i == 10:
                    _mark()
                with c.stream(
                    "POST", f"{url}/chat/completions", content=body, headers=HEADERS
                ) as r:
                    arguments = ""
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            data = line[6:]
                            if data == "[DONE]":
                                break
                            chunk = Chunk.model_validate_json(data)
                            for choice in chunk.choices:
                                for call in choice.delta.tool_calls or ():
                                    if call.function and call.function.arguments:
                                        arguments += call.function.arguments
                    json.loads(arguments)
        return n


HttpxPydantic.tool_stream = _ToolStreamFloor.tool_stream  # type: ignore[attr-defined]


class RawAiohttp:
    """aiohttp and json.loads: the async floor with a fast pool."""

    module = "aiohttp"

    def async_many(self, url: str, total: int, concurrency: int) -> int:
        async def make() -> Any:
            import aiohttp

            s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
            body = json.dumps(BODY).encode()

            async def call() -> None:
                async with s.post(url + "/chat/completions", data=body, headers=HEADERS) as r:
                    json.loads(await r.read())

            return call, s.close

        return _run_concurrently(make, total, concurrency)

    def batch(self, url: str, total: int, concurrency: int) -> int:
        """The batch scenario's floor: a bare loop, nothing written, no resume."""
        return self.async_many(url, total, concurrency)


class DurableAiohttp:
    """The batch scenario's second floor: what issue #11 requires of a run and nothing else,
    written directly on aiohttp with no SDK. The input is streamed twice (once to refuse
    repeated ids before anything is sent, once to send), each body is hashed (the resume
    rule: a changed body is sent again), each answer is read and appended as an OpenAI batch
    output line, and lines reach the disk in groups with one ``write`` + ``fsync`` on a worker
    thread. No validation, providers, retries, rate limiting or error classes.

    It measures how close a durable run can come to the bare loop (:class:`RawAiohttp`) at
    all, so that the batch job's distance from the bare loop splits into what durability
    costs and what the SDK costs.
    """

    module = "aiohttp"
    measure_import = False  # a floor for one scenario, not a client

    def batch(self, url: str, total: int, concurrency: int) -> int:
        import asyncio
        import hashlib
        import tempfile

        import aiohttp

        def canonical(body: Any) -> bytes:
            return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

        async def main(tmp: str) -> None:
            path = _batch_input(tmp, total)
            fd = os.open(os.path.join(tmp, "results.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            loop = asyncio.get_running_loop()
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
            warm = json.dumps(BODY).encode()

            async def post(data: bytes) -> tuple[int, bytes]:
                async with session.post(url + "/chat/completions", data=data, headers=HEADERS) as r:
                    return r.status, await r.read()

            await asyncio.gather(*(post(warm) for _ in range(concurrency)))  # a full pool
            _mark()
            seen: set[str] = set()
            with open(path, "rb") as f:  # pass 1: every id once, before anything is sent
                for raw in f:
                    custom_id = json.loads(raw)["custom_id"]
                    assert custom_id not in seen, custom_id
                    seen.add(custom_id)
            unwritten: list[bytes] = []
            flushing: asyncio.Future[None] | None = None

            def append(data: bytes) -> None:
                os.write(fd, data)
                os.fsync(fd)

            async def flush() -> None:
                while unwritten:
                    data = b"".join(unwritten)
                    unwritten.clear()
                    await loop.run_in_executor(None, append, data)

            slots = asyncio.Semaphore(concurrency)

            async def one(line: dict[str, Any], digest: str) -> None:
                nonlocal flushing
                try:
                    data = json.dumps({**line["body"], "model": MODEL, "max_tokens": 128})
                    status, answer = await post(data.encode())
                    usage = json.loads(answer).get("usage") or {}
                    record = {
                        "id": f"batch_req_{digest}",
                        "custom_id": line["custom_id"],
                        "response": {"status_code": status, "request_id": None, "body": None},
                        "error": None,
                        "usage": usage,
                    }
                    encoded = json.dumps(record).encode()
                    unwritten.append(encoded.replace(b'"body": null', b'"body": ' + answer, 1))
                    unwritten.append(b"\n")
                    if flushing is None or flushing.done():
                        flushing = asyncio.ensure_future(flush())
                finally:
                    slots.release()

            tasks: set[asyncio.Task[None]] = set()
            with open(path, "rb") as f:  # pass 2: send
                for raw in f:
                    line = json.loads(raw)
                    digest = hashlib.sha256(canonical(line["body"])).hexdigest()[:24]
                    await slots.acquire()
                    task = asyncio.ensure_future(one(line, digest))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
            while flushing is not None and not flushing.done():
                await flushing
            await flush()
            os.close(fd)
            await session.close()

        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(tmp))
        return total


class InMemoryLines:
    """The naive way to read a batch input: every line parsed into one list (what
    ``batch_completion``-style helpers hold); the floor of the ``batch_input`` scenario."""

    module = "json"
    measure_import = False  # a floor for one scenario, not a client

    def batch_input(self, url: str, lines: int) -> int:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = _batch_input(tmp, lines)
            _mark()
            with open(path, "rb") as f:
                rows = [json.loads(line) for line in f]
            assert len(rows) == lines
        return lines


def _batch_input(directory: str, lines: int) -> str:
    """A batch input file of ``lines`` OpenAI batch lines (~300 bytes each)."""
    path = os.path.join(directory, "input.jsonl")
    with open(path, "w") as f:
        for i in range(lines):
            body = {
                "messages": [*MESSAGES[:1], {"role": "user", "content": f"Question {i}: foxes?"}]
            }
            f.write(json.dumps({"custom_id": f"q{i}", "method": "POST",
                                "url": "/v1/chat/completions", "body": body}) + "\n")  # fmt: skip
    return path


# --------------------------------------------------------------------------- token counting


def conversations(n: int) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """``n`` different multi-turn conversations with tools (about 1,500 tokens each), so that
    no count can be reused from an earlier one."""
    words = [
        "the",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dogs",
        "while",
        "naïve",
        "cafés",
        "serve",
        "日本語",
        "and",
        "😀",
        "emoji",
    ]
    out = []
    for i in range(n):
        msgs: list[dict[str, Any]] = [{"role": "system", "content": f"You are assistant {i}."}]
        for turn in range(6):
            text = " ".join(words[(i + turn + k) % len(words)] for k in range(120))
            msgs.append({"role": "user", "content": f"{i}.{turn} {text}"})
            msgs.append({"role": "assistant", "content": f"answer {turn}: {text[:300]}"})
        msgs.append({"role": "user", "content": f"last question {i}"})
        out.append((msgs, TOOLS))
    return out


def _llama3_encoding() -> Any:
    """The Llama 3 tokenizer built with tiktoken's own API: the floor's tokenizer."""
    import importlib.util

    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    path = os.environ.get("LLAMA_TOKENIZER_MODEL")
    if not path:
        spec = importlib.util.find_spec("llama_models")
        assert spec is not None and spec.submodule_search_locations
        path = os.path.join(next(iter(spec.submodule_search_locations)), "llama3/tokenizer.model")
    pattern = (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    )
    specials = [
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
        "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
    ] + [f"<|reserved_special_token_{i}|>" for i in range(3, 248)]  # fmt: skip
    return tiktoken.Encoding(
        name="llama3",
        pat_str=pattern,
        mergeable_ranks=load_tiktoken_bpe(path),
        special_tokens={t: 128000 + i for i, t in enumerate(specials)},
    )


class Tiktoken:
    """tiktoken on the already rendered prompt: the floor of counting (no chat rendering)."""

    measure_import = False  # a floor for one scenario, not a client

    def count_tokens(self, url: str, n: int) -> int:
        from llama_client.tokens import render_prompt

        enc = _llama3_encoding()
        texts = [render_prompt(m, tools=t) for m, t in conversations(n + 5)]
        for text in texts[:5]:  # warm-up
            len(enc.encode(text, allowed_special="all"))
        _mark()
        for text in texts[5:]:
            len(enc.encode(text, allowed_special="all"))
        return n


# --------------------------------------------------------------------------- this SDK


class LlamaClientSDK:
    """llama_client with its default httpx transport."""

    # Import and read the client class: what `from llama_client import LlamaClient` costs, so
    # names resolved lazily on first access cannot make the import look cheaper than it is.
    module = "llama_client:LlamaClient"
    transport = "httpx"

    def count_tokens(self, url: str, n: int) -> int:
        from llama_client import count_tokens

        convs = conversations(n + 5)
        for messages, tools in convs[:5]:  # warm-up, loads the tokenizer
            count_tokens(messages, tools=tools)
        _mark()
        for messages, tools in convs[5:]:
            count_tokens(messages, tools=tools)
        return n

    def seq(self, url: str, n: int) -> int:
        from llama_client import LlamaClient

        with LlamaClient(base_url=url, api_key="sk-bench", model=MODEL) as client:
            create = client.chat.completions.create
            for i in range(n + 20):
                if i == 20:
                    _mark()
                create(messages=MESSAGES, max_tokens=128, temperature=0.7)
        return n

    def guarded(self, url: str, n: int) -> int:
        """The baseline of the ``guarded`` scenario: the same calls, unguarded."""
        return self.seq(url, n)

    def stream(self, url: str, chunks: int, repeats: int) -> int:
        from llama_client import LlamaClient

        count = 0
        with LlamaClient(base_url=url, api_key="sk-bench", model=MODEL) as client:
            for i in range(repeats + 1):
                if i == 1:
                    _mark()
                    count = 0
                for _ in client.chat.completions.create(
                    messages=MESSAGES,
                    max_tokens=128,
                    stream=True,
                    stream_options={"include_usage": True},
                ):
                    count += 1
        return count

    def tool_stream(self, url: str, n: int) -> int:
        from llama_client import LlamaClient

        with LlamaClient(base_url=url, api_key="sk-bench", model=MODEL) as client:
            for i in range(n + 10):
                if i == 10:
                    _mark()
                with client.chat.completions.stream(messages=MESSAGES, tools=TOOLS) as s:
                    final = s.get_final_completion()
                final.choices[0].message.tool_calls[0].function.parsed_arguments()  # type: ignore[index]
        return n

    def async_many(self, url: str, total: int, concurrency: int) -> int:
        transport = self.transport

        async def make() -> Any:
            from llama_client import AsyncLlamaClient

            client = AsyncLlamaClient(
                base_url=url,
                api_key="sk-bench",
                model=MODEL,
                transport=transport,  # type: ignore[arg-type]
            )

            async def call() -> None:
                await client.chat.completions.create(
                    messages=MESSAGES, max_tokens=128, temperature=0.7
                )

            return call, client.close

        return _run_concurrently(make, total, concurrency)

    def soak(self, url: str, requests: int, broken: int) -> dict[str, Any]:
        """RSS after warm-up, after ``requests`` calls and after ``broken`` broken streams."""
        import gc

        from llama_client import LlamaClient, StreamError

        samples: dict[str, Any] = {}
        with LlamaClient(base_url=url, api_key="sk-bench", model=MODEL, max_retries=0) as client:
            create = client.chat.completions.create
            bclient = LlamaClient(
                base_url=url.replace("/v1", "/broken5/v1"),
                api_key="sk-bench",
                model=MODEL,
                max_retries=0,
            )
            for i in range(requests):
                create(messages=MESSAGES, max_tokens=128)
                if i + 1 in (requests // 10, requests // 2, requests):
                    gc.collect()
                    samples[f"rss_after_{i + 1}_requests_kb"] = _rss_kb()
            errors = 0
            for i in range(broken):
                try:
                    for _ in bclient.chat.completions.create(messages=MESSAGES, stream=True):
                        pass
                except StreamError:
                    errors += 1
                if i + 1 in (broken // 10, broken // 2, broken):
                    gc.collect()
                    samples[f"rss_after_{i + 1}_broken_kb"] = _rss_kb()
            samples["broken_errors"] = errors
            pool = bclient._http._transport._pool  # type: ignore[attr-defined]
            samples["connections_in_use"] = sum(not c.is_idle() for c in pool.connections)
            bclient.close()
        return samples

    def batch(self, url: str, total: int, concurrency: int) -> int:
        """A batch job (``llama_client.batch``): input file in, durable results file out."""
        import asyncio
        import tempfile

        from llama_client import AsyncLlamaClient
        from llama_client.batch import BatchJob, BatchSettings

        with tempfile.TemporaryDirectory() as tmp:
            path = _batch_input(tmp, total)

            async def main() -> None:
                async with AsyncLlamaClient(
                    base_url=url, api_key="sk-bench", model=MODEL, transport=self.transport
                ) as client:
                    # the same warm-up as the floors' (_run_concurrently): a full pool
                    await asyncio.gather(
                        *(
                            client.chat.completions.create(messages=MESSAGES, max_tokens=128)
                            for _ in range(concurrency)
                        )
                    )
                    settings = BatchSettings(concurrency=concurrency, defaults={"max_tokens": 128})
                    job = BatchJob(client, path, os.path.join(tmp, "run"), settings)
                    _mark()  # the job's own reading of the input is part of what is measured
                    await job.run()
                    assert job.stats.succeeded == total, job.stats.as_dict()

            asyncio.run(main())
        return total

    def batch_input(self, url: str, lines: int) -> int:
        """Everything a run holds for its input and state, without sending: the input
        checked (ids, duplicates), the results state read, every pending line streamed."""
        import tempfile

        from llama_client import AsyncLlamaClient
        from llama_client.batch import BatchJob, pending_requests

        with tempfile.TemporaryDirectory() as tmp:
            path = _batch_input(tmp, lines)
            _mark()
            client = AsyncLlamaClient(base_url=url, api_key="sk-bench", model=MODEL)
            job = BatchJob(client, path, os.path.join(tmp, "run"))
            scan = job.prepare()
            count = sum(1 for _ in pending_requests(path, job._state, job.settings, job._defaults))
            assert scan.pending == count == lines
        return lines


def _observed_seq(url: str, n: int, options: dict[str, Any]) -> int:
    from llama_client import LlamaClient

    with LlamaClient(base_url=url, api_key="sk-bench", model=MODEL, **options) as client:
        create = client.chat.completions.create
        for i in range(n + 20):
            if i == 20:
                _mark()
            create(messages=MESSAGES, max_tokens=128, temperature=0.7)
    return n


def _observed_stream(url: str, chunks: int, repeats: int, options: dict[str, Any]) -> int:
    from llama_client import LlamaClient

    count = 0
    with LlamaClient(base_url=url, api_key="sk-bench", model=MODEL, **options) as client:
        for i in range(repeats + 1):
            if i == 1:
                _mark()
                count = 0
            for _ in client.chat.completions.create(
                messages=MESSAGES,
                max_tokens=128,
                stream=True,
                stream_options={"include_usage": True},
            ):
                count += 1
    return count


class LlamaClientPlain(LlamaClientSDK):
    """llama_client with hooks and OpenTelemetry off: the baseline of the observability
    scenarios (``obs_seq``, ``obs_stream``), the same loop as the observed clients below."""

    def options(self) -> dict[str, Any]:
        return {}

    def obs_seq(self, url: str, n: int) -> int:
        return _observed_seq(url, n, self.options())

    def obs_stream(self, url: str, chunks: int, repeats: int) -> int:
        return _observed_stream(url, chunks, repeats, self.options())


class LlamaClientHooks(LlamaClientPlain):
    """llama_client with one hook receiving every event (and doing nothing with it)."""

    measure_import = False  # the same import as llama_client
    seq = stream = tool_stream = async_many = soak = None  # type: ignore[assignment]
    guarded = count_tokens = batch = batch_input = None  # type: ignore[assignment]

    def options(self) -> dict[str, Any]:
        from llama_client import Hooks

        return {"hooks": Hooks(on_event=lambda event: None)}


class LlamaClientOTel(LlamaClientPlain):
    """llama_client with ``otel=`` on: the OpenTelemetry SDK, every span exported (to an
    exporter that drops it) by a SimpleSpanProcessor, so each span's whole cost is counted."""

    measure_import = False  # the same import as llama_client
    seq = stream = tool_stream = async_many = soak = None  # type: ignore[assignment]
    guarded = count_tokens = batch = batch_input = None  # type: ignore[assignment]

    def options(self) -> dict[str, Any]:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        from llama_client import OTel

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Drop()))
        return {"otel": OTel(tracer_provider=provider)}


class LlamaClientOTelNoSDK(LlamaClientPlain):
    """llama_client with ``otel=True`` and no SDK configured: OpenTelemetry's no-op tracer."""

    measure_import = False  # the same import as llama_client
    seq = stream = tool_stream = async_many = soak = None  # type: ignore[assignment]
    guarded = count_tokens = batch = batch_input = None  # type: ignore[assignment]

    def options(self) -> dict[str, Any]:
        return {"otel": True}


class LlamaClientAiohttp(LlamaClientSDK):
    """llama_client with transport="aiohttp" (async only)."""

    module = "llama_client, llama_client._aiohttp_transport"
    transport = "aiohttp"
    batch_input = None  # type: ignore[assignment]  # no transport involved: measured once
    seq = None  # type: ignore[assignment]
    stream = None  # type: ignore[assignment]
    tool_stream = None  # type: ignore[assignment]
    guarded = None  # type: ignore[assignment]
    count_tokens = None  # type: ignore[assignment]  # no transport involved: measured once

    @staticmethod
    def _client(url: str, **kwargs: Any) -> Any:
        """(client, http client to close separately or None)."""
        from llama_client import AsyncLlamaClient

        client = AsyncLlamaClient(
            base_url=url, api_key="sk-bench", model=MODEL, transport="aiohttp", **kwargs
        )
        return client, None

    @staticmethod
    def _in_use(client: Any) -> int:
        return len(client._http._transport._session.connector._acquired)

    def soak(self, url: str, requests: int, broken: int) -> dict[str, Any]:
        """As LlamaClientSDK.soak, async with 64 in flight over the aiohttp transport."""
        import asyncio
        import gc

        from llama_client import StreamError

        samples: dict[str, Any] = {}

        async def main() -> None:
            client, http = self._client(url, max_retries=0)
            broken_client, broken_http = self._client(
                url.replace("/v1", "/broken5/v1"), max_retries=0
            )
            errors = 0

            async def calls(n: int) -> None:
                for _ in range(n):
                    await client.chat.completions.create(messages=MESSAGES, max_tokens=128)

            async def broken_calls(n: int) -> None:
                nonlocal errors
                for _ in range(n):
                    try:
                        stream = await broken_client.chat.completions.create(
                            messages=MESSAGES, stream=True
                        )
                        async for _ in stream:
                            pass
                    except StreamError:
                        errors += 1

            async def in_flight(worker: Any, total: int) -> None:
                # 64 workers sharing ``total`` calls: 64 in flight, no pile of waiting tasks.
                await asyncio.gather(*(worker(total // 64 + (i < total % 64)) for i in range(64)))

            done = 0
            for step in (requests // 10, requests // 2, requests):
                await in_flight(calls, step - done)
                done = step
                gc.collect()
                samples[f"rss_after_{step}_requests_kb"] = _rss_kb()
            done = 0
            for step in (broken // 10, broken // 2, broken):
                await in_flight(broken_calls, step - done)
                done = step
                gc.collect()
                samples[f"rss_after_{step}_broken_kb"] = _rss_kb()
            samples["broken_errors"] = errors
            samples["connections_in_use"] = self._in_use(broken_client)
            for c, h in ((client, http), (broken_client, broken_http)):
                await c.close()
                if h is not None:
                    await h.aclose()

        asyncio.run(main())
        return samples


class LlamaClientHttpxAiohttp(LlamaClientAiohttp):
    """llama_client over the ``httpx-aiohttp`` package (what openai-python uses), async only.

    The candidate to replace our own ``transport="aiohttp"``: ``http_client=`` gets an
    ``httpx_aiohttp.HttpxAiohttpClient`` with the timeout and pool limits our transport is
    given (``DEFAULT_TIMEOUT``, ``AIOHTTP_LIMITS``), so only the transport code differs.
    """

    batch = None  # type: ignore[assignment]
    batch_input = None  # type: ignore[assignment]

    module = "llama_client, httpx_aiohttp"

    @staticmethod
    def _client(url: str, **kwargs: Any) -> Any:
        import httpx_aiohttp

        from llama_client import AsyncLlamaClient
        from llama_client._base_client import AIOHTTP_LIMITS, DEFAULT_TIMEOUT

        http = httpx_aiohttp.HttpxAiohttpClient(timeout=DEFAULT_TIMEOUT, limits=AIOHTTP_LIMITS)
        client = AsyncLlamaClient(
            base_url=url, api_key="sk-bench", model=MODEL, http_client=http, **kwargs
        )
        return client, http

    def async_many(self, url: str, total: int, concurrency: int) -> int:
        async def make() -> Any:
            client, http = self._client(url)

            async def call() -> None:
                await client.chat.completions.create(
                    messages=MESSAGES, max_tokens=128, temperature=0.7
                )

            async def close() -> None:
                await client.close()
                await http.aclose()  # a client passed in is not closed by AsyncLlamaClient

            return call, close

        return _run_concurrently(make, total, concurrency)

    @staticmethod
    def _in_use(client: Any) -> int:
        return len(client._http._transport.client.connector._acquired)


# --------------------------------------------------------------------------- peers


class OpenAI:
    module = "openai"
    aiohttp = False

    def seq(self, url: str, n: int) -> int:
        import openai

        with openai.OpenAI(base_url=url, api_key="sk-bench") as client:
            create = client.chat.completions.create
            for i in range(n + 20):
                if i == 20:
                    _mark()
                create(model=MODEL, messages=MESSAGES, max_tokens=128, temperature=0.7)  # type: ignore[arg-type]
        return n

    def stream(self, url: str, chunks: int, repeats: int) -> int:
        import openai

        count = 0
        with openai.OpenAI(base_url=url, api_key="sk-bench") as client:
            for i in range(repeats + 1):
                if i == 1:
                    _mark()
                    count = 0
                for _ in client.chat.completions.create(
                    model=MODEL,
                    messages=MESSAGES,
                    max_tokens=128,
                    stream=True,  # type: ignore[arg-type]
                    stream_options={"include_usage": True},
                ):
                    count += 1
        return count

    def tool_stream(self, url: str, n: int) -> int:
        import openai

        with openai.OpenAI(base_url=url, api_key="sk-bench") as client:
            for i in range(n + 10):
                if i == 10:
                    _mark()
                with client.chat.completions.stream(
                    model=MODEL,
                    messages=MESSAGES,
                    tools=TOOLS,  # type: ignore[arg-type]
                ) as s:
                    final = s.get_final_completion()
                json.loads(final.choices[0].message.tool_calls[0].function.arguments)  # type: ignore[index,union-attr]
        return n

    def async_many(self, url: str, total: int, concurrency: int) -> int:
        use_aiohttp = self.aiohttp

        async def make() -> Any:
            import openai

            kwargs: dict[str, Any] = {}
            if use_aiohttp:
                kwargs["http_client"] = openai.DefaultAioHttpClient()
            client = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", **kwargs)

            async def call() -> None:
                await client.chat.completions.create(
                    model=MODEL,
                    messages=MESSAGES,
                    max_tokens=128,
                    temperature=0.7,  # type: ignore[arg-type]
                )

            return call, client.close

        return _run_concurrently(make, total, concurrency)


class OpenAIAiohttp(OpenAI):
    """openai with its aiohttp http client (async only)."""

    module = "openai, aiohttp"
    aiohttp = True
    seq = None  # type: ignore[assignment]
    stream = None  # type: ignore[assignment]
    tool_stream = None  # type: ignore[assignment]


class LiteLLM:
    module = "litellm"

    def seq(self, url: str, n: int) -> int:
        import litellm

        for i in range(n + 20):
            if i == 20:
                _mark()
            litellm.completion(
                model="openai/" + MODEL,
                api_base=url,
                api_key="sk-bench",
                messages=MESSAGES,
                max_tokens=128,
                temperature=0.7,
            )
        return n

    def stream(self, url: str, chunks: int, repeats: int) -> int:
        import litellm

        count = 0
        for i in range(repeats + 1):
            if i == 1:
                _mark()
                count = 0
            for _ in litellm.completion(
                model="openai/" + MODEL,
                api_base=url,
                api_key="sk-bench",
                messages=MESSAGES,
                max_tokens=128,
                stream=True,
                stream_options={"include_usage": True},
            ):
                count += 1
        return count

    def async_many(self, url: str, total: int, concurrency: int) -> int:
        async def make() -> Any:
            import litellm

            async def call() -> None:
                await litellm.acompletion(
                    model="openai/" + MODEL,
                    api_base=url,
                    api_key="sk-bench",
                    messages=MESSAGES,
                    max_tokens=128,
                    temperature=0.7,
                )

            async def close() -> None:
                pass

            return call, close

        return _run_concurrently(make, total, concurrency)


class LlamaClientGuarded:
    """llama_client with ``with_guard``: every call checks its input and its output with Llama
    Guard (two more requests, to the server's ``/guard`` route, which answers ``safe``)."""

    module = "llama_client:LlamaClient"
    measure_import = False  # the same import as llama_client

    def guarded(self, url: str, n: int) -> int:
        from llama_client import LlamaClient

        guard_url = url[: -len("/v1")] + "/guard/v1"
        with (
            LlamaClient(base_url=url, api_key="sk-bench", model=MODEL) as client,
            LlamaClient(base_url=guard_url, api_key="sk-bench") as guard,
        ):
            guard_id = "meta-llama/Llama-Guard-3-8B"
            guarded = client.with_guard(input=guard_id, output=guard_id, guard_client=guard)
            create = guarded.chat.completions.create
            for i in range(n + 20):
                if i == 20:
                    _mark()
                create(messages=MESSAGES, max_tokens=128, temperature=0.7)
        return n


CLIENTS: dict[str, type] = {
    "httpx": RawHttpx,
    "httpx+pydantic": HttpxPydantic,
    "httpx+BaseModel": HttpxBaseModel,
    "aiohttp": RawAiohttp,
    "aiohttp+durable": DurableAiohttp,
    "llama_client": LlamaClientPlain,
    "llama_client+hooks": LlamaClientHooks,
    "llama_client+otel": LlamaClientOTel,
    "llama_client+otel(no SDK)": LlamaClientOTelNoSDK,
    "llama_client[aiohttp]": LlamaClientAiohttp,
    "llama_client[httpx-aiohttp]": LlamaClientHttpxAiohttp,
    "llama_client+guard": LlamaClientGuarded,
    "openai": OpenAI,
    "openai[aiohttp]": OpenAIAiohttp,
    "litellm": LiteLLM,
    "tiktoken": Tiktoken,
    "in-memory lines": InMemoryLines,
}


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def supports(client: str, scenario: str) -> bool:
    if scenario == "import":
        return getattr(CLIENTS[client], "measure_import", True)
    return callable(getattr(CLIENTS[client], scenario, None))


def main() -> None:
    name, scenario, url = sys.argv[1:4]
    params: dict[str, Any] = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
    cls = CLIENTS[name]
    result: dict[str, Any] = {}
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if scenario == "import":
        t0 = time.perf_counter()
        for entry in cls.module.split(", "):
            module, _, attr = entry.partition(":")
            imported = __import__(module)
            if attr:
                getattr(imported, attr)
        result["wall"] = time.perf_counter() - t0
        result["ops"] = 1
    else:
        method = getattr(cls(), scenario)
        _mark()
        out = method(url, **params)
        wall, cpu = time.perf_counter() - _t0, time.process_time() - _c0
        if isinstance(out, dict):
            result.update(out)
            out = 1
        result.update(ops=out, wall=wall, cpu=cpu)
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


if __name__ == "__main__":
    main()
