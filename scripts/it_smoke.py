#!/usr/bin/env python3
"""Smoke-check a server started by it_server.py (standard library only).

    python3 scripts/it_smoke.py http://127.0.0.1:PORT/v1 [--api-key KEY] [-v]

Checks the behaviours the integration tests rely on: health, model list, plain
chat (stop / length / stream with usage / n=2 / logprobs), tool calls with
tool_choice auto / required / named (plain and streamed) and the follow-up turn,
json_schema output, and the context-length, unknown-model and auth errors.
Prints one line per check and exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
            },
        },
    }
]
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "Person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}


class Client:
    def __init__(self, base: str, key: str | None, verbose: bool):
        self.base = base.rstrip("/")
        self.root = self.base[:-3] if self.base.endswith("/v1") else self.base
        self.key = key
        self.verbose = verbose

    def _req(self, method: str, url: str, body=None, key=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        k = self.key if key is None else key
        if k:
            req.add_header("Authorization", f"Bearer {k}")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def get(self, path: str, root=False, key=None):
        return self._req("GET", (self.root if root else self.base) + path, key=key)

    def chat(self, key=None, **body):
        body.setdefault("model", MODEL)
        status, text = self._req("POST", self.base + "/chat/completions", body, key=key)
        if self.verbose:
            print(f"    -> {status} {text[:600]}")
        if body.get("stream"):
            return status, text
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


def sse_chunks(text: str) -> list:
    out = []
    for line in text.split("\n"):
        if line.startswith("data: "):
            payload = line[6:]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def valid_person(s: str) -> bool:
    try:
        obj = json.loads(s)
    except ValueError:
        return False
    return (
        isinstance(obj, dict)
        and set(obj) == {"name", "age"}
        and isinstance(obj["name"], str)
        and isinstance(obj["age"], int)
        and not isinstance(obj["age"], bool)
    )


def check_tool_call(resp: dict) -> str:
    msg = resp["choices"][0]["message"]
    calls = msg.get("tool_calls") or []
    assert len(calls) == 1, f"expected one tool call, got {msg}"
    fn = calls[0]["function"]
    assert fn["name"] == "get_weather", fn
    args = json.loads(fn["arguments"])
    assert isinstance(args, dict) and isinstance(args.get("city"), str), args
    return f"{fn['name']}({fn['arguments']}) finish={resp['choices'][0]['finish_reason']}"


def streamed_tool_call(text: str) -> str:
    chunks = [c for c in sse_chunks(text) if c != "[DONE]"]
    name, args, finish = None, "", None
    for c in chunks:
        for ch in c.get("choices", []):
            for tc in (ch.get("delta") or {}).get("tool_calls") or []:
                fn = tc.get("function") or {}
                name = fn.get("name") or name
                args += fn.get("arguments") or ""
            finish = ch.get("finish_reason") or finish
    assert name == "get_weather", (name, text[:400])
    parsed = json.loads(args)
    assert isinstance(parsed.get("city"), str), parsed
    return f"{name}({args}) finish={finish}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("--api-key")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    c = Client(a.base_url, a.api_key, a.verbose)
    results = []

    def check(name, fn):
        try:
            detail = fn()
            results.append(True)
            print(f"ok   {name}: {detail}")
        except Exception as e:
            results.append(False)
            print(f"FAIL {name}: {type(e).__name__}: {e}")

    hi = [{"role": "user", "content": "Say hello."}]
    wx = [{"role": "user", "content": "What is the weather in Paris?"}]

    def t_health():
        s, _ = c.get("/health", root=True)
        assert s == 200, s
        return "200"

    def t_models():
        s, body = c.get("/models")
        assert s == 200, (s, body)
        ids = [m["id"] for m in json.loads(body)["data"]]
        assert MODEL in ids, ids
        return str(ids)

    def t_chat(**kw):
        def run():
            s, r = c.chat(messages=hi, **kw)
            assert s == 200, (s, r)
            ch = r["choices"][0]
            assert ch["finish_reason"] == "stop" and ch["message"]["content"], ch
            return f"{ch['message']['content']!r} usage={r['usage']}"

        return run

    def t_length():
        s, r = c.chat(messages=hi, max_tokens=3)
        ch = r["choices"][0]
        assert s == 200 and ch["finish_reason"] == "length", (s, r)
        assert r["usage"]["completion_tokens"] == 3, r["usage"]
        return repr(ch["message"]["content"])

    def t_stream():
        s, text = c.chat(messages=hi, stream=True, stream_options={"include_usage": True})
        assert s == 200, (s, text)
        chunks = sse_chunks(text)
        assert chunks[-1] == "[DONE]", chunks[-1]
        usage = chunks[-2]
        assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0, usage
        content = "".join(
            (ch.get("delta") or {}).get("content") or "" for k in chunks[:-2] for ch in k["choices"]
        )
        finish = [
            ch["finish_reason"]
            for k in chunks[:-2]
            for ch in k["choices"]
            if ch.get("finish_reason")
        ]
        assert finish == ["stop"], finish
        return f"{content!r} chunks={len(chunks)} usage={usage['usage']}"

    def t_n2():
        s, r = c.chat(messages=hi, n=2, temperature=1.0)
        assert s == 200 and len(r["choices"]) == 2, (s, r)
        return str([ch["message"]["content"] for ch in r["choices"]])

    def t_logprobs():
        s, r = c.chat(messages=hi, logprobs=True, top_logprobs=2, max_tokens=4)
        lp = r["choices"][0]["logprobs"]["content"]
        assert s == 200 and len(lp) == 4 and len(lp[0]["top_logprobs"]) == 2, (s, r)
        return str([(e["token"], round(e["logprob"], 3)) for e in lp])

    def t_tool(choice, **kw):
        def run():
            body = {"messages": wx, "tools": TOOLS, "max_tokens": 64, **kw}
            if choice is not None:
                body["tool_choice"] = choice
            s, r = c.chat(**body)
            assert s == 200, (s, r)
            return check_tool_call(r)

        return run

    def t_tool_stream(choice):
        def run():
            body = {"messages": wx, "tools": TOOLS, "max_tokens": 64, "stream": True}
            if choice is not None:
                body["tool_choice"] = choice
            s, text = c.chat(**body)
            assert s == 200, (s, text)
            return streamed_tool_call(text)

        return run

    def t_followup(stream=False, with_tools=True):
        def run():
            s, r = c.chat(messages=wx, tools=TOOLS, max_tokens=64)
            call = r["choices"][0]["message"]["tool_calls"][0]
            msgs = [
                *wx,
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "22 C and sunny"},
            ]
            body = {"messages": msgs, "max_tokens": 64}
            if with_tools:
                body["tools"] = TOOLS
            if stream:
                s, text = c.chat(stream=True, **body)
                assert s == 200, (s, text)
                chunks = [k for k in sse_chunks(text) if k != "[DONE]"]
                content = "".join(
                    (ch.get("delta") or {}).get("content") or ""
                    for k in chunks
                    for ch in k["choices"]
                )
                assert content and not any(
                    (ch.get("delta") or {}).get("tool_calls") for k in chunks for ch in k["choices"]
                ), text[:400]
                return repr(content)
            s, r = c.chat(**body)
            assert s == 200, (s, r)
            m = r["choices"][0]["message"]
            assert m["content"] and not m.get("tool_calls"), m
            return f"{m['content']!r} finish={r['choices'][0]['finish_reason']}"

        return run

    def t_two_calls():
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
        msgs = [
            *wx,
            {"role": "assistant", "content": None, "tool_calls": [call, dict(call, id="c2")]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
            {"role": "tool", "tool_call_id": "c2", "content": "y"},
        ]
        s, r = c.chat(messages=msgs, tools=TOOLS, max_tokens=8)
        assert s == 400 and "single tool-calls" in json.dumps(r), (s, r)
        return f"{s}"

    def t_json_schema(**kw):
        def run():
            s, r = c.chat(
                messages=[{"role": "user", "content": "Invent a person."}],
                response_format=PERSON,
                max_tokens=64,
                **kw,
            )
            assert s == 200, (s, r)
            out = r["choices"][0]["message"]["content"]
            assert valid_person(out), out
            return f"{out!r} finish={r['choices'][0]['finish_reason']}"

        return run

    def t_json_object():
        _s, r = c.chat(
            messages=[{"role": "user", "content": "Reply in JSON."}],
            response_format={"type": "json_object"},
            max_tokens=64,
        )
        out = r["choices"][0]["message"]["content"]
        json.loads(out)
        return repr(out)

    def t_context():
        s, r = c.chat(messages=[{"role": "user", "content": "hello " * 2100}], max_tokens=4)
        assert s == 400 and r["error"]["param"] == "input_tokens", (s, r)
        return r["error"]["message"][:90]

    def t_unknown_model():
        s, r = c.chat(messages=hi, model="no-such-model")
        assert s == 404, (s, r)
        return r["error"]["type"]

    def t_bad_key():
        s, body = c.get("/models", key="wrong-key")
        if not a.api_key:
            assert s == 200, s
            return "no --api-key: wrong key accepted (200)"
        assert s == 401, (s, body)
        return body

    check("health", t_health)
    check("models", t_models)
    check("chat default sampling", t_chat())
    check("chat temperature 0", t_chat(temperature=0))
    check("chat max_tokens=3 -> length", t_length)
    check("chat stream + include_usage", t_stream)
    check("chat n=2", t_n2)
    check("chat logprobs", t_logprobs)
    for label, choice in [
        ("auto", "auto"),
        ("omitted", None),
        ("required", "required"),
        ("named", {"type": "function", "function": {"name": "get_weather"}}),
    ]:
        check(f"tool_choice {label}", t_tool(choice))
        check(f"tool_choice {label} temperature 0", t_tool(choice, temperature=0))
        check(f"tool_choice {label} stream", t_tool_stream(choice))
    check("tool follow-up (tools again)", t_followup())
    check("tool follow-up (no tools)", t_followup(with_tools=False))
    check("tool follow-up stream", t_followup(stream=True))
    check("two tool calls in history -> 400", t_two_calls)
    check("json_schema Person", t_json_schema())
    check("json_schema Person temperature 0", t_json_schema(temperature=0))
    check("json_schema Person temperature 1", t_json_schema(temperature=1.0))
    check("json_object", t_json_object)
    check("context length -> 400", t_context)
    check("unknown model -> 404", t_unknown_model)
    check("wrong api key", t_bad_key)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
