from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

import llama_client
from llama_client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContextLengthExceededError,
    InternalServerError,
    LlamaClient,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from llama_client.errors import error_info
from tests.wire import BASE_URL

MSGS = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("body", "message", "etype", "code", "param"),
    [
        (  # vLLM
            {
                "error": {
                    "message": "bad",
                    "type": "BadRequestError",
                    "param": "max_tokens",
                    "code": 400,
                }
            },
            "bad",
            "BadRequestError",
            400,
            "max_tokens",
        ),
        (  # OpenAI style, string code
            {
                "error": {
                    "message": "m",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "context_length_exceeded",
                }
            },
            "m",
            "invalid_request_error",
            "context_length_exceeded",
            None,
        ),
        ({"error": "Unauthorized"}, "Unauthorized", None, None, None),  # vLLM 401
        ({"detail": "Not Found"}, "Not Found", None, None, None),  # FastAPI
        ({"message": "Too many requests"}, "Too many requests", None, None, None),
        (
            {"error": "Input validation error", "error_type": "validation"},
            "Input validation error",
            "validation",
            None,
            None,
        ),  # TGI
        (
            {"detail": [{"loc": ["body", "messages"], "msg": "Field required"}]},
            None,
            None,
            None,
            None,
        ),
        ("Internal Server Error", "Internal Server Error", None, None, None),  # plain text
    ],
)
def test_error_info_reads_every_shape(
    body: Any, message: str | None, etype: str | None, code: Any, param: str | None
) -> None:
    info = error_info(body, 500)
    if message is not None:
        assert info.message == message
    else:
        assert "Field required" in info.message
    assert (info.type, info.code, info.param) == (etype, code, param)


@pytest.mark.parametrize("body", [None, "", b"", [], {"unexpected": True}, 42])
def test_error_info_never_raises_and_is_readable(body: Any) -> None:
    info = error_info(body, 502)
    assert isinstance(info.message, str) and info.message


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
@respx.mock
def test_status_maps_to_class(status: int, cls: type[APIStatusError], sleeps: list[float]) -> None:
    respx.post(f"{BASE_URL}/chat/completions").respond(
        status,
        json={"error": {"message": f"boom {status}", "type": "x", "code": status}},
        headers={"x-request-id": "req-123"},
    )
    client = LlamaClient(base_url=BASE_URL, model="m", max_retries=0)
    with pytest.raises(cls) as info:
        client.chat.completions.create(messages=MSGS)
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.request_id == "req-123"
    assert exc.code == status
    assert f"boom {status}" in str(exc)
    assert exc.body == {"error": {"message": f"boom {status}", "type": "x", "code": status}}


CONTEXT_BODIES = [
    # vLLM 0.32 (servers.md §2.7)
    {
        "error": {
            "message": "This model's maximum context length is 2048 tokens. However, your prompt contains at least 2049 input tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=2049)",
            "type": "BadRequestError",
            "param": "input_tokens",
            "code": 400,
        }
    },
    # llama.cpp llama-server (servers.md §3.6)
    {
        "error": {
            "code": 400,
            "message": "request (10035 tokens) exceeds the available context size (4096 tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 10035,
            "n_ctx": 4096,
        }
    },
    # llama-cpp-python (servers.md §4)
    {
        "error": {
            "message": "This model's maximum context length is 4096 tokens. However, you requested 10043 tokens (10035 in the messages, 8 in the completion).",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
    # TGI
    {
        "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 5000 `inputs` tokens and 20 `max_new_tokens`",
        "error_type": "validation",
    },
]


@pytest.mark.parametrize("body", CONTEXT_BODIES)
@respx.mock
def test_context_length_exceeded_is_recognised(body: dict[str, Any]) -> None:
    status = 422 if body.get("error_type") == "validation" else 400
    respx.post(f"{BASE_URL}/chat/completions").respond(status, json=body)
    client = LlamaClient(base_url=BASE_URL, model="m")
    with pytest.raises(ContextLengthExceededError) as info:
        client.chat.completions.create(messages=MSGS)
    assert isinstance(info.value, BadRequestError)
    assert respx.calls.call_count == 1  # never retried


@respx.mock
def test_other_bad_request_is_not_context_error() -> None:
    respx.post(f"{BASE_URL}/chat/completions").respond(
        400,
        json={
            "error": {
                "message": "max_tokens=4096 cannot be greater than max_model_len=2048. Please request fewer output tokens.",
                "type": "BadRequestError",
                "param": "max_tokens",
                "code": 400,
            }
        },
    )
    with pytest.raises(BadRequestError) as info:
        LlamaClient(base_url=BASE_URL, model="m").chat.completions.create(messages=MSGS)
    assert not isinstance(info.value, ContextLengthExceededError)
    assert info.value.param == "max_tokens"


@respx.mock
def test_plain_text_error_body_is_shown() -> None:
    respx.post(f"{BASE_URL}/chat/completions").respond(500, text="Internal Server Error")
    with pytest.raises(InternalServerError, match="Internal Server Error"):
        LlamaClient(base_url=BASE_URL, model="m", max_retries=0).chat.completions.create(
            messages=MSGS
        )


@respx.mock
def test_empty_error_body_still_has_a_message() -> None:
    respx.post(f"{BASE_URL}/chat/completions").respond(502)
    with pytest.raises(InternalServerError, match="502"):
        LlamaClient(base_url=BASE_URL, model="m", max_retries=0).chat.completions.create(
            messages=MSGS
        )


def test_every_error_is_exported_and_in_all() -> None:
    for name in llama_client.errors.__all__:
        assert getattr(llama_client, name) is getattr(llama_client.errors, name)
        assert name in llama_client.__all__


def test_hierarchy() -> None:
    from llama_client import errors as e

    assert issubclass(e.ContextLengthExceededError, e.BadRequestError)
    assert issubclass(e.APITimeoutError, e.APIConnectionError)
    assert issubclass(e.APIConnectionError, e.APIError)
    assert issubclass(e.APIStatusError, e.APIError)
    assert issubclass(e.StreamError, e.APIError)
    assert issubclass(e.ResponseValidationError, e.APIError)
    assert issubclass(e.APIError, e.LlamaClientError)
    assert issubclass(e.InvalidRequestError, ValueError)


def test_rate_limit_error_carries_retry_after() -> None:
    request = httpx.Request("POST", f"{BASE_URL}/chat/completions")
    response = httpx.Response(
        429, headers={"retry-after": "7"}, json={"error": "slow down"}, request=request
    )
    from llama_client._transport import raise_for_status

    with pytest.raises(RateLimitError) as info:
        raise_for_status(response)
    assert info.value.retry_after == 7.0
