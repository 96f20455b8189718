"""AWS Bedrock (Converse) behind ``provider="bedrock"``: the wire, SigV4, mapping, errors.

Offline (respx). Converse facts come from ``shared/reference/providers.md``; expected values
are typed out here, not read from the adapter.

Event-stream bodies: botocore only *decodes* AWS event-stream (``botocore.eventstream`` has
no encoder), awscrt exposes no standalone encoder (only an RPC client that adds its own
int32 ``:message-type`` headers), and smithy-aws-event-stream (AWS's Python encoder) needs
Python >= 3.12 while this project supports 3.10. So ``tests/wire.py`` builds the frames from
the format's definition, and :func:`test_wire_frames_decode_with_botocore` proves each kind
of frame it builds with botocore's decoder (both CRCs, headers, payload) before any other test
relies on them. The SigV4 tests recompute the signature with botocore's own ``SigV4Auth`` from
what went on the wire.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import warnings
from typing import Any

import httpx
import pytest
import respx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from pydantic import BaseModel

from llama_client import (
    AsyncLlamaClient,
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    InternalServerError,
    InvalidRequestError,
    LlamaClient,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    StreamError,
    UnsupportedParameterError,
    UnsupportedParameterWarning,
    tool,
)
from llama_client.providers import BedrockProvider
from tests.unit.providers_support import clear_env, instant_retries
from tests.wire import (
    BEDROCK_URL,
    TINY,
    aws_event,
    aws_exception,
    bedrock_error,
    converse_answer,
    converse_stream_events,
    eventstream_message,
    eventstream_response,
)

MODEL_ID = "meta.llama3-1-8b-instruct-v1:0"
CONVERSE = f"{BEDROCK_URL}/model/meta.llama3-1-8b-instruct-v1%3A0/converse"
CONVERSE_STREAM = f"{CONVERSE}-stream"
AKID = "AKIDEXAMPLE0123456789"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN0123456789"
BEARER = "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlMDEyMzQ1Njc4OQ=="
MSGS = [{"role": "user", "content": "Hi"}]
FROZEN = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    # Offline: no shared files, never the instance metadata service.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: FROZEN)


def client(**kw: Any) -> LlamaClient:
    kw.setdefault("model", "llama-3.1-8b-instruct")
    return LlamaClient(provider=kw.pop("provider", "bedrock"), **kw)


def sent(route: Any, i: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[i].request.content)
    return body


def botocore_signature(request: httpx.Request, creds: Credentials, region: str) -> str:
    """The Authorization header botocore's SigV4Auth computes for what went on the wire."""
    aws = AWSRequest(
        method=request.method,
        url=str(request.url),
        data=request.content,
        headers={"Host": request.headers["host"], "Content-Type": request.headers["content-type"]},
    )
    SigV4Auth(creds, "bedrock", region).add_auth(aws)
    assert aws.headers["X-Amz-Date"] == request.headers["x-amz-date"]
    return str(aws.headers["Authorization"])


# -- the test frames themselves ------------------------------------------------------------


def test_wire_frames_decode_with_botocore() -> None:
    frames = [
        *converse_stream_events("Hel", "lo", tool=("t1", "f", ['{"a"', ": 1}"])),
        aws_exception("throttlingException", "slow down"),
    ]
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(frames))
    messages = list(buffer)
    assert len(messages) == len(frames)
    first = messages[0]
    assert first.headers == {
        ":event-type": "messageStart",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(first.payload) == {"role": "assistant"}
    assert messages[-1].headers[":exception-type"] == "throttlingException"
    assert json.loads(messages[-1].payload) == {"message": "slow down"}
    corrupt = bytearray(aws_event("messageStart", {"role": "assistant"}))
    corrupt[-5] ^= 1  # a payload byte: the message CRC no longer matches
    bad = EventStreamBuffer()
    bad.add_data(bytes(corrupt))
    with pytest.raises(ChecksumMismatch):
        list(bad)


# -- the request ----------------------------------------------------------------------------


def test_request_mapping_on_the_wire() -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client().chat.completions.create(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather?"},
                {"role": "user", "content": [{"type": "text", "text": "In Paris."}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "tooluse_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "tooluse_1", "content": "sunny"},
                {"role": "user", "content": "Thanks. And tomorrow?"},
            ],
            max_tokens=64,
            temperature=0.2,
            top_p=0.9,
            stop="END",
        )
    request = route.calls[0].request
    assert request.url.raw_path == b"/model/meta.llama3-1-8b-instruct-v1%3A0/converse"
    assert sent(route) == {
        "system": [{"text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"text": "Weather?"}, {"text": "In Paris."}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "sunny"}]}},
                    {"text": "Thanks. And tomorrow?"},
                ],
            },
        ],
        "inferenceConfig": {
            "maxTokens": 64,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
        # the history's tool use needs a toolConfig, even without tools= on this call
        "toolConfig": {
            "tools": [
                {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}
            ]
        },
    }


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def test_tools_go_to_tool_config_and_auto_is_implicit() -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client().chat.completions.create(messages=MSGS, tools=[get_weather], tool_choice="auto")
    body = sent(route)
    assert "toolChoice" not in body["toolConfig"]
    spec = body["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "get_weather"
    assert spec["description"] == "Current weather for a city."
    assert spec["inputSchema"]["json"]["required"] == ["city"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("tool_choice", "required"),
        ("tool_choice", {"type": "function", "function": {"name": "get_weather"}}),
        ("seed", 7),
        ("presence_penalty", 0.5),
        ("n", 2),
    ],
)
def test_what_converse_cannot_carry_follows_the_unsupported_policy(param: str, value: Any) -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        strict = client(unsupported="error")
        with pytest.raises(UnsupportedParameterError, match=param):
            strict.chat.completions.create(messages=MSGS, tools=[get_weather], **{param: value})
        assert not route.called  # refused before any I/O
        with pytest.warns(UnsupportedParameterWarning, match=param):
            client().chat.completions.create(messages=MSGS, tools=[get_weather], **{param: value})
        body = sent(route)
    assert set(body) == {"messages", "toolConfig"}  # nothing else was sent
    assert "toolChoice" not in body["toolConfig"]


def test_n_1_and_additional_fields() -> None:
    provider = BedrockProvider(additional_fields={"top_k": "top_k"})
    with respx.mock() as mock, warnings.catch_warnings():
        warnings.simplefilter("error")
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client(provider=provider).chat.completions.create(
            messages=MSGS, n=1, extra_body={"guardrailConfig": {"guardrailIdentifier": "g"}}
        )
        client(provider=provider).chat.completions.create(messages=MSGS, extra_body={"top_k": 5})
    assert sent(route, 0)["guardrailConfig"] == {"guardrailIdentifier": "g"}  # raw Converse
    assert "n" not in sent(route, 0)
    assert sent(route, 1)["top_k"] == 5  # extra_body is sent as given


def test_additional_model_request_fields() -> None:
    provider = BedrockProvider(additional_fields={"frequency_penalty": "frequency_penalty"})
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client(provider=provider).chat.completions.create(messages=MSGS, frequency_penalty=0.5)
    assert sent(route)["additionalModelRequestFields"] == {"frequency_penalty": 0.5}


def test_bad_messages_are_refused_before_io() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(CONVERSE)
        with pytest.raises(InvalidRequestError, match="data: URL"):
            client().chat.completions.create(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}],
                    }
                ]
            )
        with pytest.raises(InvalidRequestError, match="JSON"):
            client().chat.completions.create(
                messages=[
                    {"role": "user", "content": "Hi"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "t",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{oops"},
                            }
                        ],
                    },
                ]
            )
        with pytest.raises(InvalidRequestError, match="non-system"):
            client().chat.completions.create(messages=[{"role": "system", "content": "x"}])
        assert not route.called


def test_images_go_as_bytes() -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client().chat.completions.create(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is it?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                        },
                    ],
                }
            ]
        )
    assert sent(route)["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}
    }


# -- auth -----------------------------------------------------------------------------------


def test_sigv4_signature_is_botocore_s_over_the_final_body() -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client().chat.completions.create(messages=MSGS, max_tokens=20)
    request = route.calls[0].request
    # the signed body is the Converse body after our mapping, byte for byte
    assert json.loads(request.content) == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "inferenceConfig": {"maxTokens": 20},
    }
    creds = Credentials(AKID, SECRET)
    expected = botocore_signature(request, creds, "us-east-1")
    assert request.headers["authorization"] == expected
    assert expected.startswith(
        f"AWS4-HMAC-SHA256 Credential={AKID}/20261130/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature="
    )
    # the signature covers the body: another body gives another signature
    tampered = httpx.Request(
        request.method, request.url, headers=request.headers, content=request.content + b" "
    )
    assert botocore_signature(tampered, creds, "us-east-1") != expected
    assert "x-amz-security-token" not in request.headers


def test_session_token_is_sent_and_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(
            side_effect=[
                httpx.Response(200, json=converse_answer()),
                bedrock_error(403, "ExpiredTokenException", f"token {TOKEN} expired"),
            ]
        )
        client().chat.completions.create(messages=MSGS)
        with pytest.raises(AuthenticationError) as info:
            client().chat.completions.create(messages=MSGS)
    assert TOKEN not in str(info.value) and "ExpiredTokenException" in str(info.value)
    request = route.calls[0].request
    assert request.headers["x-amz-security-token"] == TOKEN
    assert "x-amz-security-token" in request.headers["authorization"]
    assert request.headers["authorization"] == botocore_signature(
        request, Credentials(AKID, SECRET, TOKEN), "us-east-1"
    )


def test_every_attempt_is_signed_afresh_with_current_credentials() -> None:
    class Rotating:
        """Credentials that change on every read, like a refresh between attempts."""

        def __init__(self) -> None:
            self.reads = 0

        def get_frozen_credentials(self) -> Any:
            self.reads += 1
            return Credentials(f"AKIDROTATING{self.reads:04d}", SECRET).get_frozen_credentials()

    creds = Rotating()
    provider = BedrockProvider(region="us-east-1", credentials=creds)
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(
            side_effect=[
                bedrock_error(503, "ServiceUnavailableException", "try again"),
                httpx.Response(200, json=converse_answer()),
            ]
        )
        out = client(provider=provider).chat.completions.create(messages=MSGS)
    assert out.choices[0].message.content == "Hello!"
    first, second = (c.request for c in route.calls)
    assert "AKIDROTATING0001/" in first.headers["authorization"]
    assert "AKIDROTATING0002/" in second.headers["authorization"]
    assert first.content == second.content
    for i, request in enumerate((first, second), 1):
        assert request.headers["authorization"] == botocore_signature(
            request, Credentials(f"AKIDROTATING{i:04d}", SECRET), "us-east-1"
        )


def test_bearer_api_key_is_sent_without_signing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", BEARER)
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(
            return_value=bedrock_error(403, "AccessDeniedException", f"bad key {BEARER}")
        )
        c = client()
        with pytest.raises(PermissionDeniedError) as info:
            c.chat.completions.create(messages=MSGS)
    request = route.calls[0].request
    assert request.headers["authorization"] == f"Bearer {BEARER}"
    assert "x-amz-date" not in request.headers
    assert BEARER not in repr(c) and BEARER not in str(info.value)
    assert SECRET not in repr(c) and SECRET not in repr(c.provider_adapters)


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(CONVERSE)
        with pytest.raises(InvalidRequestError, match="AWS_BEARER_TOKEN_BEDROCK"):
            client().chat.completions.create(messages=MSGS)
        assert not route.called


def test_region_from_argument_env_or_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert client().base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    eu = client(provider=BedrockProvider(region="eu-west-3"))
    assert eu.base_url == "https://bedrock-runtime.eu-west-3.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://vpce-1.example.com")
    assert client().base_url == "https://vpce-1.example.com"
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(InvalidRequestError, match="AWS_REGION"):
        client()
    with pytest.raises(InvalidRequestError, match="region"):
        BedrockProvider(region="us-east-1.evil.com/")


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "botocore.eventstream", None)
    with pytest.raises(ImportError, match=r"pip install 'llama-client\[bedrock\]'"):
        client()


# -- answers --------------------------------------------------------------------------------


def test_answer_mapping() -> None:
    answer = converse_answer(
        "Let me check.",
        stop_reason="tool_use",
        tool_uses=[("tooluse_abc", "get_weather", {"city": "Paris"})],
        usage=(30, 12),
    )
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(
            return_value=httpx.Response(200, json=answer, headers={"x-amzn-RequestId": "req-1"})
        )
        out = client().chat.completions.create(messages=MSGS, tools=[get_weather])
    choice = out.choices[0]
    assert out.id == "chatcmpl-req-1"
    assert out.model == MODEL_ID
    assert choice.message.content == "Let me check."
    assert choice.finish_reason == "tool_calls"
    assert choice.raw_finish_reason == "tool_use"
    [call] = choice.message.tool_calls or []
    assert (call.id, call.function.name) == ("tooluse_abc", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (
        30,
        12,
        42,
    )


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_stop_reasons(raw: str, mapped: str) -> None:
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(
            return_value=httpx.Response(200, json=converse_answer(stop_reason=raw))
        )
        choice = client().chat.completions.create(messages=MSGS).choices[0]
    assert (choice.finish_reason, choice.raw_finish_reason) == (mapped, raw)


def test_llama_tool_call_written_as_text_goes_through_the_llama_parser() -> None:
    text = '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Rome"}}'
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer(text)))
        out = client().chat.completions.create(messages=MSGS, tools=[get_weather])
    message = out.choices[0].message
    [call] = message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Rome"}
    assert message.raw_content == text
    assert out.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "body",
    [
        {"output": {}},
        {"output": {"message": {"content": [{"toolUse": {"input": {}}}]}}},
        {"output": {"message": {"content": [{"text": "x"}]}}, "usage": {"inputTokens": -1}},
        [1, 2],
    ],
)
def test_bad_answers_show_what_arrived(body: Any) -> None:
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=body))
        with pytest.raises(ResponseValidationError, match="Bedrock"):
            client().chat.completions.create(messages=MSGS)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "message", "cls"),
    [
        (429, "ThrottlingException", "Too many requests, please wait.", RateLimitError),
        (
            400,
            "ValidationException",
            "Input is too long for requested model.",
            ContextLengthExceededError,
        ),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model.",
            PermissionDeniedError,
        ),
        (403, "UnrecognizedClientException", "The security token is invalid.", AuthenticationError),
        (400, "ValidationException", "Malformed input request.", BadRequestError),
        (503, "ServiceUnavailableException", "Service unavailable.", InternalServerError),
    ],
)
def test_errors_map_onto_the_tree(status: int, kind: str, message: str, cls: type) -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=bedrock_error(status, kind, message))
        with pytest.raises(cls) as info:
            client(max_retries=1).chat.completions.create(messages=MSGS)
    err = info.value
    assert err.error_type == kind
    assert kind in str(err) and message in str(err)
    assert err.request_id == "5d1a3c1e-0000-4000-8000-000000000001"
    retried = status in (429, 503)
    assert route.call_count == (2 if retried else 1)


def test_a_stream_refused_before_its_first_byte_is_classified_and_retried() -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE_STREAM).mock(
            side_effect=[
                bedrock_error(429, "ThrottlingException", "Too many requests"),
                eventstream_response(*converse_stream_events("ok")),
            ]
        )
        chunks = list(client().chat.completions.create(messages=MSGS, stream=True))
        assert route.call_count == 2
        route.mock(return_value=bedrock_error(403, "AccessDeniedException", "no access"))
        with pytest.raises(PermissionDeniedError, match="AccessDeniedException"):
            client().chat.completions.create(messages=MSGS, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "ok"


def test_type_in_the_body_is_read_too() -> None:
    reply = httpx.Response(
        400,
        json={"__type": "com.amazon.bedrock#ValidationException", "message": "Input is too long"},
    )
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(return_value=reply)
        with pytest.raises(ContextLengthExceededError, match="ValidationException"):
            client().chat.completions.create(messages=MSGS)


@pytest.mark.parametrize(
    ("first", "status"),
    [
        ("ModelNotReadyException", 429),
        ("ServiceUnavailableException", 503),
        ("ModelTimeoutException", 408),
    ],
)
def test_model_not_ready_and_unavailable_are_retried(first: str, status: int) -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(
            side_effect=[
                bedrock_error(status, first, "not yet"),
                httpx.Response(200, json=converse_answer()),
            ]
        )
        out = client().chat.completions.create(messages=MSGS)
    assert out.choices[0].message.content == "Hello!"
    assert route.call_count == 2


def test_on_demand_throughput_error_names_the_inference_profile() -> None:
    url = f"{BEDROCK_URL}/model/meta.llama3-3-70b-instruct-v1%3A0/converse"
    message = (
        "Invocation of model ID meta.llama3-3-70b-instruct-v1:0 with on-demand throughput isn't "
        "supported. Retry your request with the ID or ARN of an inference profile that contains "
        "this model."
    )
    with respx.mock() as mock:
        mock.post(url).mock(return_value=bedrock_error(400, "ValidationException", message))
        with pytest.raises(BadRequestError) as info:
            client().chat.completions.create(model="meta.llama3-3-70b-instruct-v1:0", messages=MSGS)
    assert "'us.meta.llama3-3-70b-instruct-v1:0'" in str(info.value)


def test_catalogue_uses_the_inference_profile_and_2048_caps() -> None:
    table = BedrockProvider().model_table()
    assert table["llama-3.3-70b-instruct"].id == "us.meta.llama3-3-70b-instruct-v1:0"
    assert table["llama-3.1-70b-instruct"].id == "meta.llama3-1-70b-instruct-v1:0"
    assert table["llama-3.2-3b-instruct"].id == "us.meta.llama3-2-3b-instruct-v1:0"
    assert {info.max_output for info in table.values()} == {2048}


def test_fallback_to_another_provider_stays_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_fallback")
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(
            return_value=bedrock_error(503, "ServiceUnavailableException", "x")
        )
        groq = mock.post("https://api.groq.com/openai/v1/chat/completions").mock(
            return_value=httpx.Response(200, json=TINY.completion("from groq"))
        )
        c = LlamaClient(provider=["bedrock", "groq"], model="llama-3.1-8b-instruct", max_retries=0)
        out = c.chat.completions.create(messages=MSGS)
    assert out.choices[0].message.content == "from groq"
    assert sent(groq)["model"] == "llama-3.1-8b-instant"


# -- streams --------------------------------------------------------------------------------


def test_stream_chunks() -> None:
    events = converse_stream_events(
        "Hel",
        "lo",
        tool=("tooluse_9", "get_weather", ['{"ci', 'ty": "Paris"}']),
        stop_reason="tool_use",
    )
    with respx.mock() as mock:
        route = mock.post(CONVERSE_STREAM).mock(return_value=eventstream_response(*events))
        chunks = list(
            client().chat.completions.create(messages=MSGS, tools=[get_weather], stream=True)
        )
    assert route.calls[0].request.headers["accept"] == "application/vnd.amazon.eventstream"
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {MODEL_ID}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "tooluse_9" and calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert (
        "".join(tc.function.arguments or "" for tc in calls if tc.function) == '{"city": "Paris"}'
    )
    finish = [c.choices[0] for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [(f.finish_reason, f.raw_finish_reason) for f in finish] == [("tool_calls", "tool_use")]  # type: ignore[attr-defined]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 15


def test_stream_manager_merges_the_final_completion() -> None:
    events = converse_stream_events("Sunny ", "today.", usage=(9, 3))
    with respx.mock() as mock:
        mock.post(CONVERSE_STREAM).mock(return_value=eventstream_response(*events))
        with client().chat.completions.stream(messages=MSGS) as stream:
            final = stream.get_final_completion()
    assert final.choices[0].message.content == "Sunny today."
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.prompt_tokens == 9


def test_stream_split_at_every_byte_decodes_the_same() -> None:
    body = b"".join(converse_stream_events("a", "b", "c"))
    with respx.mock() as mock:
        mock.post(CONVERSE_STREAM).mock(
            return_value=eventstream_response(*(body[i : i + 1] for i in range(len(body))))
        )
        chunks = list(client().chat.completions.create(messages=MSGS, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc"


def test_exception_event_is_a_stream_error_after_the_chunks_before_it() -> None:
    events = converse_stream_events("partial", usage=None)[:2]
    events.append(aws_exception("modelStreamErrorException", "the model failed"))
    with respx.mock() as mock:
        mock.post(CONVERSE_STREAM).mock(return_value=eventstream_response(*events))
        got: list[Any] = []
        with pytest.raises(StreamError, match="modelStreamErrorException: the model failed"):
            for c in client().chat.completions.create(messages=MSGS, stream=True):
                got.append(c)
    assert got[-1].choices[0].delta.content == "partial"


def test_stream_errors_never_repeat_the_session_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    events = [aws_exception("validationException", f"bad token {TOKEN}")]
    with respx.mock() as mock:
        mock.post(CONVERSE_STREAM).mock(return_value=eventstream_response(*events))
        with pytest.raises(StreamError) as info:
            list(client().chat.completions.create(messages=MSGS, stream=True))
    assert TOKEN not in str(info.value) and "validationException" in str(info.value)


@pytest.mark.parametrize("damage", ["crc", "truncated", "huge"])
def test_corrupt_event_stream_is_a_stream_error(damage: str) -> None:
    events = converse_stream_events("x")
    if damage == "crc":
        broken = bytearray(events[1])
        broken[-6] ^= 0x20
        events[1] = bytes(broken)
    elif damage == "truncated":
        events = [*events[:2], events[2][:10]]
    else:
        events.insert(1, (2**31).to_bytes(4, "big") + b"\0" * 12)
    with respx.mock() as mock:
        mock.post(CONVERSE_STREAM).mock(return_value=eventstream_response(*events))
        with pytest.raises(StreamError, match="event stream"):
            list(client().chat.completions.create(messages=MSGS, stream=True))


def test_unknown_message_type_shows_what_arrived() -> None:
    frame = eventstream_message({":message-type": "surprise"}, b"{}")
    with respx.mock() as mock:
        mock.post(CONVERSE_STREAM).mock(return_value=eventstream_response(frame))
        with pytest.raises(ResponseValidationError, match="surprise"):
            list(client().chat.completions.create(messages=MSGS, stream=True))


# -- the tool loop and parse() ----------------------------------------------------------------


def test_run_tools_round_trip() -> None:
    first = converse_answer(
        None, stop_reason="tool_use", tool_uses=[("tooluse_1", "get_weather", {"city": "Oslo"})]
    )
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(
            side_effect=[
                httpx.Response(200, json=first),
                httpx.Response(200, json=converse_answer("Sunny in Oslo.")),
            ]
        )
        result = client().chat.run_tools(messages=MSGS, tools=[get_weather])
    assert result.content == "Sunny in Oslo."
    second = sent(route, 1)
    assert second["messages"][1] == {
        "role": "assistant",
        "content": [
            {
                "toolUse": {
                    "toolUseId": "tooluse_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                }
            }
        ],
    }
    assert second["messages"][2]["role"] == "user"
    assert second["messages"][2]["content"][0]["toolResult"]["toolUseId"] == "tooluse_1"
    assert "sunny in Oslo" in json.dumps(second["messages"][2])
    assert second["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"


class City(BaseModel):
    name: str
    population: int


def test_parse_asks_for_the_schema_in_the_system_prompt() -> None:
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(
            return_value=httpx.Response(
                200, json=converse_answer('{"name": "Oslo", "population": 709000}')
            )
        )
        out = client().chat.completions.parse(messages=MSGS, response_format=City)
    assert out.choices[0].message.parsed == City(name="Oslo", population=709000)
    system = sent(route)["system"][-1]["text"]
    assert "JSON Schema" in system and '"population"' in system
    assert "response_format" not in sent(route)


# -- async ----------------------------------------------------------------------------------


async def test_async_create_and_stream_are_signed_and_decoded() -> None:
    with respx.mock() as mock:
        plain = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        mock.post(CONVERSE_STREAM).mock(
            return_value=eventstream_response(*converse_stream_events("as", "ync"))
        )
        async with AsyncLlamaClient(provider="bedrock", model="llama-3.1-8b-instruct") as c:
            out = await c.chat.completions.create(messages=MSGS)
            stream = await c.chat.completions.create(messages=MSGS, stream=True)
            text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert out.choices[0].message.content == "Hello!"
    assert text == "async"
    request = plain.calls[0].request
    assert request.headers["authorization"] == botocore_signature(
        request, Credentials(AKID, SECRET), "us-east-1"
    )


# -- the one path ---------------------------------------------------------------------------

#: the adapter, and the data tables keyed by provider name (model ids, prices)
ADAPTER = {
    "providers/bedrock.py",
    "providers/_converse.py",
    "providers/_catalog.py",
    "providers/_prices.py",
}
#: where the adapter is only registered or re-exported
REGISTRY = {"providers/_builtin.py", "providers/__init__.py"}


def test_no_bedrock_case_outside_its_adapter() -> None:
    """No code outside the adapter names Bedrock, Converse or event-stream (docstrings and
    comments may); the shared modules only call the provider hooks."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "llama_client"
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel in ADAPTER:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            words: list[str] = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in docstrings:
                    words.append(node.value)
            elif isinstance(node, ast.Name):
                words.append(node.id)
            elif isinstance(node, ast.Attribute):
                words.append(node.attr)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                words += [a.name for a in node.names] + [getattr(node, "module", "") or ""]
            for word in words:
                lower = word.lower()
                named = any(k in lower for k in ("bedrock", "converse", "eventstream", "sigv4"))
                if named and rel not in REGISTRY:
                    offenders.append(f"{rel}:{getattr(node, 'lineno', '?')}: {word[:60]!r}")
    assert not offenders, offenders


# -- the context pre-flight (#12) on a provider whose wire body is not OpenAI-shaped ---------


def test_context_preflight_reads_the_chat_body_not_the_converse_one() -> None:
    """The pre-flight counts the OpenAI-shaped messages and finds the window by the model,
    before the adapter turns them into Converse: ``max_tokens="auto"`` lands in
    ``inferenceConfig.maxTokens`` (capped by the catalogue's 2,048), and a prompt over the
    window is refused before any I/O."""
    pytest.importorskip("tiktoken")
    with respx.mock() as mock:
        route = mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client().chat.completions.create(messages=MSGS, max_tokens="auto")  # type: ignore[arg-type]
        assert sent(route)["inferenceConfig"]["maxTokens"] == 2048
        client().chat.completions.create(
            messages=MSGS,
            max_tokens="auto",  # type: ignore[arg-type]
            context_window=100,  # type: ignore[call-arg]
        )
        left = sent(route)["inferenceConfig"]["maxTokens"]
        assert 50 < left < 100  # the window minus the counted prompt
        with pytest.raises(ContextLengthExceededError) as info:
            client().chat.completions.create(
                messages=[{"role": "user", "content": "word " * 400}],
                max_tokens=16,
                context_window=128,  # type: ignore[call-arg]
            )
        assert info.value.response is None
        assert route.call_count == 2


def test_botocore_debug_log_of_the_signature_leaves_the_session_token_out(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore logs the canonical request it signs (session token header included) at
    DEBUG; with our signer that line shows ``***`` instead of the token."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG, logger="botocore.auth")
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(return_value=httpx.Response(200, json=converse_answer()))
        client().chat.completions.create(messages=MSGS)
    assert "CanonicalRequest" in caplog.text  # botocore did log it
    assert "x-amz-security-token:***" in caplog.text
    assert TOKEN not in caplog.text and SECRET not in caplog.text
