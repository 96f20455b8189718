"""``client.tokens``: a prompt's token count, from the server or counted here.

``count(..., exact="server")`` asks the server that will run the prompt: vLLM's ``/tokenize``
(chat messages in, the count out), or llama.cpp's ``/apply-template`` then ``/tokenize``. Both
go through the client's one verb. ``exact="local"`` counts offline with the real Llama 3
tokenizer (:func:`llama_client.tokens.count_tokens`, the ``tokens`` extra), no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._call import Call, server_call
from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from ..tools import ToolLike
    from ..types.params import MessageParam
    from ..types.tokens import AppliedTemplate, TokenCount, TokenizeResponse
    from .client import AsyncLlamaClient

__all__ = ["AsyncTokens"]

#: Providers whose server can count a chat prompt, and how.
SERVER_TOKENIZERS = {"vllm": "vllm", "llamacpp": "llamacpp"}


class AsyncTokens:
    """``client.tokens``."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client
        self._request = client._request

    async def count(
        self,
        messages: Sequence[MessageParam],
        *,
        tools: Sequence[ToolLike] | None = None,
        model: str | None = None,
        exact: Literal["server", "local"] = "server",
        template: str | None = None,
    ) -> TokenCount:
        """The prompt tokens of a chat completion of ``messages`` (and ``tools``).

        ``exact="server"`` asks the server (vLLM ``/tokenize``; llama.cpp ``/apply-template``
        and ``/tokenize``), which is exact by definition; other providers have no such
        endpoint and are refused before any I/O. ``exact="local"`` counts offline with the
        template of the client's provider (or ``template``), see
        :func:`llama_client.tokens.count_tokens`.
        """
        from .._tool_calls import prepare_tool_params
        from .._validation import normalize_messages
        from ..types.tokens import AppliedTemplate, TokenCount, TokenizeResponse

        msgs = normalize_messages(messages)
        tool_defs: Any = None
        if tools is not None:
            tool_defs = prepare_tool_params({"tools": tools})[0].get("tools")
        model = model or self._client.model
        provider = self._client.provider.name
        if exact == "local":
            from ..tokens import count_tokens

            n = count_tokens(
                msgs, tools=tool_defs, model=model, provider=provider, template=template
            )
            return TokenCount(count=n, source="local")
        if exact != "server":
            raise InvalidRequestError("exact", f'must be "server" or "local", got {exact!r}')
        style = SERVER_TOKENIZERS.get(provider)
        if style is None:
            raise InvalidRequestError(
                "exact",
                f"provider {provider!r} has no tokenize endpoint (vLLM and llama.cpp do); "
                'use exact="local"',
            )
        body: dict[str, Any] = {"messages": msgs}
        if tool_defs is not None:
            body["tools"] = tool_defs
        if style == "vllm":
            from .._aliases import is_alias

            if model and not is_alias(model):
                body["model"] = model
            body["add_generation_prompt"] = True
            call: Call[TokenizeResponse] = server_call("/tokenize", TokenizeResponse, body)
            answer = await self._request(call)
            n = answer.count if answer.count is not None else len(answer.tokens)
            return TokenCount(count=n, source="vllm", max_model_len=answer.max_model_len)
        applied_call: Call[AppliedTemplate] = server_call("/apply-template", AppliedTemplate, body)
        applied = await self._request(applied_call)
        tokenize: Call[TokenizeResponse] = server_call(
            "/tokenize",
            TokenizeResponse,
            {"content": applied.prompt, "add_special": True, "parse_special": True},
        )
        answer = await self._request(tokenize)
        return TokenCount(count=len(answer.tokens), source="llamacpp")
