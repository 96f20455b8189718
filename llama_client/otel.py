"""OpenTelemetry settings: ``LlamaClient(otel=True)`` or ``LlamaClient(otel=OTel(...))``.

Needs the ``llama-client[otel]`` extra (``opentelemetry-api``); this module itself imports
nothing from it, and neither does ``import llama_client``. The spans follow the OpenTelemetry
GenAI semantic conventions (see :mod:`llama_client._otel` for every attribute). You configure
the SDK and its exporters as for any other library; without an SDK the spans are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequestError

__all__ = ["CONTENT_ENV", "OTel"]

#: The environment variable the GenAI instrumentations read to record message content:
#: ``true`` (or ``span_only`` / ``span_and_event``) turns it on when ``capture_content`` is
#: left unset.
CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})


@dataclass(frozen=True)
class OTel:
    """How a client traces its calls.

    ``tracer_provider``: the OpenTelemetry ``TracerProvider`` to use (default: the global one,
    ``opentelemetry.trace.set_tracer_provider``). ``capture_content``: record the messages
    sent and received (``gen_ai.input.messages`` / ``gen_ai.output.messages``): off by
    default, as prompts and answers may hold personal data; None reads
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. ``max_content``: characters kept of
    each recorded text.
    """

    tracer_provider: Any = None
    capture_content: bool | None = None
    max_content: int = 16_384

    def __post_init__(self) -> None:
        if isinstance(self.max_content, bool) or not isinstance(self.max_content, int):
            raise InvalidRequestError("otel.max_content", "must be a positive integer")
        if self.max_content <= 0:
            raise InvalidRequestError("otel.max_content", "must be a positive integer")

    def content_captured(self) -> bool:
        """Whether message content is recorded (the argument, else the environment)."""
        if self.capture_content is not None:
            return bool(self.capture_content)
        return os.environ.get(CONTENT_ENV, "").strip().lower() in _ON


def make_tracer(otel: OTel | bool | None) -> Any:
    """``otel=`` of the clients: the tracer (a :class:`llama_client._otel.Tracer`), or None."""
    if otel is None or otel is False:
        return None
    if otel is True:
        otel = OTel()
    if not isinstance(otel, OTel):
        raise InvalidRequestError("otel", f"must be True, False, None or an OTel, got {otel!r}")
    try:
        from ._otel import Tracer
    except ImportError as exc:
        if not (exc.name or "").startswith("opentelemetry"):
            raise
        raise ImportError("otel= needs OpenTelemetry: pip install 'llama-client[otel]'") from exc
    return Tracer(otel)
