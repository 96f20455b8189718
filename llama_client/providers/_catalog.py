"""The model catalogue: canonical Llama aliases → each vendor's model id. Data only.

Edit this table when a vendor adds, renames or retires a model. A row is either the vendor id,
or a dict with ``id`` and, where the vendor differs from the model's 128K context, the
``context_window`` and ``max_output`` it serves (numbers from the vendor's pages or litellm's
metadata). A provider missing from :data:`MODELS` (vLLM, llama.cpp, TGI,
any OpenAI-compatible server) serves whatever it was started with, so every id passes through.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALIASES", "GUARD_ASK", "MODELS", "SOURCES", "canonical_alias"]

#: The canonical aliases, in display order.
ALIASES: tuple[str, ...] = (
    "llama-3.1-8b-instruct",
    "llama-3.1-70b-instruct",
    "llama-3.1-405b-instruct",
    "llama-3.3-70b-instruct",
    "llama-3.2-1b-instruct",
    "llama-3.2-3b-instruct",
    "llama-guard-3-8b",
    "llama-guard-3-1b",
    "llama-guard-4-12b",
)

_HF = {
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-3.1-70b-instruct": "meta-llama/Llama-3.1-70B-Instruct",
    "llama-3.1-405b-instruct": "meta-llama/Llama-3.1-405B-Instruct",
    "llama-3.3-70b-instruct": "meta-llama/Llama-3.3-70B-Instruct",
    "llama-3.2-1b-instruct": "meta-llama/Llama-3.2-1B-Instruct",
    "llama-3.2-3b-instruct": "meta-llama/Llama-3.2-3B-Instruct",
    "llama-guard-3-8b": "meta-llama/Llama-Guard-3-8B",
    "llama-guard-3-1b": "meta-llama/Llama-Guard-3-1B",
    "llama-guard-4-12b": "meta-llama/Llama-Guard-4-12B",
}

#: Where each provider's limits (``context_window``, ``max_output``) come from, when they were
#: recorded here, and whether they were confirmed on the vendor's own pages. ``verified``
#: False: third-party metadata (litellm's model table) or numbers that change per account
#: tier; the pre-flight (``check_context``) still uses them, and ``context_window=`` overrides.
#: A row may override these keys. Recorded from the project's vendor notes
#: (``providers.md`` section 2), not re-checked against the live services.
SOURCES: dict[str, dict[str, Any]] = {
    "ollama": {
        "source": "Ollama docs/faq.mdx: 4096 unless OLLAMA_CONTEXT_LENGTH or num_ctx is set",
        "as_of": "2026-11-30",
        "verified": True,
    },
    "huggingface": {"source": "depends on the partner serving the model", "as_of": "2026-11-30"},
    "together": {"source": "litellm model metadata", "as_of": "2026-11-30"},
    "fireworks": {"source": "litellm model metadata (max input tokens)", "as_of": "2026-11-30"},
    "groq": {"source": "litellm model metadata", "as_of": "2026-11-30"},
    "deepinfra": {"source": "litellm model metadata", "as_of": "2026-11-30"},
    "openrouter": {
        "source": "openrouter.ai model pages (context depends on the routed upstream)",
        "as_of": "2026-11-30",
    },
    "nvidia": {"source": "build.nvidia.com model page", "as_of": "2026-11-30"},
    "databricks": {"source": "learn.microsoft.com Azure Databricks models", "as_of": "2026-11-30"},
    "cerebras": {"source": "litellm model metadata; limits vary by tier", "as_of": "2026-11-30"},
    "sambanova": {"source": "docs.sambanova.ai; litellm model metadata", "as_of": "2026-11-30"},
    "meta": {"source": "litellm model metadata", "as_of": "2026-11-30"},
    "azure": {"source": "litellm model metadata (azure_ai)", "as_of": "2026-11-30"},
    "github": {"source": "litellm model metadata (azure_ai)", "as_of": "2026-11-30"},
    "nebius": {"source": "Nebius API introduction page", "as_of": "2026-11-30"},
    "hyperbolic": {"source": "litellm model metadata", "as_of": "2026-11-30"},
    "novita": {"source": "litellm docs/providers/novita.md", "as_of": "2026-11-30"},
    "bedrock": {
        "source": "litellm model metadata (bedrock; Converse maxTokens cap 2048)",
        "as_of": "2026-11-30",
    },
}

_OLLAMA_CTX = 4096  # the server's default; the pre-flight ignores it unless check_context=True

MODELS: dict[str, dict[str, Any]] = {
    "ollama": {
        # Context is a server setting (OLLAMA_CONTEXT_LENGTH / num_ctx), 4096 by default.
        "llama-3.1-8b-instruct": {"id": "llama3.1:8b", "context_window": _OLLAMA_CTX},
        "llama-3.1-70b-instruct": {"id": "llama3.1:70b", "context_window": _OLLAMA_CTX},
        "llama-3.1-405b-instruct": {"id": "llama3.1:405b", "context_window": _OLLAMA_CTX},
        "llama-3.3-70b-instruct": {"id": "llama3.3:70b", "context_window": _OLLAMA_CTX},
        "llama-3.2-1b-instruct": {"id": "llama3.2:1b", "context_window": _OLLAMA_CTX},
        "llama-3.2-3b-instruct": {"id": "llama3.2:3b", "context_window": _OLLAMA_CTX},
        "llama-guard-3-8b": {"id": "llama-guard3:8b", "context_window": _OLLAMA_CTX},
        "llama-guard-3-1b": {"id": "llama-guard3:1b", "context_window": _OLLAMA_CTX},
    },
    # The router picks a partner per model; append ":<partner>" to the id to pin one.
    "huggingface": dict(_HF),
    "together": {
        "llama-3.1-8b-instruct": "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
        "llama-3.1-70b-instruct": "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
        "llama-3.1-405b-instruct": "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
        "llama-3.3-70b-instruct": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "llama-3.2-3b-instruct": "meta-llama/Llama-3.2-3B-Instruct-Turbo",
        "llama-guard-3-8b": "meta-llama/Meta-Llama-Guard-3-8B",
    },
    "fireworks": {
        "llama-3.1-8b-instruct": {
            "id": "accounts/fireworks/models/llama-v3p1-8b-instruct",
            "context_window": 16384,
        },
        "llama-3.1-70b-instruct": "accounts/fireworks/models/llama-v3p1-70b-instruct",
        "llama-3.1-405b-instruct": {
            "id": "accounts/fireworks/models/llama-v3p1-405b-instruct",
            "context_window": 128000,
        },
        "llama-3.3-70b-instruct": "accounts/fireworks/models/llama-v3p3-70b-instruct",
        "llama-3.2-1b-instruct": {
            "id": "accounts/fireworks/models/llama-v3p2-1b-instruct",
            "context_window": 16384,
        },
        "llama-3.2-3b-instruct": {
            "id": "accounts/fireworks/models/llama-v3p2-3b-instruct",
            "context_window": 16384,
        },
        "llama-guard-3-8b": "accounts/fireworks/models/llama-guard-3-8b",
    },
    "groq": {
        # 3.1 70B/405B and the 3.2 previews were retired.
        "llama-3.1-8b-instruct": {"id": "llama-3.1-8b-instant", "max_output": 8192},
        "llama-3.3-70b-instruct": {"id": "llama-3.3-70b-versatile", "max_output": 32768},
    },
    "deepinfra": {
        "llama-3.1-8b-instruct": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "llama-3.1-70b-instruct": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "llama-3.1-405b-instruct": {
            "id": "meta-llama/Meta-Llama-3.1-405B-Instruct",
            "context_window": 32768,
        },
        "llama-3.3-70b-instruct": "meta-llama/Llama-3.3-70B-Instruct",
        "llama-3.2-1b-instruct": "meta-llama/Llama-3.2-1B-Instruct",
        "llama-3.2-3b-instruct": "meta-llama/Llama-3.2-3B-Instruct",
    },
    "openrouter": {
        "llama-3.1-8b-instruct": "meta-llama/llama-3.1-8b-instruct",
        "llama-3.1-70b-instruct": "meta-llama/llama-3.1-70b-instruct",
        "llama-3.1-405b-instruct": {
            "id": "meta-llama/llama-3.1-405b-instruct",
            "context_window": 32768,
        },
        "llama-3.3-70b-instruct": "meta-llama/llama-3.3-70b-instruct",
        "llama-3.2-1b-instruct": "meta-llama/llama-3.2-1b-instruct",
        "llama-3.2-3b-instruct": {
            "id": "meta-llama/llama-3.2-3b-instruct",
            "context_window": 20000,
        },
    },
    "nvidia": {
        "llama-3.1-8b-instruct": "meta/llama-3.1-8b-instruct",
        "llama-3.1-70b-instruct": "meta/llama-3.1-70b-instruct",
        "llama-3.1-405b-instruct": "meta/llama-3.1-405b-instruct",
        "llama-3.3-70b-instruct": {"id": "meta/llama-3.3-70b-instruct", "max_output": 4096},
        "llama-3.2-1b-instruct": {"id": "meta/llama-3.2-1b-instruct", "notes": "unverified"},
        "llama-3.2-3b-instruct": {"id": "meta/llama-3.2-3b-instruct", "notes": "unverified"},
    },
    "databricks": {
        # Ids are serving-endpoint names; any other endpoint name passes through.
        "llama-3.1-8b-instruct": {
            "id": "databricks-meta-llama-3-1-8b-instruct",
            "notes": "availability unverified",
        },
        "llama-3.1-405b-instruct": "databricks-meta-llama-3-1-405b-instruct",
        "llama-3.3-70b-instruct": "databricks-meta-llama-3-3-70b-instruct",
    },
    "cerebras": {
        # Cerebras limits context per account tier.
        "llama-3.1-8b-instruct": "llama3.1-8b",
        "llama-3.1-70b-instruct": {"id": "llama3.1-70b", "notes": "older"},
        "llama-3.3-70b-instruct": "llama-3.3-70b",
    },
    "sambanova": {
        "llama-3.1-8b-instruct": {"id": "Meta-Llama-3.1-8B-Instruct", "context_window": 16384},
        "llama-3.1-70b-instruct": "Meta-Llama-3.1-70B-Instruct",
        "llama-3.1-405b-instruct": {
            "id": "Meta-Llama-3.1-405B-Instruct",
            "context_window": 16384,
        },
        "llama-3.3-70b-instruct": "Meta-Llama-3.3-70B-Instruct",
        "llama-3.2-1b-instruct": {"id": "Meta-Llama-3.2-1B-Instruct", "context_window": 16384},
        "llama-3.2-3b-instruct": {"id": "Meta-Llama-3.2-3B-Instruct", "context_window": 4096},
        "llama-guard-3-8b": "Meta-Llama-Guard-3-8B",
    },
    "meta": {
        # Meta's Llama API serves Llama 3.3 and Llama 4, not 3.1.
        "llama-3.3-70b-instruct": {"id": "Llama-3.3-70B-Instruct", "max_output": 4028},
    },
    "azure": {
        "llama-3.1-8b-instruct": {"id": "Meta-Llama-3.1-8B-Instruct", "max_output": 2048},
        "llama-3.1-70b-instruct": {"id": "Meta-Llama-3.1-70B-Instruct", "max_output": 2048},
        "llama-3.1-405b-instruct": {"id": "Meta-Llama-3.1-405B-Instruct", "max_output": 2048},
        "llama-3.3-70b-instruct": {"id": "Llama-3.3-70B-Instruct", "max_output": 2048},
    },
    "bedrock": {
        # Converse model ids; Llama 3.3 70B and the 3.2 models are invoked through cross-region
        # inference profiles (us./eu. prefix). Output capped at 2048 tokens (litellm metadata).
        "llama-3.1-8b-instruct": {"id": "meta.llama3-1-8b-instruct-v1:0", "max_output": 2048},
        "llama-3.1-70b-instruct": {"id": "meta.llama3-1-70b-instruct-v1:0", "max_output": 2048},
        "llama-3.1-405b-instruct": {"id": "meta.llama3-1-405b-instruct-v1:0", "max_output": 2048},
        "llama-3.3-70b-instruct": {"id": "us.meta.llama3-3-70b-instruct-v1:0", "max_output": 2048},
        "llama-3.2-1b-instruct": {"id": "us.meta.llama3-2-1b-instruct-v1:0", "max_output": 2048},
        "llama-3.2-3b-instruct": {"id": "us.meta.llama3-2-3b-instruct-v1:0", "max_output": 2048},
    },
    "github": {
        # models.github.ai uses publisher-prefixed ids; the "meta/" prefix is unverified.
        "llama-3.1-8b-instruct": {"id": "meta/Meta-Llama-3.1-8B-Instruct", "max_output": 2048},
        "llama-3.1-70b-instruct": {"id": "meta/Meta-Llama-3.1-70B-Instruct", "max_output": 2048},
        "llama-3.1-405b-instruct": {
            "id": "meta/Meta-Llama-3.1-405B-Instruct",
            "max_output": 2048,
        },
        "llama-3.3-70b-instruct": {"id": "meta/Llama-3.3-70B-Instruct", "max_output": 2048},
    },
    "nebius": {
        "llama-3.1-8b-instruct": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "llama-3.1-70b-instruct": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "llama-3.1-405b-instruct": "meta-llama/Meta-Llama-3.1-405B-Instruct",
        "llama-3.3-70b-instruct": "meta-llama/Llama-3.3-70B-Instruct",
    },
    "hyperbolic": {
        "llama-3.1-8b-instruct": {
            "id": "meta-llama/Meta-Llama-3.1-8B-Instruct",
            "context_window": 32768,
        },
        "llama-3.1-70b-instruct": {
            "id": "meta-llama/Meta-Llama-3.1-70B-Instruct",
            "context_window": 32768,
        },
        "llama-3.1-405b-instruct": {
            "id": "meta-llama/Meta-Llama-3.1-405B-Instruct",
            "context_window": 32768,
        },
        "llama-3.3-70b-instruct": "meta-llama/Llama-3.3-70B-Instruct",
        "llama-3.2-3b-instruct": "meta-llama/Llama-3.2-3B-Instruct",
    },
    "novita": {
        "llama-3.1-8b-instruct": "meta-llama/llama-3.1-8b-instruct",
        "llama-3.1-70b-instruct": "meta-llama/llama-3.1-70b-instruct",
        "llama-3.3-70b-instruct": "meta-llama/llama-3.3-70b-instruct",
        "llama-3.2-1b-instruct": "meta-llama/llama-3.2-1b-instruct",
        "llama-3.2-3b-instruct": "meta-llama/llama-3.2-3b-instruct",
    },
}


#: How a guard model is asked on each provider (``safety.check(ask=...)`` overrides it):
#: provider -> alias or vendor id (or ``"*"``) -> ``"chat"`` (send the conversation as chat
#: messages; the server applies the guard's own chat template), ``"prompt"`` (the SDK writes
#: the guard prompt and sends it as one user turn) or ``"completions"`` (the SDK's prompt on
#: raw ``/v1/completions``). Providers and models not listed use ``"chat"``: every vendor in
#: the catalogue, and vLLM / llama.cpp / Ollama serving a guard with its Hugging Face or GGUF
#: template, apply that template. Add a row for a server that serves a guard without it.
#: No built-in provider needs a row today (e.g. ``{"openai-compatible": {"*": "prompt"}}``
#: for a gateway that serves a guard behind a plain Llama 3 template).
GUARD_ASK: dict[str, dict[str, str]] = {}


def _known_ids() -> dict[str, str]:
    known = {alias: alias for alias in ALIASES}
    for alias, hf_id in _HF.items():
        known[hf_id.lower()] = alias
        if "Llama-3.1-" in hf_id:  # the 3.1 repositories' names before Hugging Face renamed them
            known[hf_id.replace("/Llama-3.1-", "/Meta-Llama-3.1-").lower()] = alias
    return known


_KNOWN = _known_ids()


def canonical_alias(model: str) -> str | None:
    """The canonical alias ``model`` names: an alias itself, or the model's Hugging Face id
    (``meta-llama/Llama-3.1-8B-Instruct``, or the older ``meta-llama/Meta-Llama-3.1-...``
    name; any letter case). None for any other id."""
    return _KNOWN.get(model) or _KNOWN.get(model.lower())
