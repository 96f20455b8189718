"""Keyword arguments of ``chat.completions.create`` (for type checkers and editors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import httpx
from typing_extensions import TypedDict

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..tools import ToolLike
    from .chat import ChatMessage

    #: A message as a typed model or as a plain dict of the same shape.
    MessageParam: TypeAlias = ChatMessage | Mapping[str, object]
else:

    def __getattr__(name: str) -> object:
        # Built on first use: it names the chat models, which `import llama_client` leaves
        # undefined until a response is read.
        if name != "MessageParam":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from .chat import ChatMessage

        value = ChatMessage | Mapping[str, object]
        globals()[name] = value
        return value


__all__ = [
    "ChatCompletionParams",
    "MessageParam",
    "ParseParams",
    "RequestOptions",
    "RunToolsParams",
]


class RequestOptions(TypedDict, total=False):
    """Per-call options that shape the HTTP request rather than the JSON body."""

    #: Headers added to (or overriding) the client's for this call; None removes one.
    extra_headers: Mapping[str, str | None]
    #: Query parameters added to the URL.
    extra_query: Mapping[str, str]
    #: Fields merged into the JSON body last (server-specific options such as vLLM's
    #: ``stop_token_ids``, ``ignore_eos`` or ``structured_outputs``).
    extra_body: Mapping[str, object]
    #: Seconds (or an ``httpx.Timeout``) for this call instead of the client's.
    timeout: float | httpx.Timeout


class _SharedChatParams(RequestOptions, total=False):
    """Body parameters of every chat call (``create``, ``parse``, ``run_tools``)."""

    frequency_penalty: float | None
    logit_bias: Mapping[str, float] | None
    logprobs: bool | None
    max_completion_tokens: int | Literal["auto"] | None
    #: ``"auto"``: what the context window leaves after the counted prompt (needs the
    #: ``tokens`` extra and a known window)
    max_tokens: int | Literal["auto"] | None
    metadata: Mapping[str, str] | None
    min_p: float | None
    n: int | None
    parallel_tool_calls: bool | None
    presence_penalty: float | None
    repetition_penalty: float | None
    seed: int | None
    stop: str | Sequence[str] | None
    stream_options: Mapping[str, object] | None
    temperature: float | None
    tool_choice: Literal["none", "auto", "required"] | Mapping[str, object] | None
    top_k: int | None
    top_logprobs: int | None
    top_p: float | None
    user: str | None
    #: Not sent: when tools were given and the reply has no ``tool_calls``, recognise a Llama
    #: tool call written as text in ``content`` (default True). False leaves content as sent.
    parse_tool_calls: bool
    #: Not sent: count the prompt (``tokens`` extra) and raise ContextLengthExceededError
    #: before any I/O when it and ``max_tokens`` exceed the window. Default: on where the
    #: window is known (catalogue or ``context_window``) and the extra is installed.
    check_context: bool | None
    #: Not sent: the model's context window, for servers whose window the catalogue cannot
    #: know (vLLM ``--max-model-len``, Ollama ``num_ctx``).
    context_window: int | None
    #: Not sent: control-token text (``<|eot_id|>``) in the messages is ``"allow"``ed
    #: (default), or raises a ``"warn"``ing or an InvalidRequestError (``"refuse"``).
    control_tokens: Literal["allow", "warn", "refuse"] | None


class _ToolsParam(TypedDict, total=False):
    #: Tools the model may call: :class:`~llama_client.Tool` objects (``@tool``), plain typed
    #: functions, pydantic model classes (definition only) or OpenAI-style dicts.
    tools: Sequence[ToolLike] | None


class _ResponseFormatParam(TypedDict, total=False):
    response_format: Mapping[str, object] | None


class ChatCompletionParams(_SharedChatParams, _ToolsParam, _ResponseFormatParam, total=False):
    """The body parameters ``create`` accepts by name. ``None`` means "not sent"."""


class ParseParams(_SharedChatParams, _ToolsParam, total=False):
    """The keyword arguments of ``parse`` besides ``response_format``."""


class RunToolsParams(_SharedChatParams, _ResponseFormatParam, total=False):
    """The keyword arguments of ``run_tools`` besides ``tools``."""
