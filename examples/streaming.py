"""Print an answer as it is generated, then the totals from the final usage chunk.

python examples/streaming.py
"""

from __future__ import annotations

import sys

from llama_client import APIConnectionError, APIStatusError, LlamaClient, StreamError


def main() -> int:
    with LlamaClient(max_retries=0) as client:
        try:
            model = client.model or next((m.id for m in client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            messages = [{"role": "user", "content": "Write a haiku about llamas."}]
            shown = False
            with client.chat.completions.stream(
                model=model, messages=messages, max_tokens=128
            ) as stream:
                for text in stream.text_stream:
                    print(text, end="", flush=True)
                    shown = shown or bool(text)
                final = stream.get_final_completion()
        except APIConnectionError:
            print(
                f"No Llama server is answering at {client.base_url}; see README or set LLAMA_BASE_URL.",
                file=sys.stderr,
            )
            return 1
        except (APIStatusError, StreamError) as exc:
            print(f"\nThe request failed: {exc}", file=sys.stderr)
            return 1
    if not shown:
        print("(the reply has no text)", end="")
    print()
    print(f"[finish_reason={final.choices[0].finish_reason}", end="")
    if final.usage is not None:
        print(f", {final.usage.completion_tokens} tokens generated", end="")
    print("]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
