"""Each public name has one home and its old import paths still work (issue #9)."""

from __future__ import annotations

import llama_client
import llama_client._ratelimit
import llama_client.providers
import llama_client.types
from llama_client.types.ratelimit import RateLimitInfo


def test_rate_limit_info_lives_with_the_result_types() -> None:
    assert RateLimitInfo.__module__ == "llama_client.types.ratelimit"
    assert "RateLimitInfo" in llama_client.__all__
    assert "RateLimitInfo" in llama_client.types.__all__
    for where in (
        llama_client,
        llama_client.types,
        llama_client._ratelimit,
        llama_client.providers,
    ):
        assert where.RateLimitInfo is RateLimitInfo, where
    info = llama_client._ratelimit.parse_rate_limit({"x-ratelimit-remaining-requests": "7"})
    assert isinstance(info, RateLimitInfo) and info.remaining_requests == 7


def test_usage_addition_json_default_and_validation_messages_exist_once() -> None:
    import json
    import re
    from pathlib import Path

    import pydantic
    import pytest

    from llama_client._error_parsing import validation_problems
    from llama_client._json import json_default, text_default
    from llama_client.types.chat import Usage, add_usage

    assert add_usage(
        Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
        Usage(prompt_tokens=10, completion_tokens=20, total_tokens=30),
    ) == Usage(prompt_tokens=11, completion_tokens=22, total_tokens=33)

    body = {"m": Usage(prompt_tokens=1), "t": (1, 2)}
    assert json.loads(json.dumps(body, default=json_default))["t"] == [1, 2]
    with pytest.raises(TypeError):
        json.dumps({"x": object()}, default=json_default)
    assert json.dumps({"x": 1j}, default=text_default) == '{"x": "1j"}'

    class M(pydantic.BaseModel):
        a: int
        b: int

    with pytest.raises(pydantic.ValidationError) as info:
        M.model_validate({"a": "x", "b": "y"})
    assert validation_problems(info.value, limit=1) == [
        "a: Input should be a valid integer, unable to parse string as an integer",
        "and 1 more",
    ]

    # no second copy left in the package (the generated _sync twins excepted)
    root = Path(llama_client.__file__).parent
    for path in root.rglob("*.py"):
        if "_sync" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "def _json_default" not in text and "default=str" not in text, path
        assert not re.search(r"prompt_tokens=\w+\.prompt_tokens \+", text) or path.name == "chat.py"
        if path.name != "_error_parsing.py":
            assert 'error["loc"]' not in text, path


def test_accepted_chat_params_are_the_typeddicts_keys() -> None:
    from llama_client._validation import CHAT_PARAMS, REQUEST_OPTIONS
    from llama_client.types.params import ChatCompletionParams, RequestOptions

    declared = set(ChatCompletionParams.__annotations__)
    assert set(RequestOptions.__annotations__) == REQUEST_OPTIONS
    read_never_sent = {"parse_tool_calls", "check_context", "context_window", "control_tokens"}
    assert declared - REQUEST_OPTIONS - CHAT_PARAMS == read_never_sent
    assert declared >= CHAT_PARAMS
    assert {"temperature", "tools", "response_format", "top_logprobs"} <= CHAT_PARAMS
