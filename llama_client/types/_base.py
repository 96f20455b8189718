"""The base class of every response model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ResponseModel(BaseModel):
    """A server response object.

    Unknown fields are kept (``model.model_extra``, or as attributes): vLLM adds ``stop_reason``
    and ``prompt_token_ids``, llama.cpp adds ``timings``, Groq adds ``x_groq``.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=(), defer_build=True)
