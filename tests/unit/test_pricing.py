"""Prices from the catalogue, overrides, and cost estimates (llama_client.pricing)."""

from __future__ import annotations

import doctest
import math

import pytest

import llama_client.pricing as pricing
from llama_client import InvalidRequestError
from llama_client.pricing import Price, estimate_cost, price_for
from llama_client.providers._catalog import ALIASES, MODELS
from llama_client.providers._prices import AS_OF, PRICES


def test_doctest_in_module_docstring() -> None:
    result = doctest.testmod(pricing)
    assert result.attempted >= 2 and result.failed == 0


def test_every_price_row_names_a_known_provider_and_alias() -> None:
    from llama_client.providers import registry

    for provider, rows in PRICES.items():
        for alias, (inp, out) in rows.items():
            assert alias in ALIASES, (provider, alias)
            assert inp >= 0 and out >= 0 and math.isfinite(inp + out)
        assert registry.find_provider(provider) is not None, provider


def test_alias_vendor_id_and_hf_id_find_the_same_price() -> None:
    by_alias = price_for("groq", "llama-3.1-8b-instruct")
    assert by_alias is not None
    assert (by_alias.input_per_mtok, by_alias.output_per_mtok) == PRICES["groq"][
        "llama-3.1-8b-instruct"
    ]
    assert by_alias.as_of == AS_OF and not by_alias.verified and "http" in by_alias.source
    vendor_id = MODELS["groq"]["llama-3.1-8b-instruct"]["id"]
    assert price_for("groq", vendor_id) == by_alias
    assert price_for("groq", vendor_id.upper()) == by_alias
    assert price_for("groq", "meta-llama/Llama-3.1-8B-Instruct") == by_alias


def test_unknown_provider_or_model_has_no_price() -> None:
    assert price_for("vllm", "llama-3.1-8b-instruct") is None
    assert price_for("groq", "some-other-model") is None
    assert estimate_cost(10, 10, None) is None


def test_overrides_win_by_provider_model_then_model() -> None:
    mine = Price(1.0, 2.0, as_of="2026-11-30", source="contract")
    assert (
        price_for("groq", "llama-3.1-8b-instant", overrides={"groq:llama-3.1-8b-instant": mine})
        is mine
    )
    # the alias spelling of the same model matches too
    got = price_for("groq", "llama-3.1-8b-instant", overrides={"llama-3.1-8b-instruct": (3.0, 4.0)})
    assert got is not None and (got.input_per_mtok, got.output_per_mtok) == (3.0, 4.0)
    assert got.source == "override" and got.verified
    # provider-qualified beats bare
    both = {"groq:llama-3.1-8b-instruct": (5.0, 6.0), "llama-3.1-8b-instruct": (7.0, 8.0)}
    got = price_for("groq", "llama-3.1-8b-instruct", overrides=both)
    assert got is not None and got.input_per_mtok == 5.0
    # a self-hosted model gets a price only from an override
    got = price_for("vllm", "my-finetune", overrides={"my-finetune": (0.0, 0.0)})
    assert got is not None and estimate_cost(100, 100, got) == 0.0


def test_estimate_cost_arithmetic() -> None:
    price = Price(2.0, 6.0, as_of="", source="override")
    assert estimate_cost(500_000, 250_000, price) == pytest.approx(1.0 + 1.5)
    assert estimate_cost(0, 0, price) == 0.0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "1", True, None])
def test_bad_prices_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        Price(bad, 1.0, as_of="", source="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="overrides"):
        price_for("groq", "x", overrides={"x": (1.0, bad)})  # type: ignore[dict-item]


def test_bad_override_shape_and_token_counts_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="overrides"):
        price_for("groq", "x", overrides={"x": 0.5})  # type: ignore[dict-item]
    with pytest.raises(InvalidRequestError, match="prompt_tokens"):
        estimate_cost(-1, 0, Price(1.0, 1.0, as_of="", source="x"))
    with pytest.raises(InvalidRequestError, match="completion_tokens"):
        estimate_cost(0, 1.5, Price(1.0, 1.0, as_of="", source="x"))  # type: ignore[arg-type]


def test_provider_model_info_finds_alias_and_vendor_id() -> None:
    """The one catalogue lookup pricing, the context pre-flight and LLAMA_MODEL share."""
    from llama_client.providers import registry

    groq = registry.find_provider("groq")
    assert groq is not None
    by_alias = groq.model_info("llama-3.1-8b-instruct")
    assert by_alias is not None and by_alias.id == "llama-3.1-8b-instant"
    assert groq.model_info("llama-3.1-8b-instant") is by_alias
    assert groq.model_info("LLAMA-3.1-8B-INSTANT") is None
    assert groq.model_info("LLAMA-3.1-8B-INSTANT", ignore_case=True) is by_alias
    assert groq.model_info("something-else", ignore_case=True) is None
