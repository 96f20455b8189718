"""Token prices and cost estimates. No I/O.

>>> from llama_client.pricing import price_for, estimate_cost
>>> price = price_for("groq", "llama-3.1-8b-instruct")
>>> estimate_cost(1_000_000, 0, price)
0.05

Prices come from the catalogue (:mod:`llama_client.providers._prices`): per provider and
canonical model, in USD per million tokens, each dated and with its source. They are
estimates: vendors change prices without notice, and none of the built-in values was read from
a vendor's own page (``Price.verified`` is False for all of them). Override them where the
bill must match: ``price_for(..., overrides={"groq:llama-3.1-8b-instant": (0.05, 0.08)})``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidRequestError

__all__ = ["Price", "estimate_cost", "price_for"]


@dataclass(frozen=True)
class Price:
    """What one million tokens cost, in USD, and where that number comes from."""

    input_per_mtok: float
    """USD per 1,000,000 prompt tokens."""
    output_per_mtok: float
    """USD per 1,000,000 completion tokens."""
    as_of: str
    """The ISO date the price was read (empty for a caller's override)."""
    source: str
    """Where it was read: a URL, or ``"override"`` for a caller's own price."""
    verified: bool = True
    """False when the value comes from secondary metadata, not the vendor's own page."""

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise InvalidRequestError(
                    name, f"must be a finite number >= 0 (USD per 1M tokens), got {value!r}"
                )


def _as_price(key: str, value: object) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        try:
            return Price(value[0], value[1], as_of="", source="override")
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"overrides[{key!r}]", str(exc)) from None
    raise InvalidRequestError(
        f"overrides[{key!r}]",
        f"must be a Price or an (input, output) pair of USD per 1M tokens, got {type(value).__name__}",
    )


def _alias(provider: str, model: str) -> str | None:
    """The canonical alias ``model`` names: an alias, ``provider``'s own id for it (any
    letter case), or a Hugging Face id."""
    from .providers._catalog import ALIASES, canonical_alias
    from .providers.registry import find_provider

    if model in ALIASES:
        return model
    found = find_provider(provider)
    info = found.model_info(model, ignore_case=True) if found is not None else None
    return info.alias if info is not None else canonical_alias(model)


def price_for(
    provider: str,
    model: str,
    *,
    overrides: Mapping[str, Price | tuple[float, float]] | None = None,
) -> Price | None:
    """The price of ``model`` on ``provider``, or None when it is not known.

    ``model`` may be a canonical alias (``"llama-3.1-8b-instruct"``), the provider's own id
    (``"llama-3.1-8b-instant"`` on Groq) or a Hugging Face id. ``overrides`` win over the
    catalogue; keys are ``"provider:model"`` or ``"model"`` (either spelling of the model),
    values a :class:`Price` or an ``(input, output)`` pair in USD per 1M tokens.
    """
    if not isinstance(provider, str) or not isinstance(model, str):
        raise InvalidRequestError("model", "provider and model must be strings")
    alias = _alias(provider, model)
    if overrides:
        names = [model] if alias is None or alias == model else [model, alias]
        for key in [f"{provider}:{n}" for n in names] + names:
            if key in overrides:
                return _as_price(key, overrides[key])
    if alias is None:
        return None
    from .providers._prices import AS_OF, PRICES, SOURCE

    pair = PRICES.get(provider, {}).get(alias)
    if pair is None:
        return None
    return Price(pair[0], pair[1], as_of=AS_OF, source=SOURCE, verified=False)


def estimate_cost(prompt_tokens: int, completion_tokens: int, price: Price | None) -> float | None:
    """The estimated USD cost of a call, or None when ``price`` is None."""
    if price is None:
        return None
    for name, value in (("prompt_tokens", prompt_tokens), ("completion_tokens", completion_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRequestError(name, f"must be an int >= 0, got {value!r}")
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6
