"""Your first call: one question, one answer.

    python examples/quickstart.py

Talks to LLAMA_BASE_URL (default: a local vLLM at http://localhost:8000/v1) with LLAMA_API_KEY
and LLAMA_MODEL if set; without LLAMA_MODEL it uses the first model the server lists.
"""

from __future__ import annotations

import sys

from llama_client import APIConnectionError, APIStatusError, LlamaClient


def main() -> int:
    with LlamaClient(max_retries=0) as client:
        try:
            model = client.model or next((m.id for m in client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            r = client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": "What is the capital of France?"},
                ],
                max_tokens=64,
            )
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
    choice = r.choices[0]
    print(f"model:         {r.model}")
    print(f"answer:        {choice.message.content or '(the reply has no text)'}")
    print(f"finish_reason: {choice.finish_reason}")
    if r.usage is not None:
        print(f"tokens:        {r.usage.prompt_tokens} in, {r.usage.completion_tokens} out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
