"""The built-in providers: one data row each, and a subclass where a hook really differs.

A capability flag is set only for what the vendor's own documentation states; what is only
reported by users, or unverified, is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import ValidationError

from ..errors import ResponseValidationError, StreamError
from .base import OPENAI_MESSAGE_KEYS, VENDOR_EXTRAS, Prepared, Provider, UnsupportedPolicy
from .bedrock import BedrockProvider

if TYPE_CHECKING:
    from ..types.chat import ChatCompletionChunk, Usage

__all__ = ["builtin_providers"]

_TO_MAX_TOKENS: Literal["max_tokens"] = "max_tokens"


class GroqProvider(Provider):
    """Groq: strict request validation, usage in ``x_groq.usage``, 413 and 498 statuses."""

    def extract_usage(self, extra: Mapping[str, Any] | None) -> Usage | None:
        x_groq = extra.get("x_groq") if extra else None
        if isinstance(x_groq, Mapping) and isinstance(x_groq.get("usage"), Mapping):
            from ..types.chat import Usage

            try:
                return Usage.model_validate(x_groq["usage"])
            except ValidationError as exc:
                raise ResponseValidationError(
                    f"Groq sent an unreadable x_groq.usage: {x_groq['usage']!r} ({exc.error_count()} problem(s))",
                    body=dict(extra or {}),
                ) from None
        return None

    def check_chunk(self, chunk: ChatCompletionChunk) -> None:
        extra = chunk.model_extra
        x_groq = extra.get("x_groq") if extra else None
        if isinstance(x_groq, Mapping) and x_groq.get("error"):
            raise StreamError(
                f"Groq stopped the stream with an error: {x_groq['error']}",
                body=chunk.model_dump(mode="json"),
            )


class AzureProvider(Provider):
    """Azure AI Foundry: ``api-key`` header on Azure hosts, ``api-version`` query, and the
    ``extra-parameters: pass-through`` header when vendor extras are sent."""

    def auth_headers(self, api_key: str | None, base_url: str) -> dict[str, str]:
        if not api_key:
            return {}
        host = urlsplit(base_url).hostname or ""
        if host.endswith((".services.ai.azure.com", ".openai.azure.com")):
            return {"api-key": api_key}
        return {"Authorization": f"Bearer {api_key}"}

    def prepare(
        self,
        body: Mapping[str, Any],
        *,
        stream: bool,
        want_usage: bool = False,
        unsupported: UnsupportedPolicy = "warn",
    ) -> Prepared:
        out = super().prepare(body, stream=stream, want_usage=want_usage, unsupported=unsupported)
        if VENDOR_EXTRAS & out.body.keys():
            out.headers["extra-parameters"] = "pass-through"
        return out


class NvidiaProvider(Provider):
    """NVIDIA NIM: the hosted catalogue needs a key; a self-hosted NIM (any other base URL)
    has the same API and usually none."""

    def requires_key(self, base_url: str) -> bool:
        return base_url.rstrip("/") == (self.base_url or "").rstrip("/")


def builtin_providers() -> list[Provider]:
    """Fresh instances of every built-in provider, in display order."""
    return [
        Provider(
            name="vllm",
            self_hosted=True,
            base_url="http://localhost:8000/v1",
            notes="Default. Self-hosted; model ids are what the server was started with "
            "(`--served-model-name`). All parameters, vLLM extras via extra_body.",
        ),
        Provider(
            name="llamacpp",
            self_hosted=True,
            base_url="http://localhost:8080/v1",
            base_url_env=("LLAMACPP_API_BASE",),
            named_tool_choice=False,
            response_format_style="llamacpp",
            notes="llama.cpp `llama-server`; ignores the model field; named tool_choice unsupported.",
        ),
        Provider(
            name="ollama",
            self_hosted=True,
            base_url="http://localhost:11434/v1",
            base_url_env=("OLLAMA_HOST",),
            base_url_suffix="/v1",
            auth="none",
            length_param=_TO_MAX_TOKENS,
            unsupported_params=frozenset(
                {
                    "tool_choice",
                    "n",
                    "top_k",
                    "min_p",
                    "repetition_penalty",
                    "parallel_tool_calls",
                    "logit_bias",
                    "user",
                }
            ),
            notes="OpenAI compatibility at /v1; context is a server setting (default 4096).",
        ),
        Provider(
            name="tgi",
            self_hosted=True,
            base_url="http://localhost:8080/v1",
            api_key_env=("HF_TOKEN",),
            response_format_style="tgi",
            exclusive_with_tools=frozenset({"response_format"}),
            unsupported_params=frozenset({"min_p", "top_k"}),
            context_error_patterns=("must have less than",),
            notes="Hugging Face text-generation-inference (Messages API); "
            'response_format sent as {"type": "json", "value": schema}.',
        ),
        Provider(
            name="huggingface",
            base_url="https://router.huggingface.co/v1",
            api_key_env=("HF_TOKEN", "HUGGINGFACE_HUB_TOKEN"),
            key_required=True,
            context_error_patterns=("must have less than",),
            notes="Inference Providers router; append `:<partner>` to a model id to pin one.",
        ),
        Provider(
            name="together",
            base_url="https://api.together.xyz/v1",
            api_key_env=(
                "TOGETHER_API_KEY",
                "TOGETHER_AI_API_KEY",
                "TOGETHERAI_API_KEY",
                "TOGETHER_AI_TOKEN",
            ),
            key_required=True,
            logprobs_int=True,
            stream_options=False,
            drop_empty_tool_calls=True,
            notes="`eos` finish reason normalised; logprobs sent as a count; usage on stream chunks.",
        ),
        Provider(
            name="fireworks",
            base_url="https://api.fireworks.ai/inference/v1",
            api_key_env=(
                "FIREWORKS_API_KEY",
                "FIREWORKS_AI_API_KEY",
                "FIREWORKSAI_API_KEY",
                "FIREWORKS_AI_TOKEN",
            ),
            key_required=True,
            length_param=_TO_MAX_TOKENS,
            logprobs_int=True,
            tool_choice_required="any",
            default_body={"context_length_exceeded_behavior": "error"},
            notes='tool_choice "required" sent as "any"; context overflow is an error, '
            "not a silently shortened answer.",
        ),
        GroqProvider(
            name="groq",
            base_url="https://api.groq.com/openai/v1",
            api_key_env=("GROQ_API_KEY",),
            key_required=True,
            length_param="max_completion_tokens",
            unsupported_params=frozenset(
                {
                    "logprobs",
                    "top_logprobs",
                    "logit_bias",
                    "presence_penalty",
                    "frequency_penalty",
                    "top_k",
                    "min_p",
                    "repetition_penalty",
                }
            ),
            max_n=1,
            stream_options=False,
            no_stream_with=frozenset({"response_format"}),
            message_keys=OPENAI_MESSAGE_KEYS,
            drop_null_message_fields=True,
            retry_statuses=frozenset({498}),
            rate_limit_statuses=frozenset({498}),
            notes="Strict validation (unknown message fields removed); usage from `x_groq`; "
            "413 (TPM) not retried, 498 retried.",
        ),
        Provider(
            name="deepinfra",
            base_url="https://api.deepinfra.com/v1/openai",
            api_key_env=("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"),
            key_required=True,
            length_param=_TO_MAX_TOKENS,
            tool_choice_values=frozenset({"auto", "none"}),
            notes='tool_choice only "auto"/"none".',
        ),
        Provider(
            name="openrouter",
            base_url="https://openrouter.ai/api/v1",
            api_key_env=("OPENROUTER_API_KEY",),
            key_required=True,
            notes="A router: behaviour follows the upstream; in-stream error events raised.",
        ),
        NvidiaProvider(
            name="nvidia",
            base_url="https://integrate.api.nvidia.com/v1",
            base_url_env=("NVIDIA_NIM_API_BASE",),
            api_key_env=("NVIDIA_API_KEY", "NVIDIA_NIM_API_KEY"),
            key_required=True,
            length_param=_TO_MAX_TOKENS,
            notes="NIM: hosted catalogue, or a self-hosted NIM via base_url (key optional there).",
        ),
        Provider(
            name="databricks",
            base_url=None,
            base_url_env=("DATABRICKS_HOST", "DATABRICKS_API_BASE"),
            base_url_suffix="/serving-endpoints",
            api_key_env=("DATABRICKS_TOKEN", "DATABRICKS_API_KEY"),
            key_required=True,
            length_param=_TO_MAX_TOKENS,
            no_stream_with=frozenset({"response_format"}),
            strip_name_except_user=True,
            notes="Workspace URL from DATABRICKS_HOST; model = serving-endpoint name.",
        ),
        Provider(
            name="cerebras",
            base_url="https://api.cerebras.ai/v1",
            api_key_env=("CEREBRAS_API_KEY",),
            key_required=True,
            length_param=_TO_MAX_TOKENS,
            unsupported_params=frozenset(
                {
                    "presence_penalty",
                    "frequency_penalty",
                    "logit_bias",
                    "logprobs",
                    "top_logprobs",
                    "n",
                    "parallel_tool_calls",
                    "top_k",
                    "min_p",
                    "repetition_penalty",
                }
            ),
            stream_options=False,
            context_error_patterns=("while limit is",),
            notes="No penalties, logprobs or n; context limited per account tier.",
        ),
        Provider(
            name="sambanova",
            base_url="https://api.sambanova.ai/v1",
            api_key_env=("SAMBANOVA_API_KEY",),
            key_required=True,
            length_param=_TO_MAX_TOKENS,
            unsupported_params=frozenset(
                {"logprobs", "top_logprobs", "presence_penalty", "frequency_penalty"}
            ),
            flatten_content=True,
            notes="Text content parts sent as one string; small context on some models.",
        ),
        Provider(
            name="meta",
            base_url="https://api.llama.com/compat/v1",
            # Not LLAMA_API_KEY (Meta's own SDK reads that): here LLAMA_API_KEY is the key of
            # the user's own server and never goes to a hosted vendor.
            api_key_env=("META_LLAMA_API_KEY",),
            key_required=True,
            length_param="max_completion_tokens",
            unsupported_params=frozenset(
                {
                    "n",
                    "seed",
                    "stop",
                    "presence_penalty",
                    "frequency_penalty",
                    "logprobs",
                    "top_logprobs",
                    "logit_bias",
                    "min_p",
                }
            ),
            response_format_types=frozenset({"json_schema", "text"}),
            notes="Meta Llama API, OpenAI-compatible endpoint; Llama 3.3 and 4 only. "
            "Its key goes in META_LLAMA_API_KEY: LLAMA_API_KEY is your own server's.",
        ),
        AzureProvider(
            name="azure",
            semconv_name="azure.ai.inference",
            base_url=None,
            base_url_env=("AZURE_AI_API_BASE", "AZURE_AI_ENDPOINT"),
            api_key_env=("AZURE_AI_API_KEY",),
            key_required=True,
            default_query={"api-version": "2024-05-01-preview"},
            flatten_content=True,
            strip_tool_call_index=True,
            notes="AI Foundry: `api-key` header on Azure hosts, `api-version` query; "
            "output capped at 2048 tokens.",
        ),
        Provider(
            name="github",
            base_url="https://models.github.ai/inference",
            api_key_env=("GITHUB_TOKEN",),
            key_required=True,
            length_param=_TO_MAX_TOKENS,
            notes="GitHub Models; a PAT with `models:read`.",
        ),
        Provider(
            name="nebius",
            base_url="https://api.tokenfactory.nebius.com/v1",
            api_key_env=("NEBIUS_API_KEY",),
            key_required=True,
            notes="Nebius AI Studio / Token Factory.",
        ),
        Provider(
            name="hyperbolic",
            base_url="https://api.hyperbolic.xyz/v1",
            api_key_env=("HYPERBOLIC_API_KEY",),
            key_required=True,
            notes="32K context for the 3.1 models.",
        ),
        Provider(
            name="novita",
            base_url="https://api.novita.ai/v3/openai",
            base_url_env=("NOVITA_API_BASE",),
            api_key_env=("NOVITA_API_KEY",),
            key_required=True,
        ),
        BedrockProvider(),
        Provider(
            name="openai-compatible",
            self_hosted=True,
            base_url=None,
            notes="Any other OpenAI-compatible server: give base_url (or LLAMA_BASE_URL).",
        ),
    ]
