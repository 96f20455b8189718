"""Running totals of what a client used: requests, tokens, retries and estimated cost, per
provider and model. No I/O.

``client.usage`` is a :class:`UsageTotals`, shared by the copies ``with_options`` makes. Every
chat call adds to the row of its provider and model (the model as the call named it, a
``provider:`` routing prefix removed): an answered call adds a request and its tokens, a failed
one an error, and both add the retries they made. A fallback adds an error to the provider
that failed and the request to the one that answered. A streamed call counts when its stream
ends, with the tokens of its usage chunk (``stream_options={"include_usage": True}``, which
``chat.completions.stream()`` always asks for); an answer without token counts is counted in
``unmetered``, never guessed.

Costs are estimates from :mod:`llama_client.pricing` (dated catalogue prices, or your own:
:meth:`UsageTotals.set_prices`); a row whose price is unknown (a self-hosted model) has
``cost=None`` and adds nothing to :attr:`UsageTotals.cost`.

Thread-safe and async-safe: every update takes one lock, never held across an ``await``.
At most :data:`MAX_ROWS` rows are kept; past that, new models are added up in the row
``(provider, "(other)")``, so a server that names a new model in every answer cannot grow it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .pricing import Price

__all__ = ["MAX_ROWS", "ModelUsage", "UsageTotals"]

#: Rows (provider, model) kept; later models go to the row ``(provider, "(other)")``.
MAX_ROWS = 1000
OTHER = "(other)"
_UNKNOWN: object = object()


@dataclass(frozen=True)
class ModelUsage:
    """The totals of one provider and model (a snapshot)."""

    provider: str
    model: str
    #: calls answered
    requests: int = 0
    #: calls (or, with fallback, providers) that failed
    errors: int = 0
    #: retries made, answered or not
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: answered calls whose answer carried no token counts (a stream without a usage chunk)
    unmetered: int = 0
    #: estimated USD for the tokens above; None when the price is unknown
    cost: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class _Row:
    __slots__ = ("completion", "cost", "errors", "prompt", "requests", "retries", "unmetered")

    def __init__(self) -> None:
        self.requests = self.errors = self.retries = 0
        self.prompt = self.completion = self.unmetered = 0
        self.cost: float | None = None


class UsageTotals:
    """Running totals per (provider, model): see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], _Row] = {}
        self._prices: dict[tuple[str, str], Price | None] = {}
        #: (provider, models) -> the price of the first of the models that has one
        self._first_prices: dict[tuple[str, tuple[str, ...]], Price | None] = {}
        self._overrides: dict[str, Price | tuple[float, float]] = {}

    # -- prices -----------------------------------------------------------------------------

    def set_prices(self, overrides: Mapping[str, Price | tuple[float, float]]) -> None:
        """Prices that win over the catalogue, keyed ``"provider:model"`` or ``"model"``; values
        a :class:`~llama_client.pricing.Price` or ``(input, output)`` USD per 1M tokens. They
        apply to calls from now on (costs already added stay as they are)."""
        from .pricing import price_for

        checked = dict(overrides)
        for key, value in checked.items():  # refuse a bad value now, not in a call
            provider, sep, model = key.partition(":")
            if not sep:
                provider, model = "_", key
            price_for(provider, model, overrides={key: value})
        with self._lock:
            self._overrides = checked
            self._prices = {}
            self._first_prices = {}

    def price(self, provider: str, model: str) -> Price | None:
        """The price used for ``model`` on ``provider`` (None when unknown)."""
        key = (provider, model)
        price = self._prices.get(key, _UNKNOWN)
        if price is _UNKNOWN:
            from .pricing import price_for

            price = price_for(provider, model, overrides=self._overrides or None)
            if len(self._prices) < MAX_ROWS * 2:
                self._prices[key] = price
        return price  # type: ignore[return-value]

    def cost_of(
        self, provider: str, models: tuple[str, ...], prompt: int, completion: int
    ) -> float | None:
        """Estimated USD of these tokens, priced as the first of ``models`` with a price."""
        price = self._first_price(provider, models)
        if price is None:
            return None
        return (prompt * price.input_per_mtok + completion * price.output_per_mtok) / 1_000_000

    def _first_price(self, provider: str, models: tuple[str, ...]) -> Price | None:
        """The price of the first of ``models`` that has one, cached per provider and models
        (one dict lookup per call after the first)."""
        key = (provider, models)
        found = self._first_prices.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            found = None
            for model in models:
                if model:
                    found = self.price(provider, model)
                    if found is not None:
                        break
            if len(self._first_prices) < MAX_ROWS * 2:
                self._first_prices[key] = found
        return cast("Price | None", found)

    # -- recording (the client calls these) ---------------------------------------------------

    def answered(
        self,
        provider: str,
        model: str,
        answered_model: str,
        prompt: int,
        completion: int,
        retries: int,
        requests: int = 1,
        unmetered: int = 0,
    ) -> float | None:
        """Add an answer with token counts to the row of ``provider`` and ``model``, priced as
        ``model`` or else as the model the server named; returns its estimated cost.

        The per-call path: one cached price lookup and one locked update, with no keyword
        arguments to match (:meth:`add` is for the rarer errors)."""
        cost = self.cost_of(provider, (model, answered_model), prompt, completion)
        self._update(provider, model, requests, 0, retries, prompt, completion, unmetered, cost)
        return cost

    def _new_row(self, provider: str, model: str) -> _Row:
        """The row of ``provider`` and ``model``, added (or the ``(other)`` row past
        :data:`MAX_ROWS`). Called with the lock held."""
        rows = self._rows
        if len(rows) >= MAX_ROWS:
            model = OTHER
        row = rows.get((provider, model))
        if row is None:
            row = rows[(provider, model)] = _Row()
        return row

    def add(
        self,
        provider: str,
        model: str,
        *,
        requests: int = 0,
        errors: int = 0,
        retries: int = 0,
        prompt: int = 0,
        completion: int = 0,
        unmetered: int = 0,
        cost: float | None = None,
    ) -> None:
        """Add to the row of ``provider`` and ``model``."""
        self._update(
            provider, model, requests, errors, retries, prompt, completion, unmetered, cost
        )

    def _update(
        self,
        provider: str,
        model: str,
        requests: int,
        errors: int,
        retries: int,
        prompt: int,
        completion: int,
        unmetered: int,
        cost: float | None,
    ) -> None:
        """The one locked update of a row (positional: the per-call path matches no keywords)."""
        with self._lock:
            row = self._rows.get((provider, model)) or self._new_row(provider, model)
            row.requests += requests
            row.errors += errors
            row.retries += retries
            row.prompt += prompt
            row.completion += completion
            row.unmetered += unmetered
            if cost is not None:
                row.cost = cost if row.cost is None else row.cost + cost

    # -- reading ---------------------------------------------------------------------------

    def by_model(self) -> list[ModelUsage]:
        """A snapshot of every row, sorted by provider and model."""
        with self._lock:
            items = sorted(self._rows.items())
            return [
                ModelUsage(
                    provider,
                    model,
                    r.requests,
                    r.errors,
                    r.retries,
                    r.prompt,
                    r.completion,
                    r.unmetered,
                    r.cost,
                )
                for (provider, model), r in items
            ]

    def get(self, provider: str, model: str) -> ModelUsage | None:
        """The row of ``provider`` and ``model`` (None when nothing was recorded for it)."""
        for row in self.by_model():
            if row.provider == provider and row.model == model:
                return row
        return None

    def total(self) -> ModelUsage:
        """Every row added up (``provider`` and ``model`` are ``"*"``; ``cost`` sums the rows
        with a known price, None when none has one)."""
        rows = self.by_model()
        costs = [r.cost for r in rows if r.cost is not None]
        return ModelUsage(
            "*",
            "*",
            sum(r.requests for r in rows),
            sum(r.errors for r in rows),
            sum(r.retries for r in rows),
            sum(r.prompt_tokens for r in rows),
            sum(r.completion_tokens for r in rows),
            sum(r.unmetered for r in rows),
            sum(costs) if costs else None,
        )

    @property
    def requests(self) -> int:
        return self.total().requests

    @property
    def prompt_tokens(self) -> int:
        return self.total().prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self.total().completion_tokens

    @property
    def total_tokens(self) -> int:
        return self.total().total_tokens

    @property
    def retries(self) -> int:
        return self.total().retries

    @property
    def cost(self) -> float | None:
        """Estimated USD of every row with a known price (None when no row has one)."""
        return self.total().cost

    def reset(self) -> None:
        """Forget every total (prices set with :meth:`set_prices` stay)."""
        with self._lock:
            self._rows = {}

    def __repr__(self) -> str:
        t = self.total()
        cost = "unknown" if t.cost is None else f"${t.cost:.6f}"
        return (
            f"<UsageTotals requests={t.requests} errors={t.errors} retries={t.retries} "
            f"tokens={t.prompt_tokens}+{t.completion_tokens} cost={cost} rows={len(self._rows)}>"
        )
