"""llama_client: a typed Python SDK for Llama 3.x inference endpoints."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._async.chat_stream import AsyncChatCompletionStream
from ._async.streaming import AsyncStream
from ._chat_stream import ChatCompletionAccumulator
from ._lazy import lazy_names as _lazy_names
from ._response import APIResponse
from ._sync.chat_stream import ChatCompletionStream
from ._sync.streaming import Stream
from ._version import __version__
from .client import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncLlamaClient,
    LlamaClient,
)
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContextLengthExceededError,
    HookError,
    InternalServerError,
    InvalidRequestError,
    LlamaClientError,
    MaxToolRoundsError,
    ModelNotServedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestRefusedError,
    ResponseValidationError,
    StreamError,
    StructuredOutputError,
    StructuredOutputTruncatedError,
    ToolCallArgumentsError,
    ToolUseFailedError,
    TooManyToolCallsError,
    UnprocessableEntityError,
    UnsafeContentError,
    UnsupportedParameterError,
    UnsupportedParameterWarning,
)
from .types import RateLimitInfo

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AssistantMessage",
    "AsyncChatCompletionStream",
    "AsyncLlamaClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletion",
    "ChatCompletionAccumulator",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionStream",
    "Choice",
    "ChoiceDelta",
    "ConflictError",
    "ContextLengthExceededError",
    "HookError",
    "Hooks",
    "InternalServerError",
    "InvalidRequestError",
    "LlamaClient",
    "LlamaClientError",
    "MaxToolRoundsError",
    "Model",
    "ModelList",
    "ModelNotServedError",
    "NotFoundError",
    "OTel",
    "ParsedChatCompletion",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitInfo",
    "RequestRefusedError",
    "ResponseValidationError",
    "Stream",
    "StreamError",
    "StructuredOutputError",
    "StructuredOutputTruncatedError",
    "SystemMessage",
    "TextPart",
    "TooManyToolCallsError",
    "Tool",
    "ToolCall",
    "ToolCallArgumentsError",
    "ToolMessage",
    "ToolRunResult",
    "ToolUseFailedError",
    "UnprocessableEntityError",
    "UnsafeContentError",
    "UnsupportedParameterError",
    "UnsupportedParameterWarning",
    "Usage",
    "UsageTotals",
    "UserMessage",
    "__version__",
    "count_tokens",
    "fit_messages",
    "tool",
]

if _TYPE_CHECKING:
    from ._tool_loop import ToolRunResult
    from .hooks import Hooks
    from .otel import OTel
    from .tokens import count_tokens, fit_messages
    from .tools import Tool, tool
    from .types import (
        AssistantMessage,
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessage,
        Choice,
        ChoiceDelta,
        Model,
        ModelList,
        ParsedChatCompletion,
        SystemMessage,
        TextPart,
        ToolCall,
        ToolMessage,
        Usage,
        UserMessage,
    )
    from .usage import UsageTotals

# Tool support (schemas, Llama's text formats, the tool loop) and the response models (pydantic
# classes, costly to define) are imported on first use, so that `import llama_client` stays
# cheap: a client is built without defining a model class.
_LAZY = {
    "Hooks": ".hooks",
    "OTel": ".otel",
    "UsageTotals": ".usage",
    "Tool": ".tools",
    "tool": ".tools",
    "ToolRunResult": "._tool_loop",
    "count_tokens": ".tokens",
    "fit_messages": ".tokens",
    "AssistantMessage": ".types",
    "ChatCompletion": ".types",
    "ChatCompletionChunk": ".types",
    "ChatCompletionMessage": ".types",
    "Choice": ".types",
    "ChoiceDelta": ".types",
    "Model": ".types",
    "ModelList": ".types",
    "ParsedChatCompletion": ".types",
    "SystemMessage": ".types",
    "TextPart": ".types",
    "ToolCall": ".types",
    "ToolMessage": ".types",
    "Usage": ".types",
    "UserMessage": ".types",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals())
