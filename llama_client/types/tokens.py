"""Types of token counting: the answers of servers' ``/tokenize`` endpoints and the result
of ``client.tokens.count``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ._base import ResponseModel

__all__ = ["AppliedTemplate", "TokenCount", "TokenizeResponse"]


class TokenizeResponse(ResponseModel):
    """``POST /tokenize``: vLLM answers ``count``, ``max_model_len`` and ``tokens``;
    llama.cpp only ``tokens``."""

    count: int | None = Field(default=None, ge=0)
    max_model_len: int | None = None
    tokens: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_a_count(self) -> TokenizeResponse:
        if self.count is None and "tokens" not in self.model_fields_set:
            raise ValueError("a /tokenize answer needs a count or tokens")
        return self


class AppliedTemplate(ResponseModel):
    """llama.cpp ``POST /apply-template``: the rendered prompt."""

    prompt: str


class TokenCount(BaseModel):
    """A prompt's token count (``client.tokens.count``)."""

    #: prompt tokens, as the server will count them
    count: int
    #: who counted: the server (``"vllm"``, ``"llamacpp"``) or this package (``"local"``)
    source: Literal["vllm", "llamacpp", "local"]
    #: the server's context window, when it says (vLLM's ``max_model_len``)
    max_model_len: int | None = None
