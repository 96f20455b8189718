"""What observing a call costs, without the network: ``python benchmarks/watch_cost.py``.

A sequential request costs a few hundred CPU microseconds end to end, and a busy machine's
noise (see ``compare_rev.py``) hides a change of 1-2 %. This measures the observation alone:
the whole life of one call's :class:`~llama_client._observe.Watch` (made, told of an attempt,
told of the answer) for each way a client can be built, next to ``_plan`` (validating and
building the request, which every call pays) for scale. No server, no I/O: the request, the
response and the parsed completion are built once and replayed.

Runs with the system python (needs ``opentelemetry-sdk`` for the OTel rows, else skips them).
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from llama_client import Hooks, LlamaClient  # noqa: E402
from llama_client._call import chat_call  # noqa: E402
from llama_client.types import ChatCompletion  # noqa: E402
from tests.wire import completion_body  # noqa: E402

N = 20_000


def _otel_options() -> dict[str, dict[str, Any]]:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        print("(opentelemetry-sdk not installed: no OTel rows)")
        return {}
    from llama_client import OTel

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return {
        "otel=True, no SDK (no-op tracer)": {"otel": True},
        "otel with the SDK, every span exported": {"otel": OTel(tracer_provider=provider)},
    }


def _per_call(options: dict[str, Any]) -> tuple[float, float]:
    """µs per call of a watch's whole life, and of ``_plan``, for a client with ``options``."""
    body = completion_body()
    call = chat_call([{"role": "user", "content": "x"}], None, False, {"max_tokens": 10})
    client = LlamaClient(base_url="http://127.0.0.1:9/v1", api_key="sk-bench", model="m", **options)
    ep, request = client._plan(call)[0]
    assert isinstance(request, httpx.Request)
    response = httpx.Response(200, json=body, request=request)
    result = ChatCompletion.model_validate(body)
    observer = client._observer

    def life() -> None:
        watch = observer.watch(call, client.model, ep.name)
        assert watch is not None
        watch.ep = ep
        watch.attempt(request)
        watch.answered(response, result)

    def plan() -> None:
        client._plan(call)

    watch_us = min(timeit.repeat(life, number=N, repeat=5)) / N * 1e6
    plan_us = min(timeit.repeat(plan, number=N, repeat=5)) / N * 1e6
    return watch_us, plan_us


def main() -> None:
    variants: dict[str, dict[str, Any]] = {
        "hooks and OTel off (usage totals only)": {},
        "a hook on every event": {"hooks": Hooks(on_event=lambda event: None)},
        **_otel_options(),
    }
    for label, options in variants.items():
        watch_us, plan_us = _per_call(options)
        print(
            f"{label}: {watch_us:.2f} µs per call ({watch_us / plan_us:.2f}× _plan's {plan_us:.1f} µs)"
        )


if __name__ == "__main__":
    main()
