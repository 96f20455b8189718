"""Tool calling with the tool loop: the model asks for tools, the SDK runs them.

Run against any OpenAI-compatible Llama server, configured through the environment:

    LLAMA_BASE_URL=http://localhost:8000/v1 LLAMA_MODEL=meta-llama/Llama-3.1-8B-Instruct \
        python examples/tools.py

Works with or without a tool parser on the server: a tool call written as text is
recognised by the SDK.
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

from pydantic import Field

from llama_client import (
    APIConnectionError,
    InvalidRequestError,
    LlamaClient,
    MaxToolRoundsError,
    tool,
)

WEATHER = {"paris": 21, "rome": 27, "oslo": 9}


@tool
def get_weather(
    city: Annotated[str, Field(description="City name, e.g. Paris")],
    unit: Literal["celsius", "fahrenheit"] = "celsius",
) -> str:
    """Current temperature in a city."""
    celsius = WEATHER.get(city.strip().lower())
    if celsius is None:
        raise ValueError(f"no weather data for {city!r}; known cities: Paris, Rome, Oslo")
    value = celsius if unit == "celsius" else round(celsius * 9 / 5 + 32)
    return f"{value} degrees {unit} in {city}"


@tool
def convert_currency(amount: float, currency_from: str, currency_to: str) -> float:
    """Convert an amount between EUR and USD."""
    rates = {("EUR", "USD"): 1.08, ("USD", "EUR"): 1 / 1.08}
    rate = rates.get((currency_from.upper(), currency_to.upper()), 1.0)
    return round(amount * rate, 2)


def main() -> int:
    try:
        client = LlamaClient(timeout=120)
        result = client.chat.run_tools(
            messages=[
                {
                    "role": "user",
                    "content": "What is the temperature in Paris? Answer in one sentence.",
                }
            ],
            tools=[get_weather, convert_currency],
            max_rounds=4,
            temperature=0,
        )
    except APIConnectionError:
        print(f"No server answers at {LlamaClient().base_url}; start one or set LLAMA_BASE_URL.")
        return 1
    except InvalidRequestError as exc:
        print(f"Cannot send the request: {exc}")
        return 1
    except MaxToolRoundsError as exc:
        print(f"The model kept calling tools ({exc.max_rounds} rounds); giving up.")
        return 1
    for message in result.messages:
        if message["role"] == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                print(f"-> {call['function']['name']}({call['function']['arguments']})")
        elif message["role"] == "tool":
            print(f"<- {message['content']}")
    print(f"\n{result.content}\n({result.rounds} request(s), {result.usage.total_tokens} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
