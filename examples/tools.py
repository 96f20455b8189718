"""Tool calling with the tool loop: the model asks for tools, the SDK runs them.

    python examples/tools.py

Talks to LLAMA_BASE_URL (default: a local vLLM at http://localhost:8000/v1) with LLAMA_API_KEY
and LLAMA_MODEL if set; without LLAMA_MODEL it uses the first model the server lists.
Works with or without a tool parser on the server: a tool call written as text is
recognised by the SDK.
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

from pydantic import Field

from llama_client import APIConnectionError, APIStatusError, LlamaClient, MaxToolRoundsError, tool

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
    with LlamaClient(max_retries=0, timeout=120) as client:
        try:
            model = client.model or next((m.id for m in client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            result = client.chat.run_tools(
                model=model,
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
        except MaxToolRoundsError as exc:
            print(f"The model kept calling tools for {exc.max_rounds} rounds.", file=sys.stderr)
            return 1
    called = False
    for message in result.messages:
        if message["role"] == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                print(f"-> {call['function']['name']}({call['function']['arguments']})")
                called = True
        elif message["role"] == "tool":
            print(f"<- {message['content']}")
    if not called:
        print("(the model answered without calling a tool)")
    print(
        f"\n{result.content or '(the final reply has no text)'}\n({result.rounds} request(s), {result.usage.total_tokens} tokens)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
