"""``client.models``: the models a provider serves, and the provider catalogue.

``list`` and ``retrieve`` go through the client's one verb like every chat call: with several
providers they fall over from one to the next, and ``retrieve("groq:<id>")`` asks that
provider only.
"""

from __future__ import annotations

import builtins
from functools import cached_property
from typing import TYPE_CHECKING

from typing_extensions import Unpack

from .._call import Call, get_call
from .._response import APIResponse
from ..providers import ModelInfo, catalog
from ..types.params import RequestOptions

if TYPE_CHECKING:
    from ..types.models import Model, ModelList
    from .client import AsyncLlamaClient

__all__ = ["AsyncModels", "AsyncModelsWithRawResponse"]


class AsyncModels:
    """``client.models``."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client
        self._request = client._request

    async def list(self, **options: Unpack[RequestOptions]) -> ModelList:
        """The models the provider serves; iterate the result for :class:`Model` objects.

        With several providers, the first that answers (in fallback order) lists its models.
        """
        from ..types.models import ModelList

        call: Call[ModelList] = get_call("/models", ModelList, options)
        return await self._request(call)

    async def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> Model:
        """One model the provider serves, by its id; ``"provider:<id>"`` asks that provider."""
        from ..types.models import Model

        call: Call[Model] = get_call("/models", Model, options, model=model)
        return await self._request(call)

    def catalog(self) -> builtins.list[ModelInfo]:
        """The model catalogue for this client's providers: each canonical alias, the vendor
        id it is sent as, and the vendor's context and output limits. No I/O."""
        return catalog(self._client.provider_adapters)

    @cached_property
    def with_raw_response(self) -> AsyncModelsWithRawResponse:
        """The same methods, returning :class:`APIResponse` (headers, status) around the result."""
        return AsyncModelsWithRawResponse(self._client)


class AsyncModelsWithRawResponse:
    """``client.models.with_raw_response``: each method returns an
    :class:`~llama_client.APIResponse`; its ``parse()`` gives what the plain method returns."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._request = client._request

    async def list(self, **options: Unpack[RequestOptions]) -> APIResponse[ModelList]:
        """:meth:`AsyncModels.list`, returning the HTTP response around its result."""
        from ..types.models import ModelList

        call: Call[APIResponse[ModelList]] = get_call("/models", ModelList, options, raw=True)
        return await self._request(call)

    async def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> APIResponse[Model]:
        """:meth:`AsyncModels.retrieve`, returning the HTTP response around its result."""
        from ..types.models import Model

        call: Call[APIResponse[Model]] = get_call("/models", Model, options, model=model, raw=True)
        return await self._request(call)
