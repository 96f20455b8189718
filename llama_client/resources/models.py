"""``client.models``: the models a provider serves, and the provider catalogue.

Written once in :mod:`llama_client._async.models`; the sync classes are generated from it
(:mod:`llama_client._sync.models`).
"""

from __future__ import annotations

from .._async.models import AsyncModels, AsyncModelsWithRawResponse
from .._sync.models import Models, ModelsWithRawResponse

__all__ = ["AsyncModels", "AsyncModelsWithRawResponse", "Models", "ModelsWithRawResponse"]
