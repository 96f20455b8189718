"""Which key, URL and model id each provider gets from the environment: the whole matrix.

The ``LLAMA_*`` variables describe the user's own server. ``LLAMA_BASE_URL`` and
``LLAMA_API_KEY`` reach self-hosted providers only (vLLM, llama.cpp, Ollama, TGI,
openai-compatible), whether a provider is the client's only one, an entry of a fallback list
or named by a ``"provider:model"`` string, and they never reach a hosted vendor. A hosted
vendor takes its own key variable or ``api_key=``; without either it fails before any I/O,
naming the variable. ``LLAMA_MODEL`` goes to a hosted vendor only translated through the
catalogue (an alias, a Hugging Face id or the vendor's own id); any other name is never sent.

Each test records with respx what would go out (host, credential headers, model id) or that
``InvalidRequestError`` is raised before any request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from llama_client import APIConnectionError, AsyncLlamaClient, InvalidRequestError, LlamaClient
from llama_client.providers import Provider, get_provider, list_providers
from tests.unit.providers_support import clear_env, instant_retries
from tests.wire import TINY

SELF_HOSTED = ["vllm", "llamacpp", "ollama", "tgi", "openai-compatible"]
HOSTED = [
    "huggingface", "together", "fireworks", "groq", "deepinfra", "openrouter", "nvidia",
    "databricks", "cerebras", "sambanova", "meta", "azure", "github", "nebius", "hyperbolic",
    "novita",
]  # fmt: skip
#: hosted, but not OpenAI-compatible (its own key rule: a key or AWS credentials; the model in
#: the path): checked by its own test below
HOSTED_NOT_OPENAI = ["bedrock"]

LOCAL_KEY = "sk-local-secret-0123456789"
LOCAL_URL = "http://127.0.0.1:8999/v1"
LOCAL_HOST = "127.0.0.1"
PRIVATE_MODEL = "acme-private-finetune-v3"
HF_MODEL = "meta-llama/Llama-3.3-70B-Instruct"
ALIAS = "llama-3.3-70b-instruct"
MSGS = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)


def set_llama_env(monkeypatch: pytest.MonkeyPatch, model: str = PRIVATE_MODEL) -> None:
    monkeypatch.setenv("LLAMA_API_KEY", LOCAL_KEY)
    monkeypatch.setenv("LLAMA_BASE_URL", LOCAL_URL)
    monkeypatch.setenv("LLAMA_MODEL", model)


def vendor_key(name: str) -> str:
    return f"vendor-key-for-{name}"


def own_env(name: str, *, key: bool = True) -> dict[str, str]:
    """A hosted provider's own variables: its key, and a URL when it has no default."""
    provider = get_provider(name)
    env: dict[str, str] = {}
    if key:
        env[provider.api_key_env[0]] = vendor_key(name)
    if provider.base_url is None:
        host = "https://res.services.ai.azure.com" if name == "azure" else f"https://{name}.example"
        env[provider.base_url_env[0]] = host + ("/models" if name == "azure" else "")
    return env


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    """Every request, to any host, recorded and answered with a completion."""
    with respx.mock(assert_all_called=False) as mock:
        mock.route(name="any").mock(return_value=httpx.Response(200, json=TINY.completion()))
        yield mock


def sent(mock: respx.MockRouter) -> list[httpx.Request]:
    return [call.request for call in mock.calls]


def model_of(request: httpx.Request) -> str:
    return str(json.loads(request.content)["model"])


def assert_no_local_secret(request: httpx.Request) -> None:
    for name, value in request.headers.items():
        assert LOCAL_KEY not in value, f"the local key went out in {name!r} to {request.url.host}"
    assert request.url.host != LOCAL_HOST


def expected_vendor_model(name: str) -> str:
    return get_provider(name).model_table()[ALIAS].id


# ----------------------------------------------------------------------------- the rule's data


def test_which_builtin_providers_are_self_hosted() -> None:
    assert sorted(n for n in list_providers() if get_provider(n).is_self_hosted()) == sorted(
        SELF_HOSTED
    )
    assert sorted(HOSTED + HOSTED_NOT_OPENAI) == sorted(
        n for n in list_providers() if n not in SELF_HOSTED
    )
    # A provider of the user's own is classified from its data unless it says so.
    assert not Provider(name="a", base_url="https://api.a.example/v1").is_self_hosted()
    assert not Provider(name="b", base_url="http://b:1/v1", key_required=True).is_self_hosted()
    assert Provider(name="c", base_url="http://gpu-box:8000/v1").is_self_hosted()
    assert Provider(name="d", base_url="https://vllm.corp/v1", self_hosted=True).is_self_hosted()


# ----------------------------------------------------------------------------- self-hosted


@pytest.mark.parametrize("how", ["argument", "LLAMA_PROVIDER"])
@pytest.mark.parametrize("name", SELF_HOSTED)
def test_self_hosted_provider_uses_the_llama_variables(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, name: str, how: str
) -> None:
    set_llama_env(monkeypatch)
    monkeypatch.setenv("GROQ_API_KEY", vendor_key("groq"))  # another vendor's key: never read
    if how == "LLAMA_PROVIDER":
        monkeypatch.setenv("LLAMA_PROVIDER", name)
        client = LlamaClient()
    else:
        client = LlamaClient(provider=name)
    client.chat.completions.create(messages=MSGS)
    (request,) = sent(wire)
    assert str(request.url) == f"{LOCAL_URL}/chat/completions"
    auth = request.headers.get("authorization")
    assert auth == (None if name == "ollama" else f"Bearer {LOCAL_KEY}")  # Ollama sends none
    assert vendor_key("groq") not in str(request.headers.raw)
    assert model_of(request) == PRIVATE_MODEL  # your own server: the name goes as it is


@pytest.mark.parametrize("first", [True, False])
def test_self_hosted_entry_of_a_fallback_list_uses_the_llama_variables(
    monkeypatch: pytest.MonkeyPatch, first: bool
) -> None:
    """The README's `LLAMA_IT_API_KEY=... pytest tests/integration` case: the vllm entry of a
    list must reach LLAMA_BASE_URL with LLAMA_API_KEY (it went to localhost:8000, keyless)."""
    set_llama_env(monkeypatch, model=HF_MODEL)
    set_env(monkeypatch, own_env("groq"))
    names = ["vllm", "groq"] if first else ["groq", "vllm"]
    with respx.mock() as mock:
        # Whichever comes first fails, so the call falls over and both requests are seen.
        failing = "127.0.0.1" if first else "api.groq.com"
        mock.route(host=failing).mock(side_effect=httpx.ConnectError("down"))
        mock.route().mock(return_value=httpx.Response(200, json=TINY.completion()))
        r = LlamaClient(provider=names, max_retries=0).chat.completions.create(messages=MSGS)
        requests = sent(mock)
    assert r.provider_name == names[1]
    by_host = {req.url.host: req for req in requests}
    local, groq = by_host[LOCAL_HOST], by_host["api.groq.com"]
    assert str(local.url) == f"{LOCAL_URL}/chat/completions"
    assert local.headers["authorization"] == f"Bearer {LOCAL_KEY}"
    assert model_of(local) == HF_MODEL
    assert groq.headers["authorization"] == f"Bearer {vendor_key('groq')}"
    assert_no_local_secret(groq)
    assert model_of(groq) == expected_vendor_model("groq")  # the HF id, translated


def test_provider_prefix_to_a_self_hosted_provider_uses_the_llama_variables(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    set_llama_env(monkeypatch)
    set_env(monkeypatch, own_env("groq"))
    client = LlamaClient(provider="groq")
    client.chat.completions.create(model="vllm:my-local-model", messages=MSGS)
    (request,) = sent(wire)
    assert str(request.url) == f"{LOCAL_URL}/chat/completions"
    assert request.headers["authorization"] == f"Bearer {LOCAL_KEY}"
    assert model_of(request) == "my-local-model"


def test_a_vendor_key_variable_never_reaches_a_self_hosted_server(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    for name in HOSTED:
        set_env(monkeypatch, own_env(name))
    LlamaClient(model="m").chat.completions.create(messages=MSGS)
    (request,) = sent(wire)
    assert "authorization" not in request.headers
    assert not any("vendor-key" in v for v in request.headers.values())


# ----------------------------------------------------------------------------- hosted: keys


def _hosted_client(name: str, how: str, monkeypatch: pytest.MonkeyPatch) -> LlamaClient:
    if how == "argument":
        return LlamaClient(provider=name)
    if how == "LLAMA_PROVIDER":
        monkeypatch.setenv("LLAMA_PROVIDER", name)
        return LlamaClient()
    if how == "list-first":
        return LlamaClient(provider=[name, "vllm"])
    if how == "list-second":
        return LlamaClient(provider=["vllm", name])
    if how == "LLAMA_PROVIDER-list":
        monkeypatch.setenv("LLAMA_PROVIDER", f"vllm,{name}")
        return LlamaClient()
    raise AssertionError(how)


HOWS = ["argument", "LLAMA_PROVIDER", "list-first", "list-second", "LLAMA_PROVIDER-list"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("name", HOSTED)
def test_hosted_vendor_never_takes_the_local_key(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, name: str, how: str
) -> None:
    """The issue's reproduction, for every hosted vendor and every way of choosing it."""
    set_llama_env(monkeypatch, model=HF_MODEL)
    set_env(monkeypatch, own_env(name, key=False))
    with pytest.raises(InvalidRequestError) as info:
        _hosted_client(name, how, monkeypatch)
    message = str(info.value)
    assert info.value.field == "api_key"
    assert get_provider(name).api_key_env[0] in message  # names the variable to set
    assert "LLAMA_API_KEY is set" in message
    assert LOCAL_KEY not in message
    assert not wire.calls


@pytest.mark.parametrize("name", HOSTED)
def test_hosted_vendor_by_provider_prefix_never_takes_the_local_key(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, name: str
) -> None:
    set_llama_env(monkeypatch)
    set_env(monkeypatch, own_env(name, key=False))
    client = LlamaClient()  # vllm, from LLAMA_BASE_URL
    with pytest.raises(InvalidRequestError, match=get_provider(name).api_key_env[0]):
        client.chat.completions.create(model=f"{name}:{ALIAS}", messages=MSGS)
    assert not wire.calls


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("name", HOSTED)
def test_hosted_vendor_takes_only_its_own_key_and_url(
    monkeypatch: pytest.MonkeyPatch, name: str, how: str
) -> None:
    set_llama_env(monkeypatch, model=HF_MODEL)
    set_env(monkeypatch, own_env(name))
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host=LOCAL_HOST).mock(side_effect=httpx.ConnectError("down"))
        mock.route().mock(return_value=httpx.Response(200, json=TINY.completion()))
        client = _hosted_client(name, how, monkeypatch)
        client.with_options(max_retries=0).chat.completions.create(messages=MSGS)
        requests = [r for r in sent(mock) if r.url.host != LOCAL_HOST]
    (request,) = requests
    assert_no_local_secret(request)
    provider = get_provider(name)
    default = provider.base_url or own_env(name)[provider.base_url_env[0]]
    assert request.url.host == httpx.URL(default).host  # never LLAMA_BASE_URL
    carrier = "api-key" if name == "azure" else "authorization"
    assert vendor_key(name) in request.headers[carrier]
    assert model_of(request) == expected_vendor_model(name)  # LLAMA_MODEL's HF id, translated


def test_explicit_arguments_win_for_a_hosted_vendor(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    set_llama_env(monkeypatch)
    LlamaClient(provider="groq", api_key="gsk-explicit-key").chat.completions.create(
        model=ALIAS, messages=MSGS
    )
    LlamaClient(
        provider="groq", api_key="gsk-explicit-key", base_url="http://10.1.2.3:9/v1"
    ).chat.completions.create(model=ALIAS, messages=MSGS)
    to_groq, to_explicit = sent(wire)
    assert to_groq.url.host == "api.groq.com"
    assert to_explicit.url.host == "10.1.2.3"
    for request in (to_groq, to_explicit):
        assert request.headers["authorization"] == "Bearer gsk-explicit-key"
        assert_no_local_secret(request)


def test_meta_reads_its_own_variable_not_llama_api_key(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    monkeypatch.setenv("LLAMA_API_KEY", LOCAL_KEY)
    with pytest.raises(InvalidRequestError, match="META_LLAMA_API_KEY") as info:
        LlamaClient(provider="meta")
    assert LOCAL_KEY not in str(info.value)
    monkeypatch.setenv("META_LLAMA_API_KEY", vendor_key("meta"))
    LlamaClient(provider="meta").chat.completions.create(model=ALIAS, messages=MSGS)
    (request,) = sent(wire)
    assert request.headers["authorization"] == f"Bearer {vendor_key('meta')}"


def test_registered_hosted_provider_follows_the_same_rule(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    set_llama_env(monkeypatch)
    acme = Provider(name="acme", base_url="https://api.acme.example/v1", api_key_env=("ACME_KEY",))
    # It requires no key: then it is called without one, never with the local key.
    LlamaClient(provider=acme).chat.completions.create(model="m", messages=MSGS)
    (request,) = sent(wire)
    assert request.url.host == "api.acme.example"
    assert "authorization" not in request.headers


def test_a_provider_of_your_own_marked_self_hosted_gets_the_llama_key(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    monkeypatch.setenv("LLAMA_API_KEY", LOCAL_KEY)
    mine = Provider(name="corp-vllm", base_url="https://vllm.corp.example/v1", self_hosted=True)
    LlamaClient(provider=mine).chat.completions.create(model="m", messages=MSGS)
    (request,) = sent(wire)
    assert request.url.host == "vllm.corp.example"
    assert request.headers["authorization"] == f"Bearer {LOCAL_KEY}"


# ----------------------------------------------------------------------------- hosted: model


@pytest.mark.parametrize("how", HOWS[:2])
@pytest.mark.parametrize("name", HOSTED)
def test_a_private_llama_model_never_reaches_a_hosted_vendor(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, name: str, how: str
) -> None:
    set_llama_env(monkeypatch, model=PRIVATE_MODEL)
    set_env(monkeypatch, own_env(name))
    client = _hosted_client(name, how, monkeypatch)
    for c in (client, client.with_options(max_retries=0)):  # a copy keeps the rule
        with pytest.raises(InvalidRequestError, match=r"pass model=") as info:
            c.chat.completions.create(messages=MSGS)
        assert info.value.field == "model"
    assert not wire.calls
    # An explicit model is the caller's choice: it is sent as given.
    client.chat.completions.create(model=PRIVATE_MODEL, messages=MSGS)
    client.with_options(model=PRIVATE_MODEL).chat.completions.create(messages=MSGS)
    assert [model_of(r) for r in sent(wire)] == [PRIVATE_MODEL, PRIVATE_MODEL]


@pytest.mark.parametrize(
    "env_model",
    [
        ALIAS,
        HF_MODEL,
        HF_MODEL.lower(),
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "llama-3.1-8b-instant",
    ],
)
def test_a_catalogue_llama_model_is_translated_for_a_hosted_vendor(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, env_model: str
) -> None:
    set_llama_env(monkeypatch, model=env_model)
    set_env(monkeypatch, own_env("groq"))
    LlamaClient(provider="groq").chat.completions.create(messages=MSGS)
    (request,) = sent(wire)
    table = get_provider("groq").model_table()
    expected = table[ALIAS].id if "3.3" in env_model else table["llama-3.1-8b-instruct"].id
    assert model_of(request) == expected


def test_fallback_list_skips_a_hosted_entry_for_a_private_llama_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_llama_env(monkeypatch, model=PRIVATE_MODEL)
    set_env(monkeypatch, own_env("groq"))
    with respx.mock(assert_all_called=False) as mock:
        groq = mock.route(host="api.groq.com").mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        local = mock.route(host=LOCAL_HOST).mock(side_effect=httpx.ConnectError("down"))
        client = LlamaClient(provider=["groq", "vllm"], max_retries=0)
        # groq cannot take the private name, so only the local server is tried...
        with pytest.raises(APIConnectionError):
            client.chat.completions.create(messages=MSGS)
        assert local.call_count == 1 and not groq.called
        # ...and when it answers, the call succeeds there.
        local.mock(return_value=httpx.Response(200, json=TINY.completion()))
        r = client.chat.completions.create(messages=MSGS)
    assert r.provider_name == "vllm" and not groq.called
    assert model_of(local.calls.last.request) == PRIVATE_MODEL


def test_private_llama_model_with_a_hosted_prefix_is_not_sent(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    monkeypatch.setenv("LLAMA_MODEL", f"groq:{PRIVATE_MODEL}")
    set_env(monkeypatch, own_env("groq"))
    with pytest.raises(InvalidRequestError, match="pass model="):
        LlamaClient().chat.completions.create(messages=MSGS)
    assert not wire.calls


# ----------------------------------------------------------------------------- async twin


def test_async_client_follows_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    set_llama_env(monkeypatch)
    with pytest.raises(InvalidRequestError, match="GROQ_API_KEY"):
        AsyncLlamaClient(provider="groq")
    set_env(monkeypatch, own_env("groq"))

    async def run() -> list[httpx.Request]:
        with respx.mock() as mock:
            mock.route().mock(return_value=httpx.Response(200, json=TINY.completion()))
            single = AsyncLlamaClient(provider="groq")
            with pytest.raises(InvalidRequestError, match="pass model="):
                await single.chat.completions.create(messages=MSGS)  # LLAMA_MODEL: private
            await single.close()
            client = AsyncLlamaClient(provider=["groq", "vllm"])
            await client.chat.completions.create(model="vllm:x", messages=MSGS)
            await client.chat.completions.create(model=ALIAS, messages=MSGS)
            await client.close()
            return sent(mock)

    local, groq = asyncio.run(run())
    assert local.url.host == LOCAL_HOST and local.headers["authorization"] == f"Bearer {LOCAL_KEY}"
    assert groq.url.host == "api.groq.com"
    assert_no_local_secret(groq)


def test_bedrock_never_takes_the_llama_variables(
    monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    set_llama_env(monkeypatch, model=PRIVATE_MODEL)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", vendor_key("bedrock"))
    client = LlamaClient(provider="bedrock")
    with pytest.raises(InvalidRequestError, match=r"pass model="):
        client.chat.completions.create(messages=MSGS)  # LLAMA_MODEL is private: not sent
    assert not wire.calls
    wire.route(name="any").mock(
        return_value=httpx.Response(
            200,
            json={
                "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
                "stopReason": "end_turn",
            },
        )
    )
    client.chat.completions.create(model=ALIAS, messages=MSGS)
    (request,) = sent(wire)
    assert_no_local_secret(request)
    assert request.url.host == "bedrock-runtime.us-west-2.amazonaws.com"
    assert request.headers["authorization"] == f"Bearer {vendor_key('bedrock')}"
    assert "us.meta.llama3-3-70b-instruct-v1%3A0" in str(request.url)
