"""``client.models``: the server's model list and the provider catalogue."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from typing_extensions import Unpack

from ..errors import InvalidRequestError
from ..providers import ModelInfo
from ..types.models import Model, ModelList
from ..types.params import (
    RequestOptions,
)

if TYPE_CHECKING:
    from ..client import AsyncLlamaClient, LlamaClient


class Models:
    """``client.models``."""

    def __init__(self, client: LlamaClient) -> None:
        self._client = client

    def list(self, **options: Unpack[RequestOptions]) -> ModelList:
        """The models the server offers; iterate the result for :class:`Model` objects."""
        return self._client._get("/models", ModelList, options)

    def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> Model:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model", "must be a non-empty string")
        return self._client._get(f"/models/{model}", Model, options)

    def catalog(self) -> builtins.list[ModelInfo]:
        """The model catalogue for this client's providers: each canonical alias, the vendor
        id it is sent as, and the vendor's context and output limits. No I/O."""
        return self._client._catalog()


class AsyncModels:
    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client

    async def list(self, **options: Unpack[RequestOptions]) -> ModelList:
        return await self._client._get("/models", ModelList, options)

    async def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> Model:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model", "must be a non-empty string")
        return await self._client._get(f"/models/{model}", Model, options)

    def catalog(self) -> builtins.list[ModelInfo]:
        """See :meth:`Models.catalog` (no I/O, so not awaited)."""
        return self._client._catalog()
