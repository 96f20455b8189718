"""Structured output: a reply validated into a pydantic model.

    LLAMA_BASE_URL=http://localhost:8000/v1 LLAMA_MODEL=meta-llama/Llama-3.1-8B-Instruct \
        python examples/structured_output.py
"""

from __future__ import annotations

import sys

from pydantic import BaseModel, Field

from llama_client import (
    APIConnectionError,
    InvalidRequestError,
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
    try:
        client = LlamaClient(timeout=120)
        r = client.chat.completions.parse(
            messages=[{"role": "user", "content": "Name three large European cities."}],
            response_format=Cities,
            max_tokens=300,
            temperature=0,
        )
    except APIConnectionError:
        print(f"No server answers at {LlamaClient().base_url}; start one or set LLAMA_BASE_URL.")
        return 1
    except InvalidRequestError as exc:
        print(f"Cannot send the request: {exc}")
        return 1
    except StructuredOutputTruncatedError:
        print("The reply was cut off; raise max_tokens.")
        return 1
    except StructuredOutputError as exc:
        print(f"No valid reply after {len(exc.attempts)} attempt(s): {exc.errors[-1]}")
        return 1
    parsed = r.choices[0].message.parsed
    assert parsed is not None
    for city in parsed.cities:
        print(f"{city.name} ({city.country}): {city.population_millions:g} million")
    return 0


if __name__ == "__main__":
    sys.exit(main())
