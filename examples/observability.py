"""See what the client does: every call logged to a JSONL file by one hook, OpenTelemetry spans
printed to the console (when the SDK is installed), and the running usage totals with a cost.

python examples/observability.py            # the log goes to $LLAMA_LOG, else a temp file
pip install 'llama-client[otel]' opentelemetry-sdk   # to see the spans too
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from llama_client import APIConnectionError, APIStatusError, LlamaClient, StreamError
from llama_client.hooks import Event

LOG = Path(
    os.environ.get("LLAMA_LOG") or Path(tempfile.gettempdir()) / f"llama_calls_{os.getpid()}.jsonl"
)


def log_event(event: Event) -> None:
    """One hook for every event: a JSON line each (no API key ever reaches a hook)."""
    with LOG.open("a", encoding="utf-8") as f:
        f.write(json.dumps(event.to_dict()) + "\n")


def tracing() -> Any:
    """The OpenTelemetry settings: spans to the console, or None without the SDK."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError:
        print("(OpenTelemetry SDK not installed: no spans; see the docstring)")
        return None
    from llama_client import OTel

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    return OTel(tracer_provider=provider)  # capture_content=True would record the messages


def main() -> int:
    LOG.write_text("", encoding="utf-8")  # a fresh log for this run
    with LlamaClient(max_retries=0, hooks=log_event, otel=tracing()) as client:
        try:
            model = client.model or next((m.id for m in client.models.list()), None)
            if model is None:
                print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
                return 1
            # A self-hosted model has no catalogue price: give it yours (USD per 1M tokens).
            client.usage.set_prices({f"{client.providers[0]}:{model}": (0.05, 0.10)})
            messages = [{"role": "user", "content": "Name one fact about llamas."}]
            reply = client.chat.completions.create(model=model, messages=messages, max_tokens=64)
            print(reply.choices[0].message.content or "(the reply has no text)")
            with client.chat.completions.stream(
                model=model, messages=messages, max_tokens=64
            ) as stream:
                text = stream.get_final_text()
            print(text or "(the streamed reply has no text)")
        except APIConnectionError:
            print(
                f"No Llama server is answering at {client.base_url}; see README or set LLAMA_BASE_URL.",
                file=sys.stderr,
            )
            return 1
        except (APIStatusError, StreamError) as exc:
            print(f"The request failed: {exc}", file=sys.stderr)
            return 1
        for row in client.usage.by_model():
            cost = "unknown" if row.cost is None else f"${row.cost:.8f}"
            print(
                f"{row.provider} {row.model}: {row.requests} requests, {row.prompt_tokens} + "
                f"{row.completion_tokens} tokens, {row.retries} retries, cost {cost}"
            )
    kinds = [json.loads(line)["kind"] for line in LOG.read_text(encoding="utf-8").splitlines()]
    print(f"{len(kinds)} events logged to {LOG} (last: {', '.join(kinds[-3:])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
