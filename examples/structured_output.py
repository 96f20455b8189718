"""Structured output: a reply validated into a pydantic model.

    python examples/structured_output.py

Talks to LLAMA_BASE_URL (default: a local vLLM at http://localhost:8000/v1) with LLAMA_API_KEY
and LLAMA_MODEL if set; without LLAMA_MODEL it uses the first model the server lists."""

from __future__ import annotations

import sys

from pydantic import BaseModel, Field

from llama_client import (
    APIConnectionError,
    APIStatusError,
    LlamaClient,
    StructuredOutputError,
    StructuredOutputTruncatedError,
)


class City(BaseModel):
    name: str
    country: str
    population_millions: float = Field(description="Population in millions")


class Cities(BaseModel):
    cities: list[City] = Field(max_length=3)


def main() -> int:
    with LlamaClient(max_retries=0, timeout=120) as client:
        try:
            model = client.model or next((m.id for m in client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            r = client.chat.completions.parse(
                model=model,
                messages=[{"role": "user", "content": "Name three large European cities."}],
                response_format=Cities,
                max_tokens=300,
                temperature=0,
            )
        except APIConnectionError:
            print(
                f"No Llama server is answering at {client.base_url}.\n"
                "Start one (`bash scripts/demo.sh` starts a tiny local vLLM) "
                "or set LLAMA_BASE_URL / LLAMA_API_KEY.",
                file=sys.stderr,
            )
            return 1
        except APIStatusError as exc:
            print(f"The server refused the request: {exc}", file=sys.stderr)
            return 1
        except StructuredOutputTruncatedError:
            print("The reply was cut off by the token limit; raise max_tokens.", file=sys.stderr)
            return 1
        except StructuredOutputError as exc:
            print(
                f"No valid reply after {len(exc.attempts)} attempt(s): {exc.errors[-1]}",
                file=sys.stderr,
            )
            return 1
    parsed = r.choices[0].message.parsed
    if parsed is None or not parsed.cities:
        print("The model named no cities (a valid but empty reply).")
        return 0
    for city in parsed.cities:
        print(f"{city.name} ({city.country}): {city.population_millions:g} million")
    return 0


if __name__ == "__main__":
    sys.exit(main())
