"""Exact token counts against the real vLLM (issue #12): 50 generated conversations, each
counted offline and compared with the server's ``/tokenize`` and ``usage.prompt_tokens``.

The tiny test model has the real Llama 3 tokenizer and a Llama 3.1 chat template (scripts/
make_tiny_llama.py), so the offline count (template ``llama3.1``) must equal the server's
exactly: plain chat, system prompts, multi-turn, tools, tool calls and results, non-ASCII and
emoji, whitespace that the template trims, and control-token text.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from llama_client import AsyncLlamaClient, ContextLengthExceededError, LlamaClient, count_tokens

WORDS = [
    "hello",
    "Paris",
    "naïve",
    "café",
    "日本語",
    "Привет",
    "😀",
    "🇫🇷",
    "👩‍💻",
    "x=1;",
    "  spaced  ",
    "\n",
    "\t",
    "1234567",
    "don't",
    "<b>&amp;</b>",
    '"quoted"',
    "{json}",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|eot_id",
    "ünïcödé",
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city — «météo».",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "unit": {"type": "string", "enum": ["C", "F"]},
                },
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def conversation(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """A reproducible conversation: system prompt or not, 1-4 turns, with tools half the time
    (and then a tool call and its result in the history now and then)."""
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = []
    if rng.random() < 0.6:
        messages.append({"role": "system", "content": _text(rng, rng.randint(0, 12))})
    tools = TOOLS if rng.random() < 0.5 else None
    for turn in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": _text(rng, rng.randint(1, 20))})
        last = turn == 0 or rng.random() < 0.3
        if tools and rng.random() < 0.5:
            args = {"city": rng.choice(["Paris", "東京", "São Paulo"]), "n": rng.randint(0, 99)}
            call_id = f"call{seed}x{turn}"
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": json.dumps(args)},
                        }
                    ],
                }
            )
            messages.append(
                {"role": "tool", "tool_call_id": call_id, "content": _text(rng, rng.randint(1, 8))}
            )
        if not last or rng.random() < 0.5:
            messages.append({"role": "assistant", "content": _text(rng, rng.randint(1, 15))})
    if messages[-1]["role"] == "assistant":
        messages.append({"role": "user", "content": _text(rng, rng.randint(1, 10))})
    return messages, tools


SEEDS = list(range(50))


def test_fifty_conversations_count_as_vllm_does(client: LlamaClient) -> None:
    mismatches = []
    for seed in SEEDS:
        messages, tools = conversation(seed)
        local = count_tokens(messages, tools=tools, template="llama3.1")
        by_model = client.tokens.count(messages, tools=tools, exact="local").count
        server = client.tokens.count(messages, tools=tools, exact="server").count
        completion = client.chat.completions.create(
            messages=messages,
            tools=tools,
            max_tokens=1,
            temperature=0,
            parse_tool_calls=False,
        )
        assert completion.usage is not None
        used = completion.usage.prompt_tokens
        if not local == by_model == server == used:
            mismatches.append((seed, local, by_model, server, used))
    assert mismatches == [], "seed, local, local via client, /tokenize, usage.prompt_tokens"


async def test_server_count_async(aclient: AsyncLlamaClient) -> None:
    messages, tools = conversation(7)
    result = await aclient.tokens.count(messages, tools=tools)
    assert result.source == "vllm" and result.max_model_len
    assert result.count == count_tokens(messages, tools=tools)


def test_preflight_against_the_servers_window(client: LlamaClient, server_info: Any) -> None:
    window = int(server_info["max_model_len"] or 2048)
    messages = [{"role": "user", "content": "word " * (window + 10)}]
    with pytest.raises(ContextLengthExceededError) as info:
        client.chat.completions.create(messages=messages, context_window=window, max_tokens=1)
    assert info.value.prompt_tokens == client.tokens.count(messages).count
    short = [{"role": "user", "content": "Hello"}]
    completion = client.chat.completions.create(
        messages=short, context_window=window, max_tokens="auto", temperature=0
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == count_tokens(short)
