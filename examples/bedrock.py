"""Llama on AWS Bedrock (the Converse API) through the same client: a streamed answer, then a
tool call run by ``run_tools``.

    pip install 'llama-client[bedrock]'
    export AWS_REGION=us-east-1
    export AWS_BEARER_TOKEN_BEDROCK=...      # a Bedrock API key, or else AWS credentials:
    # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), AWS_PROFILE, or a role
    python examples/bedrock.py

This calls your AWS account and costs money (a few hundred tokens). BEDROCK_MODEL picks the
model (a catalogue alias or a Bedrock id; default llama-3.1-8b-instruct, which needs model
access enabled in the Bedrock console). AWS_ENDPOINT_URL_BEDROCK_RUNTIME points it at another
address (a VPC endpoint, or a local stub).
"""

from __future__ import annotations

import os
import sys

from llama_client import (
    APIConnectionError,
    APIStatusError,
    InvalidRequestError,
    LlamaClient,
    StreamError,
    tool,
)


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny and 21 °C in {city}"  # your weather service goes here


def main() -> int:
    model = os.environ.get("BEDROCK_MODEL") or "llama-3.1-8b-instruct"
    try:
        client = LlamaClient(provider="bedrock", model=model, max_retries=2)
    except (InvalidRequestError, ImportError) as exc:  # no region, no botocore
        print(f"Bedrock is not configured: {exc}", file=sys.stderr)
        return 1
    print(f"Bedrock at {client.base_url}; model {model}")
    try:
        with client.chat.completions.stream(
            messages=[{"role": "user", "content": "In one sentence, what is a llama?"}],
            max_tokens=80,
            temperature=0,
        ) as stream:
            shown = False
            for text in stream.text_stream:
                print(text, end="", flush=True)
                shown = shown or bool(text)
            final = stream.get_final_completion()
        if not shown:
            print("(the reply has no text)", end="")
        print(f"\n[{final.choices[0].finish_reason}; usage: {final.usage}]")

        result = client.chat.run_tools(
            messages=[{"role": "user", "content": "What is the weather in Lisbon?"}],
            tools=[get_weather],
            max_tokens=200,
        )
    except InvalidRequestError as exc:  # no AWS credentials found, a refused parameter
        print(f"Refused before sending: {exc}", file=sys.stderr)
        return 1
    except APIConnectionError as exc:
        print(f"Bedrock could not be reached: {exc.message}", file=sys.stderr)
        return 1
    except (APIStatusError, StreamError) as exc:  # access not enabled, throttled, ...
        print(f"Bedrock refused the request: {exc.message}", file=sys.stderr)
        return 1
    finally:
        client.close()
    calls = [m for m in result.messages if m.get("role") == "tool"]
    if not calls:
        print("(the model answered without calling a tool)")
    print(result.content or "(the final reply has no text)")
    print(f"[{result.rounds} round(s); usage: {result.usage}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
