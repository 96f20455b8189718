"""Pure parts of the provider layer: registry, entry points, catalogue data, Provider hooks,
rate-limit headers, the generated docs table, the example script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import llama_client.providers.registry as registry
from llama_client import InvalidRequestError, LlamaClient, UnsupportedParameterError
from llama_client._ratelimit import parse_duration
from llama_client.providers import (
    Provider,
    RateLimitInfo,
    catalog,
    get_provider,
    list_providers,
    parse_rate_limit,
    register,
)
from llama_client.providers._catalog import ALIASES, MODELS
from llama_client.providers._table import update_document
from tests.unit.providers_support import MSGS, clear_env
from tests.wire import TINY, sent_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Restore the registry after a test that registers providers."""
    registry._ensure_builtins()
    saved = dict(registry._providers)
    state = dict(registry._state)
    yield
    registry._providers.clear()
    registry._providers.update(saved)
    registry._state.update(state)


# --------------------------------------------------------------------------- registry


def test_import_builds_no_registry_and_loads_no_catalogue() -> None:
    code = (
        "import sys, llama_client, llama_client.providers.registry as r; "
        "print(r._state['builtins'], r._state['entry_points'], "
        "'llama_client.providers._catalog' in sys.modules, "
        "'llama_client.providers._builtin' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.split() == ["False", "False", "False", "False"]


def test_builtin_names() -> None:
    names = list_providers()
    expected = [
        "vllm", "llamacpp", "ollama", "tgi", "huggingface", "together", "fireworks", "groq",
        "deepinfra", "openrouter", "nvidia", "databricks", "cerebras", "sambanova", "meta",
        "azure", "github", "nebius", "hyperbolic", "novita", "bedrock", "openai-compatible",
    ]  # fmt: skip
    assert names[: len(expected)] == expected


def test_register_data_row_and_use_it(
    clean_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(
        Provider(
            name="acme",
            base_url="https://api.acme.example/v1",
            api_key_env=("ACME_API_KEY",),
            key_required=True,
            models={"llama-3.1-8b-instruct": "acme/llama-8b"},
            unsupported_params=frozenset({"seed"}),
        )
    )
    monkeypatch.setenv("ACME_API_KEY", "ak")
    with respx.mock() as mock:
        route = mock.post("https://api.acme.example/v1/chat/completions").mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        client = LlamaClient(provider="acme", unsupported="drop")
        client.chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS, seed=3)
    body = sent_json(route)
    assert body["model"] == "acme/llama-8b" and "seed" not in body
    assert route.calls.last.request.headers["authorization"] == "Bearer ak"
    with pytest.raises(InvalidRequestError, match=r"offers: llama-3\.1-8b-instruct"):
        client.chat.completions.create(model="llama-3.3-70b-instruct", messages=MSGS)


def test_subclass_hook(clean_registry: None) -> None:
    class Quirky(Provider):
        name = "quirky"
        base_url = "http://127.0.0.1:9100/v1"

        def normalize_finish(self, reason: str | None, has_tool_calls: bool) -> str | None:
            if reason == "done":
                return "stop"
            return super().normalize_finish(reason, has_tool_calls)

    register(Quirky())
    with respx.mock() as mock:
        mock.post("http://127.0.0.1:9100/v1/chat/completions").mock(
            return_value=httpx.Response(200, json=TINY.completion(finish_reason="done"))
        )
        r = LlamaClient(provider="quirky").chat.completions.create(model="m", messages=MSGS)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].raw_finish_reason == "done"  # type: ignore[attr-defined]


def test_register_refuses_duplicates_unless_replace(clean_registry: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(Provider(name="groq", base_url="http://127.0.0.1:1/v1"))
    mine = register(Provider(name="groq", base_url="http://127.0.0.1:1/v1"), replace=True)
    assert get_provider("groq") is mine
    with pytest.raises(TypeError):
        register("groq")  # type: ignore[arg-type]


def test_provider_options_are_checked() -> None:
    with pytest.raises(TypeError, match="bogus"):
        Provider(name="x", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="':'"):
        Provider(name="a:b")
    nim = get_provider("nvidia").replace(base_url="http://127.0.0.1:8001/v1")
    assert nim.base_url == "http://127.0.0.1:8001/v1"
    assert get_provider("nvidia").base_url == "https://integrate.api.nvidia.com/v1"


class _EP:
    def __init__(self, name: str, obj: Any) -> None:
        self.name = name
        self._obj = obj

    def load(self) -> Any:
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


def test_entry_points_loaded_lazily(clean_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class Plug(Provider):
        name = "plug"
        base_url = "http://127.0.0.1:9200/v1"

    calls: list[str] = []

    def fake_entry_points(*, group: str) -> list[_EP]:
        calls.append(group)
        return [
            _EP("plug", Plug),
            _EP("factory", lambda: Provider(name="factory", base_url="http://127.0.0.1:1/v1")),
            _EP("broken", ImportError("missing dependency")),
            _EP("wrong", 42),
        ]

    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points)
    registry._state["entry_points"] = False
    assert get_provider("groq").name == "groq"  # a built-in lookup reads no entry points
    assert calls == []
    assert get_provider("plug").base_url == "http://127.0.0.1:9200/v1"
    assert calls == ["llama_client.providers"]
    assert get_provider("factory").name == "factory"
    assert "broken" not in list_providers() and "wrong" not in list_providers()
    assert calls == ["llama_client.providers"]  # read once


# --------------------------------------------------------------------------- catalogue data


def test_catalogue_rows_are_consistent() -> None:
    builtin = set(list_providers())
    for provider, rows in MODELS.items():
        assert provider in builtin, provider
        for alias, row in rows.items():
            assert alias in ALIASES, (provider, alias)
            vendor_id = row if isinstance(row, str) else row["id"]
            assert isinstance(vendor_id, str) and vendor_id.strip() == vendor_id != ""
    rows = catalog()
    assert len(rows) == sum(len(r) for r in MODELS.values())
    assert {r.alias for r in rows} == set(ALIASES)


def test_unknown_alias_passes_through_and_vendor_id_is_accepted() -> None:
    groq = get_provider("groq")
    assert groq.resolve_model("some-fine-tune") == "some-fine-tune"
    assert groq.resolve_model("llama-3.1-8b-instant") == "llama-3.1-8b-instant"
    with pytest.raises(InvalidRequestError, match="does not offer"):
        groq.resolve_model("llama-guard-3-1b")


# --------------------------------------------------------------------------- prepare (pure)


def _body(**params: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "x"}], **params}


def test_prepare_does_not_touch_the_input() -> None:
    body = _body(max_tokens=3, logprobs=True)
    before = {**body, "messages": [dict(m) for m in body["messages"]]}
    prepared = get_provider("groq").prepare(body, stream=False)
    assert body == before
    assert prepared.body["max_completion_tokens"] == 3
    assert prepared.dropped == [("logprobs", "is not supported")]


def test_prepare_length_params_conflict() -> None:
    with pytest.raises(InvalidRequestError, match="not both"):
        get_provider("groq").prepare(_body(max_tokens=3, max_completion_tokens=4), stream=False)


def test_prepare_stream_options_policy() -> None:
    groq, vllm = get_provider("groq"), get_provider("vllm")
    assert "stream_options" not in groq.prepare(_body(), stream=True, want_usage=True).body
    assert vllm.prepare(_body(), stream=True, want_usage=True).body["stream_options"] == {
        "include_usage": True
    }
    assert "stream_options" not in vllm.prepare(_body(), stream=True).body
    with pytest.raises(UnsupportedParameterError, match="stream_options"):
        groq.prepare(
            _body(stream_options={"include_usage": True}), stream=True, unsupported="error"
        )


def test_prepare_response_format_shapes() -> None:
    tgi, llamacpp = get_provider("tgi"), get_provider("llamacpp")
    assert tgi.prepare(_body(response_format={"type": "json_object"}), stream=False).body[
        "response_format"
    ] == {"type": "json", "value": {"type": "object"}}
    assert (
        "response_format"
        not in tgi.prepare(_body(response_format={"type": "text"}), stream=False).body
    )
    with pytest.raises(InvalidRequestError, match="json_schema"):
        tgi.prepare(_body(response_format={"type": "json_schema"}), stream=False)
    plain = llamacpp.prepare(_body(response_format={"type": "json_object"}), stream=False)
    assert plain.body["response_format"] == {"type": "json_object"}


def test_azure_auth_header_by_host() -> None:
    azure = get_provider("azure")
    assert azure.auth_headers("k", "https://r.openai.azure.com/models") == {"api-key": "k"}
    assert azure.auth_headers("k", "https://x.eastus.models.ai.example") == {
        "Authorization": "Bearer k"
    }
    assert azure.auth_headers(None, "https://r.openai.azure.com") == {}


# --------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6s", 6.0), ("1.57s", 1.57), ("2m59.56s", 179.56), ("7.66ms", 0.00766), ("1h2m", 3720.0),
     ("12", 12.0), ("", None), ("soon", None), ("5s later", None)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float | None) -> None:
    result = parse_duration(text)
    if seconds is None:
        assert result is None
    else:
        assert result == pytest.approx(seconds)


def test_parse_rate_limit() -> None:
    assert parse_rate_limit(httpx.Headers({"content-type": "application/json"})) is None
    info = parse_rate_limit(
        httpx.Headers({"X-RateLimit-Limit-Tokens": "6000", "x-ratelimit-remaining-tokens": "bad"})
    )
    assert info == RateLimitInfo(
        limit_tokens=6000,
        raw={"x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "bad"},
    )


# --------------------------------------------------------------------------- docs and example


def test_generated_provider_table_is_up_to_date() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert update_document(text) == text, (
        "README.md's provider tables are stale: run python -m llama_client.providers --write README.md"
    )


def test_table_cli_prints_every_provider() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llama_client.providers", "--markdown"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    for name in ("vllm", "groq", "azure", "openai-compatible"):
        assert f"| `{name}` |" in out
    assert "`GROQ_API_KEY`" in out and "`llama-3.1-8b-instant`" in out


def test_example_exits_with_a_short_message_without_a_server() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_", "GROQ"))}
    env["LLAMA_BASE_URL"] = "http://127.0.0.1:9/v1"
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "providers.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 1
    assert "No server answered" in out.stderr and "Traceback" not in out.stderr
    missing_key = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "providers.py"), "groq"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing_key.returncode == 2 and "GROQ_API_KEY" in missing_key.stderr
