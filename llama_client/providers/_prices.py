"""Per-provider token prices for the catalogue's Llama models. Data only.

``PRICES[provider][alias] = (USD per 1M input tokens, USD per 1M output tokens)``, keyed by the
canonical aliases of :mod:`._catalog`. Every value here was read on :data:`AS_OF` from
:data:`SOURCE`, a dated copy of litellm's model metadata, not from each vendor's own pricing page,
so each is marked unverified: vendors change prices often, and the numbers are estimates. Pass
your own prices (``pricing.price_for(..., overrides=...)``) when you need the bill to match.

Self-hosted servers (vLLM, llama.cpp, TGI, Ollama) have no price: their rows are absent.
"""

from __future__ import annotations

__all__ = ["AS_OF", "PRICES", "SOURCE"]

AS_OF = "2025-09-05"
SOURCE = (
    "litellm model_prices_and_context_window.json, as copied in "
    "https://github.com/AgentOps-AI/tokencost/blob/e7f7c1928084af55bb4955102327982401ed8649/"
    "tokencost/model_prices.json"
)

PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "together": {
        "llama-3.1-8b-instruct": (0.18, 0.18),
        "llama-3.1-70b-instruct": (0.88, 0.88),
        "llama-3.1-405b-instruct": (3.5, 3.5),
        "llama-3.3-70b-instruct": (0.88, 0.88),
    },
    "fireworks": {
        "llama-3.1-8b-instruct": (0.1, 0.1),
        "llama-3.1-405b-instruct": (3.0, 3.0),
        "llama-3.2-1b-instruct": (0.1, 0.1),
        "llama-3.2-3b-instruct": (0.1, 0.1),
    },
    "groq": {
        "llama-3.1-8b-instruct": (0.05, 0.08),
        "llama-3.3-70b-instruct": (0.59, 0.79),
        "llama-guard-3-8b": (0.2, 0.2),
    },
    "deepinfra": {
        "llama-3.1-8b-instruct": (0.03, 0.05),
        "llama-3.1-70b-instruct": (0.23, 0.4),
        "llama-3.1-405b-instruct": (0.8, 0.8),
        "llama-3.3-70b-instruct": (0.23, 0.4),
        "llama-3.2-1b-instruct": (0.005, 0.01),
        "llama-3.2-3b-instruct": (0.012, 0.024),
        "llama-guard-3-8b": (0.055, 0.055),
    },
    "cerebras": {
        "llama-3.1-8b-instruct": (0.1, 0.1),
        "llama-3.1-70b-instruct": (0.6, 0.6),
        "llama-3.3-70b-instruct": (0.85, 1.2),
    },
    "sambanova": {
        "llama-3.1-8b-instruct": (0.1, 0.2),
        "llama-3.1-70b-instruct": (0.6, 1.2),
        "llama-3.1-405b-instruct": (5.0, 10.0),
        "llama-3.3-70b-instruct": (0.6, 1.2),
        "llama-3.2-1b-instruct": (0.04, 0.08),
        "llama-3.2-3b-instruct": (0.08, 0.16),
        "llama-guard-3-8b": (0.3, 0.3),
    },
    "hyperbolic": {
        "llama-3.1-8b-instruct": (0.12, 0.3),
        "llama-3.1-70b-instruct": (0.12, 0.3),
        "llama-3.1-405b-instruct": (0.12, 0.3),
        "llama-3.3-70b-instruct": (0.12, 0.3),
        "llama-3.2-3b-instruct": (0.12, 0.3),
    },
    # Bedrock on-demand prices in us-east-1 (the us.* inference profiles cost the same).
    "bedrock": {
        "llama-3.1-8b-instruct": (0.22, 0.22),
        "llama-3.1-70b-instruct": (0.99, 0.99),
        "llama-3.1-405b-instruct": (5.32, 16.0),
        "llama-3.3-70b-instruct": (0.72, 0.72),
        "llama-3.2-1b-instruct": (0.1, 0.1),
        "llama-3.2-3b-instruct": (0.15, 0.15),
    },
}
