"""Each provider on the wire (respx): URL, auth header, model id — from the documented facts.

The expected values are typed out from the provider reference, not read from the catalogue,
so a wrong catalogue row fails here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from llama_client import AsyncLlamaClient, InvalidRequestError, LlamaClient
from tests.unit.providers_support import MSGS, clear_env
from tests.wire import TINY, sent_json

# provider, environment, chat URL, (auth header, value) or None, alias, vendor model id
CASES: list[tuple[str, dict[str, str], str, tuple[str, str] | None, str, str]] = [
    (
        "groq",
        {"GROQ_API_KEY": "gsk_k"},
        "https://api.groq.com/openai/v1/chat/completions",
        ("authorization", "Bearer gsk_k"),
        "llama-3.3-70b-instruct",
        "llama-3.3-70b-versatile",
    ),
    (
        "together",
        {"TOGETHER_API_KEY": "tk"},
        "https://api.together.xyz/v1/chat/completions",
        ("authorization", "Bearer tk"),
        "llama-3.1-70b-instruct",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
    ),
    (
        "fireworks",
        {"FIREWORKS_API_KEY": "fk"},
        "https://api.fireworks.ai/inference/v1/chat/completions",
        ("authorization", "Bearer fk"),
        "llama-3.1-405b-instruct",
        "accounts/fireworks/models/llama-v3p1-405b-instruct",
    ),
    (
        "deepinfra",
        {"DEEPINFRA_API_KEY": "dk"},
        "https://api.deepinfra.com/v1/openai/chat/completions",
        ("authorization", "Bearer dk"),
        "llama-3.3-70b-instruct",
        "meta-llama/Llama-3.3-70B-Instruct",
    ),
    (
        "openrouter",
        {"OPENROUTER_API_KEY": "sk-or-k"},
        "https://openrouter.ai/api/v1/chat/completions",
        ("authorization", "Bearer sk-or-k"),
        "llama-3.1-8b-instruct",
        "meta-llama/llama-3.1-8b-instruct",
    ),
    (
        "nvidia",
        {"NVIDIA_API_KEY": "nvapi-k"},
        "https://integrate.api.nvidia.com/v1/chat/completions",
        ("authorization", "Bearer nvapi-k"),
        "llama-3.3-70b-instruct",
        "meta/llama-3.3-70b-instruct",
    ),
    (
        "databricks",
        {"DATABRICKS_HOST": "https://adb-1.azuredatabricks.net", "DATABRICKS_TOKEN": "dapi1"},
        "https://adb-1.azuredatabricks.net/serving-endpoints/chat/completions",
        ("authorization", "Bearer dapi1"),
        "llama-3.3-70b-instruct",
        "databricks-meta-llama-3-3-70b-instruct",
    ),
    (
        "cerebras",
        {"CEREBRAS_API_KEY": "csk-k"},
        "https://api.cerebras.ai/v1/chat/completions",
        ("authorization", "Bearer csk-k"),
        "llama-3.3-70b-instruct",
        "llama-3.3-70b",
    ),
    (
        "sambanova",
        {"SAMBANOVA_API_KEY": "sk"},
        "https://api.sambanova.ai/v1/chat/completions",
        ("authorization", "Bearer sk"),
        "llama-3.1-8b-instruct",
        "Meta-Llama-3.1-8B-Instruct",
    ),
    (
        "meta",
        {"META_LLAMA_API_KEY": "lk"},
        "https://api.llama.com/compat/v1/chat/completions",
        ("authorization", "Bearer lk"),
        "llama-3.3-70b-instruct",
        "Llama-3.3-70B-Instruct",
    ),
    (
        "azure",
        {
            "AZURE_AI_API_BASE": "https://res.services.ai.azure.com/models",
            "AZURE_AI_API_KEY": "az",
        },
        "https://res.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview",
        ("api-key", "az"),
        "llama-3.3-70b-instruct",
        "Llama-3.3-70B-Instruct",
    ),
    (
        "github",
        {"GITHUB_TOKEN": "ghp_k"},
        "https://models.github.ai/inference/chat/completions",
        ("authorization", "Bearer ghp_k"),
        "llama-3.3-70b-instruct",
        "meta/Llama-3.3-70B-Instruct",
    ),
    (
        "nebius",
        {"NEBIUS_API_KEY": "nk"},
        "https://api.tokenfactory.nebius.com/v1/chat/completions",
        ("authorization", "Bearer nk"),
        "llama-3.1-405b-instruct",
        "meta-llama/Meta-Llama-3.1-405B-Instruct",
    ),
    (
        "hyperbolic",
        {"HYPERBOLIC_API_KEY": "hk"},
        "https://api.hyperbolic.xyz/v1/chat/completions",
        ("authorization", "Bearer hk"),
        "llama-3.2-3b-instruct",
        "meta-llama/Llama-3.2-3B-Instruct",
    ),
    (
        "novita",
        {"NOVITA_API_KEY": "vk"},
        "https://api.novita.ai/v3/openai/chat/completions",
        ("authorization", "Bearer vk"),
        "llama-3.2-1b-instruct",
        "meta-llama/llama-3.2-1b-instruct",
    ),
    (
        "huggingface",
        {"HF_TOKEN": "hf_k"},
        "https://router.huggingface.co/v1/chat/completions",
        ("authorization", "Bearer hf_k"),
        "llama-3.1-8b-instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
    ),
    (
        "ollama",
        {},
        "http://localhost:11434/v1/chat/completions",
        None,
        "llama-3.2-3b-instruct",
        "llama3.2:3b",
    ),
    (
        "llamacpp",
        {},
        "http://localhost:8080/v1/chat/completions",
        None,
        "my-alias",
        "my-alias",
    ),
    (
        "tgi",
        {"HF_TOKEN": "hf_t"},
        "http://localhost:8080/v1/chat/completions",
        ("authorization", "Bearer hf_t"),
        "tgi",
        "tgi",
    ),
    (
        "vllm",
        {},
        "http://localhost:8000/v1/chat/completions",
        None,
        "llama-3.1-8b-instruct",
        "llama-3.1-8b-instruct",  # self-hosted: the served name passes through
    ),
]

IDS = [c[0] for c in CASES]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _setup(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def _check(route: Any, auth: tuple[str, str] | None, model_id: str, provider: str) -> None:
    request = route.calls.last.request
    if auth is None:
        assert "authorization" not in request.headers
        assert "api-key" not in request.headers
    else:
        assert request.headers[auth[0]] == auth[1]
    assert sent_json(route)["model"] == model_id


@pytest.mark.parametrize(("provider", "env", "url", "auth", "alias", "model_id"), CASES, ids=IDS)
def test_sync_wire(
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    env: dict[str, str],
    url: str,
    auth: tuple[str, str] | None,
    alias: str,
    model_id: str,
) -> None:
    _setup(monkeypatch, env)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(200, json=TINY.completion()))
        with LlamaClient(provider=provider) as client:
            result = client.chat.completions.create(model=alias, messages=MSGS)
    assert result.choices[0].message.content == "hi"
    assert result.provider_name == provider
    _check(route, auth, model_id, provider)


@pytest.mark.parametrize(("provider", "env", "url", "auth", "alias", "model_id"), CASES, ids=IDS)
async def test_async_wire(
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    env: dict[str, str],
    url: str,
    auth: tuple[str, str] | None,
    alias: str,
    model_id: str,
) -> None:
    _setup(monkeypatch, env)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(200, json=TINY.completion()))
        async with AsyncLlamaClient(provider=provider) as client:
            result = await client.chat.completions.create(model=alias, messages=MSGS)
    assert result.provider_name == provider
    _check(route, auth, model_id, provider)


HOSTED = [c[0] for c in CASES if c[3] is not None and c[0] not in ("tgi",)]


@pytest.mark.parametrize("provider", HOSTED)
def test_hosted_provider_without_key_fails_before_io(provider: str) -> None:
    env_base = {
        "databricks": "DATABRICKS_HOST",
        "azure": "AZURE_AI_API_BASE",
    }
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        if provider in env_base:
            client_kwargs: dict[str, Any] = {"base_url": "https://example.invalid/v1"}
        else:
            client_kwargs = {}
        with pytest.raises(InvalidRequestError, match="needs an API key") as info:
            LlamaClient(provider=provider, **client_kwargs)
    assert info.value.field == "api_key"
    assert not route.called


def test_missing_base_url_names_the_variable() -> None:
    with pytest.raises(InvalidRequestError, match="DATABRICKS_HOST"):
        LlamaClient(provider="databricks", api_key="dapi1")
    with pytest.raises(InvalidRequestError, match="base_url"):
        LlamaClient(provider="openai-compatible")


def test_base_url_argument_overrides_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_k")
    assert LlamaClient(provider="groq", base_url="http://127.0.0.1:9/v1").base_url == (
        "http://127.0.0.1:9/v1"
    )


def test_llama_base_url_points_self_hosted_providers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # A leftover LLAMA_BASE_URL must never receive a hosted vendor's key.
    monkeypatch.setenv("GROQ_API_KEY", "gsk_k")
    monkeypatch.setenv("LLAMA_BASE_URL", "http://127.0.0.1:7/v1")
    assert LlamaClient(provider="groq").base_url == "https://api.groq.com/openai/v1"
    assert LlamaClient(provider="vllm").base_url == "http://127.0.0.1:7/v1"
    assert LlamaClient(provider="llamacpp").base_url == "http://127.0.0.1:7/v1"
    assert LlamaClient(provider="openai-compatible").base_url == "http://127.0.0.1:7/v1"
    assert LlamaClient().base_url == "http://127.0.0.1:7/v1"


def test_ollama_host_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11500")
    assert LlamaClient(provider="ollama").base_url == "http://127.0.0.1:11500/v1"


def test_ollama_never_sends_a_key() -> None:
    with respx.mock() as mock:
        route = mock.post("http://localhost:11434/v1/chat/completions").mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        LlamaClient(provider="ollama", api_key="secret").chat.completions.create(
            model="llama3.2", messages=MSGS
        )
    assert "authorization" not in route.calls.last.request.headers


def test_azure_bearer_on_non_azure_host_and_api_version_kept_with_extra_query() -> None:
    with respx.mock() as mock:
        route = mock.post(url__startswith="https://llama.eastus.models.example.com/").mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        client = LlamaClient(
            provider="azure", base_url="https://llama.eastus.models.example.com", api_key="az"
        )
        client.chat.completions.create(
            model="llama-3.3-70b-instruct", messages=MSGS, extra_query={"trace": "1"}
        )
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer az"
    assert "api-key" not in request.headers
    assert request.url.params["api-version"] == "2024-05-01-preview"
    assert request.url.params["trace"] == "1"


def test_nvidia_self_hosted_needs_no_key() -> None:
    with respx.mock() as mock:
        route = mock.post("http://127.0.0.1:8001/v1/chat/completions").mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        client = LlamaClient(provider="nvidia", base_url="http://127.0.0.1:8001/v1")
        client.chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS)
    assert sent_json(route)["model"] == "meta/llama-3.1-8b-instruct"
    assert "authorization" not in route.calls.last.request.headers


def test_models_list_goes_to_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_k")
    with respx.mock() as mock:
        route = mock.get("https://api.groq.com/openai/v1/models").mock(
            return_value=httpx.Response(200, json={"object": "list", "data": [{"id": "a"}]})
        )
        ids = LlamaClient(provider="groq").models.list().ids
    assert ids == ["a"]
    assert route.calls.last.request.headers["authorization"] == "Bearer gsk_k"


def test_secret_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_supersecret")
    client = LlamaClient(provider="groq")
    assert "gsk_supersecret" not in repr(client)
    assert "groq" in repr(client)
