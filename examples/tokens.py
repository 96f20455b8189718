"""Exact token counts and a context budget (needs ``pip install 'llama-client[tokens]'``).

    python examples/tokens.py

Counts a prompt offline with the real Llama 3 tokenizer, asks the server for its own count
(vLLM and llama.cpp have ``/tokenize``), trims a long conversation to a budget with
``fit_messages``, then sends the prompt with ``max_tokens="auto"``: the output limit is what
the context window leaves. Talks to LLAMA_BASE_URL (default: a local vLLM) with LLAMA_API_KEY
and LLAMA_MODEL if set; without LLAMA_MODEL it uses the first model the server lists.
"""

from __future__ import annotations

import sys

from llama_client import (
    APIConnectionError,
    APIStatusError,
    ContextLengthExceededError,
    InvalidRequestError,
    LlamaClient,
    ResponseValidationError,
    count_tokens,
    fit_messages,
)

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Summarise: Llama 3.1 has a 128K context window. Größe: 😀"},
]


def long_conversation(turns: int) -> list[dict[str, str]]:
    msgs = [MESSAGES[0]]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"Question {i}: " + "tell me more " * 40})
        msgs.append({"role": "assistant", "content": f"Answer {i}: " + "here is more " * 40})
    msgs.append(MESSAGES[1])
    return msgs


def main() -> int:
    try:
        local = count_tokens(MESSAGES)
    except ImportError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"counted here:       {local} prompt tokens")
    with LlamaClient(max_retries=0) as client:
        try:
            model = client.model or next((m.id for m in client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            window = None
            try:
                server = client.tokens.count(MESSAGES, model=model)
                window = server.max_model_len
                print(f"counted by server:  {server.count} prompt tokens ({server.source})")
            except (InvalidRequestError, APIStatusError, ResponseValidationError) as exc:
                print(f"the server cannot count tokens ({type(exc).__name__})")
            window = window or 8192
            trimmed, report = fit_messages(long_conversation(30), window // 2)
            print(
                f"fit_messages:       {report.tokens_before} -> {report.tokens_after} tokens, "
                f"{len(report.dropped)} of {len(trimmed) + len(report.dropped)} messages dropped"
            )
            r = client.chat.completions.create(
                model=model, messages=MESSAGES, max_tokens="auto", context_window=window
            )
        except ContextLengthExceededError as exc:
            print(f"Too long, nothing was sent: {exc}", file=sys.stderr)
            return 1
        except APIConnectionError:
            print(
                f"No Llama server is answering at {client.base_url}.\n"
                "Start one (see README: `bash scripts/demo.sh` starts a tiny local vLLM) "
                "or set LLAMA_BASE_URL / LLAMA_API_KEY.",
                file=sys.stderr,
            )
            return 1
        except APIStatusError as exc:
            print(f"The server refused the request: {exc}", file=sys.stderr)
            return 1
    print(f"answer:             {r.choices[0].message.content or '(the reply has no text)'}")
    if r.usage is not None:
        print(f"usage.prompt_tokens: {r.usage.prompt_tokens} (counted here: {local})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
