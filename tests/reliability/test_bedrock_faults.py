"""Bedrock over a real socket (the fault server on 127.0.0.1), for the sync, async and aiohttp
clients: SigV4 on every retried attempt, the binary event-stream cut at any byte, broken and
failing streams; framing time linear in the stream. Event-stream frames come from ``tests/wire.py`` (see the docstring of
``tests/unit/test_bedrock.py`` for why they are built there and how botocore checks them).
"""

from __future__ import annotations

import datetime
import itertools
import json
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from llama_client import APIError, RateLimitError, StreamError
from llama_client.providers import BedrockProvider
from tests.faultserver import FaultServer, RecordedRequest, respond, sse_stream
from tests.reliability.test_parser_bounds import assert_linear
from tests.unit.providers_support import clear_env, instant_retries
from tests.wire import aws_event, aws_exception, converse_answer, converse_stream_events

AKID = "AKIDFAULTSERVER0001"
SECRET = "faultserverSecretAccessKey0123456789abcd"
EVENTSTREAM = "application/vnd.amazon.eventstream"
START = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    seconds = itertools.count()  # a clock that moves a second per signature
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime",
        lambda: START + datetime.timedelta(seconds=next(seconds)),
    )


def bedrock(make: Any) -> Any:
    return make(
        provider=BedrockProvider(region="eu-west-1"), api_key=None, model="llama-3.1-8b-instruct"
    )


def verify(recorded: RecordedRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded request's signature is the one botocore computes for those bytes."""
    when = datetime.datetime.strptime(recorded.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=datetime.timezone.utc)
    )
    aws = AWSRequest(
        method=recorded.method,
        url=f"http://{recorded.headers['host']}{recorded.path}",
        data=recorded.body,
        headers={
            "Host": recorded.headers["host"],
            "Content-Type": recorded.headers["content-type"],
        },
    )
    SigV4Auth(Credentials(AKID, SECRET), "bedrock", "eu-west-1").add_auth(aws)
    assert recorded.headers["authorization"] == aws.headers["Authorization"]


def throttled() -> Any:
    return respond(
        429,
        {"message": "Too many requests"},
        headers={"x-amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/coral/"},
    )


def test_each_retry_is_signed_afresh_over_the_same_body(
    make: Any, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script(throttled(), throttled(), respond(200, converse_answer("signed")))
    out = bedrock(make).create(max_tokens=16)
    assert out.choices[0].message.content == "signed"
    assert server.attempts == 3
    assert len(set(server.bodies)) == 1
    assert json.loads(server.bodies[0])["inferenceConfig"] == {"maxTokens": 16}
    requests = server.requests
    assert requests[0].path == "/v1/model/meta.llama3-1-8b-instruct-v1%3A0/converse"
    assert len({r.headers["x-amz-date"] for r in requests}) == 3
    for recorded in requests:
        verify(recorded, monkeypatch)


def test_throttling_that_persists_is_a_rate_limit_error(make: Any, server: FaultServer) -> None:
    server.script(throttled())
    with pytest.raises(RateLimitError, match="ThrottlingException"):
        bedrock(make).create()
    assert server.attempts == 3  # max_retries=2


@pytest.mark.parametrize("size", [1, 7, 64])
def test_event_stream_in_pieces_of_any_size(make: Any, server: FaultServer, size: int) -> None:
    body = b"".join(converse_stream_events("Bon", "jour", usage=(5, 2)))
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    server.script(sse_stream(pieces, content_type=EVENTSTREAM))
    chunks, error = bedrock(make).stream()
    assert error is None
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Bonjour"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7
    assert server.requests[0].path.endswith("/converse-stream")


def test_connection_lost_mid_message_is_an_error(make: Any, server: FaultServer) -> None:
    body = b"".join(converse_stream_events("never", "ends"))
    server.script(sse_stream([body[:40], body[40:90]], drop_after=2, content_type=EVENTSTREAM))
    chunks, error = bedrock(make).stream()
    assert isinstance(error, APIError)
    assert len(chunks) <= 1


def test_exception_event_mid_stream(make: Any, server: FaultServer) -> None:
    events = converse_stream_events("half", usage=None)[:2]
    events.append(aws_exception("throttlingException", "slow down"))
    server.script(sse_stream(events, content_type=EVENTSTREAM))
    chunks, error = bedrock(make).stream()
    assert isinstance(error, StreamError)
    assert "throttlingException: slow down" in str(error)
    assert [c.choices[0].delta.content for c in chunks if c.choices][-1] == "half"


def _framer() -> Any:
    from llama_client.providers._converse import StreamEvents
    from llama_client.providers.bedrock import EventStreamFramer

    return EventStreamFramer(StreamEvents("m"))


def test_framing_one_huge_message_in_small_reads_is_linear() -> None:
    def run(size: int) -> None:
        body = aws_event(
            "contentBlockDelta", {"delta": {"text": "x" * size}, "contentBlockIndex": 0}
        )
        framer = _framer()
        events = []
        for i in range(0, len(body), 64):
            events += framer.feed(body[i : i + 64])
        assert len(events) == 1

    assert_linear(run, "one event-stream message in 64-byte reads")


def test_framing_many_small_messages_in_one_read_is_linear() -> None:
    one = aws_event("contentBlockDelta", {"delta": {"text": "ab"}, "contentBlockIndex": 0})

    def run(size: int) -> None:
        count = size // len(one)
        assert len(_framer().feed(one * count)) == count

    assert_linear(run, "many event-stream messages in one read")
