"""Same code, any Llama host: ask one question through the provider(s) you choose.

    python examples/providers.py                         # local vLLM (LLAMA_BASE_URL or :8000)
    LLAMA_PROVIDER=groq GROQ_API_KEY=... python examples/providers.py
    python examples/providers.py groq together fireworks  # fallback, in this order

The model is the canonical alias LLAMA_MODEL (default llama-3.1-8b-instruct), translated for
each provider; self-hosted servers get it unchanged.
"""

from __future__ import annotations

import os
import sys

from llama_client import APIConnectionError, APIStatusError, InvalidRequestError, LlamaClient


def main(argv: list[str]) -> int:
    model = os.environ.get("LLAMA_MODEL") or "llama-3.1-8b-instruct"
    try:
        client = LlamaClient(provider=argv or None, model=model, max_retries=1)
    except InvalidRequestError as exc:  # unknown provider, missing key or base URL
        print(f"Cannot configure the client: {exc}", file=sys.stderr)
        return 2
    print(f"providers: {', '.join(client.providers)}; model: {model}")
    for row in client.models.catalog():
        if row.alias == model:
            print(f"  {row.provider}: sent as {row.id!r}")
    try:
        with client.chat.completions.stream(
            messages=[{"role": "user", "content": "In one sentence, what is a llama?"}],
            max_tokens=60,
            temperature=0,
        ) as stream:
            shown = False
            for text in stream.text_stream:
                print(text, end="", flush=True)
                shown = shown or bool(text)
            final = stream.get_final_completion()
    except InvalidRequestError as exc:
        print(f"Refused before sending: {exc}", file=sys.stderr)
        return 2
    except APIConnectionError as exc:
        print(
            f"No server answered ({exc.message}). Start one or choose a hosted provider.",
            file=sys.stderr,
        )
        return 1
    except APIStatusError as exc:
        print(f"The provider refused the request: {exc.message}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if not shown:
        print("(the reply has no text)", end="")
    print(f"\n[answered by {final.provider_name}; usage: {final.usage}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
