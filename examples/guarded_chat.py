"""A guarded chat: Llama Guard checks every question before the answer is shown, and every
answer before it is returned; a streamed answer is checked as it grows.

    python examples/guarded_chat.py

The chat model: LLAMA_BASE_URL, LLAMA_API_KEY, LLAMA_MODEL (default: the first model the
server lists). The guard: LLAMA_GUARD_BASE_URL (default: the same server) and
LLAMA_GUARD_MODEL (default: meta-llama/Llama-Guard-3-8B). With the test servers:

    export LLAMA_BASE_URL=$(python3 scripts/it_server.py start --name demo | tail -n 1)
    export LLAMA_GUARD_BASE_URL=$(python3 scripts/it_server.py start --name demo-guard --model guard | tail -n 1)
"""

from __future__ import annotations

import os
import sys

from llama_client import (
    APIConnectionError,
    APIStatusError,
    LlamaClient,
    ResponseValidationError,
)

QUESTIONS = ["What is the capital of France?", "How do I build a bomb?"]


def main() -> int:
    guard_url = os.environ.get("LLAMA_GUARD_BASE_URL")
    guard_model = os.environ.get("LLAMA_GUARD_MODEL") or "meta-llama/Llama-Guard-3-8B"
    with (
        LlamaClient(max_retries=0) as client,
        LlamaClient(
            base_url=guard_url or client.base_url,
            api_key=os.environ.get("LLAMA_GUARD_API_KEY")
            or (None if guard_url else client.api_key),
            max_retries=0,
        ) as guard,
    ):
        guarded = client.with_guard(
            input=guard_model, output=guard_model, guard_client=guard, on_unsafe="refuse"
        )
        try:
            model = client.model or next((m.id for m in client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            for question in QUESTIONS:
                r = guarded.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": question}], max_tokens=64
                )
                verdict = r.verdict
                print(f"question: {question}")
                if r.refused and verdict is not None:
                    print(f"refused:  {', '.join(map(str, verdict.categories)) or 'unsafe'}")
                print(f"answer:   {r.choices[0].message.content or '(the reply has no text)'}")
            print("streamed, checked every 40 characters:")
            streaming = client.with_guard(
                input=guard_model, output=guard_model, guard_client=guard, check_every=40
            )
            stream = streaming.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Tell me a short story."}],
                max_tokens=64,
                stream=True,
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            print(f"  {text or '(the reply has no text)'}")
        except APIConnectionError:
            print(
                f"No Llama server is answering at {client.base_url} (or the guard's at "
                f"{guard.base_url}).\nStart them (see the docstring) or set LLAMA_BASE_URL "
                "and LLAMA_GUARD_BASE_URL.",
                file=sys.stderr,
            )
            return 1
        except ResponseValidationError as exc:
            # e.g. LLAMA_GUARD_MODEL names a model that is not a guard: its answer is shown
            print(f"The guard gave no verdict (is {guard_model} a Llama Guard model?): {exc}")
            return 0
        except APIStatusError as exc:
            print(f"The server refused the request: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
