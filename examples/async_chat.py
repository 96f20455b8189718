"""Ask several questions concurrently with the async client.

python examples/async_chat.py
"""

from __future__ import annotations

import asyncio
import sys

from llama_client import APIConnectionError, APIStatusError, AsyncLlamaClient

QUESTIONS = ["Name a prime number.", "Name a colour.", "Name a planet."]


async def main() -> int:
    async with AsyncLlamaClient(max_retries=0) as client:
        try:
            model = client.model or next((m.id for m in await client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            answers = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": q}], max_tokens=32
                    )
                    for q in QUESTIONS
                )
            )
        except APIConnectionError:
            print(
                f"No Llama server is answering at {client.base_url}; see README or set LLAMA_BASE_URL.",
                file=sys.stderr,
            )
            return 1
        except APIStatusError as exc:
            print(f"The request failed: {exc}", file=sys.stderr)
            return 1
    for question, r in zip(QUESTIONS, answers, strict=True):
        print(f"{question}\n  -> {r.choices[0].message.content or '(the reply has no text)'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
