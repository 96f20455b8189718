"""Fallback between providers: the decisions (pure) and the sync/async shells (respx)."""

from __future__ import annotations

import httpx
import pytest
import respx

from llama_client import (
    APIConnectionError,
    AsyncLlamaClient,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidRequestError,
    LlamaClient,
    NotFoundError,
    RateLimitError,
    StreamError,
)
from llama_client.providers import Fallback, should_fall_over
from tests.unit.providers_support import MSGS, clear_env, instant_retries
from tests.wire import TINY, broken_stream_response, sent_json, sse, sse_response

GROQ = "https://api.groq.com/openai/v1/chat/completions"
TOGETHER = "https://api.together.xyz/v1/chat/completions"
FIREWORKS = "https://api.fireworks.ai/inference/v1/chat/completions"
ALIAS = "llama-3.1-8b-instruct"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)
    monkeypatch.setenv("GROQ_API_KEY", "gsk_g")
    monkeypatch.setenv("TOGETHER_API_KEY", "tk_t")
    monkeypatch.setenv("FIREWORKS_API_KEY", "fk_f")


def _client(clock: FakeClock | None = None, **kw: object) -> LlamaClient:
    return LlamaClient(
        provider=["groq", "together", "fireworks"],
        fallback=Fallback(cooldown=30, clock=clock or FakeClock()),
        **kw,  # type: ignore[arg-type]
    )


def _aclient(clock: FakeClock | None = None) -> AsyncLlamaClient:
    return AsyncLlamaClient(
        provider=["groq", "together", "fireworks"],
        fallback=Fallback(cooldown=30, clock=clock or FakeClock()),
    )


def _503() -> httpx.Response:
    return httpx.Response(503, json={"error": {"message": "overloaded"}})


# --------------------------------------------------------------------------- pure decisions


def test_should_fall_over_classes() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/x")

    def status(code: int, cls: type) -> object:
        return cls("e", response=httpx.Response(code, request=request), body=None)

    assert should_fall_over(APIConnectionError(request=request))
    assert should_fall_over(status(503, InternalServerError))  # type: ignore[arg-type]
    assert should_fall_over(status(429, RateLimitError))  # type: ignore[arg-type]
    assert should_fall_over(StreamError("broke"))
    assert not should_fall_over(status(400, BadRequestError))  # type: ignore[arg-type]
    assert not should_fall_over(status(401, AuthenticationError))  # type: ignore[arg-type]
    assert not should_fall_over(status(404, NotFoundError))  # type: ignore[arg-type]
    assert not should_fall_over(ValueError("x"))


def test_fallback_order_and_cooldown() -> None:
    clock = FakeClock()
    fb = Fallback(cooldown=10, clock=clock)
    names = ["a", "b", "c"]
    assert fb.order(names) == [0, 1, 2]
    assert fb.failed("a", StreamError("x")) is True
    clock.now += 1
    assert fb.failed("b", StreamError("x")) is True
    # cooling providers go last, the one available soonest first
    assert fb.order(names) == [2, 0, 1]
    assert set(fb.cooling_down()) == {"a", "b"}
    clock.now += 9.5  # a's cooldown is over, b's is not
    assert fb.order(names) == [0, 2, 1]
    fb.succeeded("b")
    assert fb.order(names) == [0, 1, 2]
    # a request error neither moves on nor cools down
    assert fb.failed("c", ValueError("bad")) is False
    assert fb.order(names) == [0, 1, 2]


def test_fallback_rejects_bad_cooldown() -> None:
    with pytest.raises(ValueError, match="cooldown"):
        Fallback(cooldown=-1)


def test_several_providers_refuse_a_shared_key_or_url() -> None:
    with pytest.raises(InvalidRequestError, match="own environment"):
        LlamaClient(provider=["groq", "together"], api_key="k")
    with pytest.raises(InvalidRequestError, match="once"):
        LlamaClient(provider=["groq", "groq"])


def test_llama_api_key_is_not_sent_to_fallback_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY")
    monkeypatch.setenv("LLAMA_API_KEY", "local-secret")
    with pytest.raises(InvalidRequestError, match="TOGETHER_API_KEY"):
        LlamaClient(provider=["groq", "together"])


# --------------------------------------------------------------------------- sync shell


def test_503_after_retries_falls_over_and_records_provider() -> None:
    with respx.mock(assert_all_called=False) as mock:
        groq = mock.post(GROQ).mock(return_value=_503())
        together = mock.post(TOGETHER).mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        fireworks = mock.post(FIREWORKS)
        r = _client().chat.completions.create(model=ALIAS, messages=MSGS)
    assert r.provider_name == "together"
    assert groq.call_count == 3  # its own retries first (max_retries=2)
    assert together.call_count == 1 and not fireworks.called
    # the alias is resolved per provider
    assert sent_json(groq)["model"] == "llama-3.1-8b-instant"
    assert sent_json(together)["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"
    assert together.calls.last.request.headers["authorization"] == "Bearer tk_t"


def test_dropped_connection_falls_over() -> None:
    with respx.mock() as mock:
        mock.post(GROQ).mock(side_effect=httpx.ConnectError("refused"))
        mock.post(TOGETHER).mock(side_effect=httpx.ReadTimeout("slow"))
        mock.post(FIREWORKS).mock(return_value=httpx.Response(200, json=TINY.completion()))
        r = _client(max_retries=0).chat.completions.create(model=ALIAS, messages=MSGS)
    assert r.provider_name == "fireworks"


def test_429_falls_over() -> None:
    with respx.mock() as mock:
        mock.post(GROQ).mock(
            return_value=httpx.Response(429, json={"error": {"message": "slow down"}})
        )
        mock.post(TOGETHER).mock(return_value=httpx.Response(200, json=TINY.completion()))
        r = _client(max_retries=0).chat.completions.create(model=ALIAS, messages=MSGS)
    assert r.provider_name == "together"


def test_no_fallback_on_400() -> None:
    with respx.mock(assert_all_called=False) as mock:
        groq = mock.post(GROQ).mock(
            return_value=httpx.Response(400, json={"error": {"message": "bad request"}})
        )
        together = mock.post(TOGETHER)
        client = _client()
        with pytest.raises(BadRequestError):
            client.chat.completions.create(model=ALIAS, messages=MSGS)
    assert groq.call_count == 1 and not together.called
    assert client._fallback.cooling_down() == {}


def test_all_fail_raises_the_last_error() -> None:
    with respx.mock() as mock:
        mock.post(GROQ).mock(return_value=_503())
        mock.post(TOGETHER).mock(return_value=_503())
        mock.post(FIREWORKS).mock(side_effect=httpx.ConnectError("down"))
        with pytest.raises(APIConnectionError):
            _client(max_retries=0).chat.completions.create(model=ALIAS, messages=MSGS)


def test_cooldown_skips_a_failed_provider_until_it_expires() -> None:
    clock = FakeClock()
    with respx.mock() as mock:
        groq = mock.post(GROQ).mock(return_value=_503())
        together = mock.post(TOGETHER).mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        client = _client(clock, max_retries=0)
        client.chat.completions.create(model=ALIAS, messages=MSGS)
        assert groq.call_count == 1
        clock.now += 10
        r = client.chat.completions.create(model=ALIAS, messages=MSGS)
        assert r.provider_name == "together" and groq.call_count == 1  # cooling down
        clock.now += 25
        groq.mock(return_value=httpx.Response(200, json=TINY.completion()))
        r = client.chat.completions.create(model=ALIAS, messages=MSGS)
    assert r.provider_name == "groq" and groq.call_count == 2
    assert together.call_count == 2


def test_provider_that_does_not_offer_the_model_is_skipped() -> None:
    with respx.mock(assert_all_called=False) as mock:
        groq = mock.post(GROQ)
        together = mock.post(TOGETHER).mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        r = _client().chat.completions.create(model="llama-3.1-405b-instruct", messages=MSGS)
    assert r.provider_name == "together" and not groq.called
    assert sent_json(together)["model"] == "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo"


def test_model_no_provider_offers_fails_before_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_LLAMA_API_KEY", "meta-key")  # Meta's own variable
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        client = LlamaClient(provider=["groq", "meta"])
        with pytest.raises(InvalidRequestError, match="does not offer"):
            client.chat.completions.create(model="llama-3.2-1b-instruct", messages=MSGS)
    assert not route.called


def test_raw_response_records_provider() -> None:
    with respx.mock() as mock:
        mock.post(GROQ).mock(return_value=_503())
        mock.post(TOGETHER).mock(return_value=httpx.Response(200, json=TINY.completion()))
        raw = _client(max_retries=0).chat.completions.with_raw_response.create(
            model=ALIAS, messages=MSGS
        )
    assert raw.provider_name == "together" and raw.parse().provider_name == "together"


def test_stream_falls_over_before_the_first_chunk() -> None:
    with respx.mock() as mock:
        mock.post(GROQ).mock(return_value=broken_stream_response())
        mock.post(TOGETHER).mock(
            return_value=sse_response(sse(TINY.text_chunk("Hi"), TINY.text_chunk("!", "eos")))
        )
        stream = _client(max_retries=0).chat.completions.create(
            model=ALIAS, messages=MSGS, stream=True
        )
        texts = [c.choices[0].delta.content for c in stream]
    assert stream.provider_name == "together"
    assert texts == ["Hi", "!"]


def test_stream_error_event_before_first_chunk_falls_over_in_stream_helper() -> None:
    error = sse({"error": {"message": "upstream", "code": 502}}, done=False)
    with respx.mock() as mock:
        mock.post(GROQ).mock(return_value=sse_response(error))
        mock.post(TOGETHER).mock(return_value=_503())
        mock.post(FIREWORKS).mock(return_value=sse_response(sse(TINY.text_chunk("ok", "stop"))))
        with _client(max_retries=0).chat.completions.stream(model=ALIAS, messages=MSGS) as s:
            final = s.get_final_completion()
    assert final.provider_name == "fireworks" and final.choices[0].message.content == "ok"


def test_stream_never_falls_over_after_the_first_chunk() -> None:
    first = sse(TINY.text_chunk("Hel"), done=False)
    with respx.mock(assert_all_called=False) as mock:
        mock.post(GROQ).mock(return_value=broken_stream_response(first))
        together = mock.post(TOGETHER)
        stream = _client(max_retries=0).chat.completions.create(
            model=ALIAS, messages=MSGS, stream=True
        )
        got = next(stream)
        with pytest.raises(StreamError, match="broke"):
            next(stream)
    assert got.choices[0].delta.content == "Hel"
    assert stream.provider_name == "groq" and not together.called


# --------------------------------------------------------------------------- async shell


async def test_async_503_falls_over() -> None:
    with respx.mock() as mock:
        groq = mock.post(GROQ).mock(return_value=_503())
        mock.post(TOGETHER).mock(return_value=httpx.Response(200, json=TINY.completion()))
        r = await _aclient().chat.completions.create(model=ALIAS, messages=MSGS)
    assert r.provider_name == "together" and groq.call_count == 3


async def test_async_no_fallback_on_400() -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.post(GROQ).mock(return_value=httpx.Response(400, json={"error": {"message": "no"}}))
        together = mock.post(TOGETHER)
        with pytest.raises(BadRequestError):
            await _aclient().chat.completions.create(model=ALIAS, messages=MSGS)
    assert not together.called


async def test_async_cooldown() -> None:
    clock = FakeClock()
    with respx.mock() as mock:
        groq = mock.post(GROQ).mock(side_effect=httpx.ConnectError("down"))
        mock.post(TOGETHER).mock(return_value=httpx.Response(200, json=TINY.completion()))
        client = _aclient(clock)
        await client.chat.completions.create(model=ALIAS, messages=MSGS)
        calls = groq.call_count
        await client.chat.completions.create(model=ALIAS, messages=MSGS)
        assert groq.call_count == calls
        clock.now += 31
        await client.chat.completions.create(model=ALIAS, messages=MSGS)
    assert groq.call_count > calls


async def test_async_stream_falls_over_before_first_chunk_only() -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.post(GROQ).mock(return_value=broken_stream_response())
        mock.post(TOGETHER).mock(
            return_value=broken_stream_response(sse(TINY.text_chunk("a"), done=False))
        )
        fireworks = mock.post(FIREWORKS)
        client = _aclient()
        async with client.chat.completions.stream(model=ALIAS, messages=MSGS) as s:
            assert s.provider_name == "together"
            with pytest.raises(StreamError):
                await s.get_final_completion()
    assert not fireworks.called
