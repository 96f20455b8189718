"""Typed request and response objects."""

from typing import TYPE_CHECKING

from .._lazy import lazy_names as _lazy_names
from .params import ChatCompletionParams, RequestOptions
from .ratelimit import RateLimitInfo

if TYPE_CHECKING:
    from .chat import (
        AssistantMessage,
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessage,
        ChatMessage,
        Choice,
        ChoiceDelta,
        ChoiceDeltaFunction,
        ChoiceDeltaToolCall,
        ChoiceLogprobs,
        ChunkChoice,
        ContentPart,
        FunctionCall,
        ImagePart,
        ImageURL,
        ParsedChatCompletion,
        ParsedChatCompletionMessage,
        ParsedChoice,
        SystemMessage,
        TextPart,
        TokenLogprob,
        ToolCall,
        ToolMessage,
        TopLogprob,
        Usage,
        UserMessage,
    )
    from .models import Model, ModelList
    from .params import MessageParam

__all__ = [
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionParams",
    "ChatMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunction",
    "ChoiceDeltaToolCall",
    "ChoiceLogprobs",
    "ChunkChoice",
    "ContentPart",
    "FunctionCall",
    "ImagePart",
    "ImageURL",
    "MessageParam",
    "Model",
    "ModelList",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "RateLimitInfo",
    "RequestOptions",
    "SystemMessage",
    "TextPart",
    "TokenLogprob",
    "ToolCall",
    "ToolMessage",
    "TopLogprob",
    "Usage",
    "UserMessage",
]

# The response models are pydantic classes, costly to define: they are imported on first use,
# so that `import llama_client` (and building a client) defines none of them.
_LAZY = {
    "AssistantMessage": ".chat",
    "ChatCompletion": ".chat",
    "ChatCompletionChunk": ".chat",
    "ChatCompletionMessage": ".chat",
    "ChatMessage": ".chat",
    "Choice": ".chat",
    "ChoiceDelta": ".chat",
    "ChoiceDeltaFunction": ".chat",
    "ChoiceDeltaToolCall": ".chat",
    "ChoiceLogprobs": ".chat",
    "ChunkChoice": ".chat",
    "ContentPart": ".chat",
    "FunctionCall": ".chat",
    "ImagePart": ".chat",
    "ImageURL": ".chat",
    "ParsedChatCompletion": ".chat",
    "ParsedChatCompletionMessage": ".chat",
    "ParsedChoice": ".chat",
    "SystemMessage": ".chat",
    "TextPart": ".chat",
    "TokenLogprob": ".chat",
    "ToolCall": ".chat",
    "ToolMessage": ".chat",
    "TopLogprob": ".chat",
    "Usage": ".chat",
    "UserMessage": ".chat",
    "Model": ".models",
    "ModelList": ".models",
    "MessageParam": ".params",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals())
