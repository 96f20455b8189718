"""AWS Bedrock (Converse API): the adapter for a provider that is not OpenAI-compatible.

Everything Bedrock-specific lives here and in :mod:`._converse` (the pure shape mapping); the
one request path only calls the :class:`~llama_client.providers.Provider` hooks:

* ``prepare()`` — the Converse body, and the path ``/model/<id>/converse`` (or
  ``/converse-stream``) through :attr:`Prepared.path`;
* :meth:`BedrockProvider.request_signer` — SigV4 with botocore's signer and credential chain
  (environment, profile, container/instance roles, session tokens, refreshed before they
  expire), run by the sender on every attempt after the body is final; or nothing when a
  Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``) goes as ``Authorization: Bearer``;
* :meth:`BedrockProvider.parse_completion` — a Converse answer read as a ChatCompletion;
* :meth:`BedrockProvider.stream_framer` — ConverseStream's binary AWS event-stream, framed by
  botocore's decoder, turned into the chunk events the shared decoder reads;
* :meth:`BedrockProvider.classify_error` — ``x-amzn-ErrorType`` / ``__type`` to our errors.

botocore is the optional extra ``llama-client[bedrock]``, imported when a Bedrock endpoint is
set up (never by ``import llama_client``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

from .._error_parsing import error_info, preview
from .._sse import ServerSentEvent
from ..errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    StreamError,
    UnsupportedParameterError,
)
from .base import Prepared, Provider, ProviderOptions, Signer, UnsupportedPolicy

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel
    from typing_extensions import Unpack

    from ._converse import StreamEvents

__all__ = ["BedrockProvider", "EventStreamFramer", "SigV4Signer"]

M = TypeVar("M", bound="BaseModel")

_EXTRA = "pip install 'llama-client[bedrock]'"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_HOST_REGION = re.compile(r"^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com", re.I)
#: The headers SigV4 adds to a request (set afresh on every attempt).
_SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
_TOKEN_LINE = re.compile(r"(?im)^(x-amz-security-token:).*$")


class _HideSessionToken(logging.Filter):
    """botocore's signer logs each canonical request at DEBUG (``botocore.auth``), the
    session token's header line included; this filter leaves the token out of those records.
    Installed once, on that logger only, when a signer is made."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("CanonicalRequest"):
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _TOKEN_LINE.sub(r"\1***", a) if isinstance(a, str) else a for a in args
            )
        return True


_HIDE_TOKEN = _HideSessionToken()
#: botocore's own limits for one event-stream message (prelude + headers + payload + CRC).
_MAX_MESSAGE = 16 * 1024 * 1024 + 128 * 1024 + 16
#: stopReason values beyond the ones every provider maps (end_turn, tool_use, max_tokens...).
_STOP_REASONS = {
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "model_context_window_exceeded": "length",
}
_AUTH_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
    }
)
#: Inference-profile prefixes by region group (cross-region inference).
_PROFILE_PREFIXES = (("us-gov-", "us-gov."), ("us-", "us."), ("eu-", "eu."), ("ap-", "apac."))


def _require_botocore() -> None:
    try:
        import botocore.eventstream  # noqa: F401
    except ImportError:
        raise ImportError(
            f"provider 'bedrock' needs botocore (SigV4 signing, event-stream decoding): {_EXTRA}"
        ) from None


def _check_region(region: str, source: str) -> str:
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise InvalidRequestError(
            "region",
            f"{source} must be an AWS region like 'us-east-1', got {preview(str(region), 40)!r}",
        )
    return region


def _model_of(request: httpx.Request) -> str:
    """The model id in a Converse request's path (``/model/<id>/converse``)."""
    parts = request.url.raw_path.decode("ascii", "replace").split("?")[0].split("/")
    if "model" in parts:
        i = parts.index("model")
        if i + 1 < len(parts):
            return unquote(parts[i + 1])
    return ""


class SigV4Signer:
    """Signs each attempt of a request with AWS SigV4 (botocore's ``SigV4Auth``).

    Credentials come from botocore's chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
    / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` or ``profile=``, SSO, container and instance
    roles), found on the first signing (the chain may ask the instance metadata service, so
    not when the client is built) and refreshed by botocore before they expire. The signature
    covers the method, path, host, content type and the exact bytes of the final body. Never
    shows a credential in its repr or its errors.
    """

    __slots__ = ("_credentials", "_lock", "_profile", "region", "service")

    def __init__(
        self,
        region: str,
        *,
        service: str = "bedrock",
        profile: str | None = None,
        credentials: object | None = None,
    ) -> None:
        _require_botocore()
        auth_log = logging.getLogger("botocore.auth")
        if _HIDE_TOKEN not in auth_log.filters:
            auth_log.addFilter(_HIDE_TOKEN)
        self.region = region
        self.service = service
        self._profile = profile
        #: botocore credentials (resolved on first use unless given)
        self._credentials = credentials
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SigV4Signer service={self.service!r} region={self.region!r}>"

    def _frozen(self) -> Any:
        from botocore.exceptions import BotoCoreError

        creds: Any = self._credentials
        if creds is None:
            with self._lock:
                if self._credentials is None:
                    import botocore.session

                    try:
                        found = botocore.session.Session(profile=self._profile).get_credentials()
                    except BotoCoreError as exc:
                        raise InvalidRequestError(
                            "credentials",
                            f"AWS credentials could not be loaded ({type(exc).__name__}: "
                            f"{preview(str(exc), 200)})",
                        ) from None
                    if found is None:
                        raise InvalidRequestError(
                            "api_key",
                            "provider 'bedrock' found no AWS credentials: set "
                            "AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key), or AWS credentials "
                            "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a "
                            "role of the machine)",
                        )
                    self._credentials = found
                creds = self._credentials
        try:
            return creds.get_frozen_credentials()
        except BotoCoreError as exc:  # refreshing expiring credentials failed
            raise APIConnectionError(
                f"Refreshing the AWS credentials failed ({type(exc).__name__})"
            ) from None

    def __call__(self, request: httpx.Request) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        frozen = self._frozen()
        headers = {"Host": request.headers["host"]}
        content_type = request.headers.get("content-type")
        if content_type is not None:
            headers["Content-Type"] = content_type
        aws = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        SigV4Auth(frozen, self.service, self.region).add_auth(aws)
        for name in _SIGNATURE_HEADERS:
            value = aws.headers.get(name)
            if value is None:
                request.headers.pop(name, None)
            else:
                request.headers[name] = value


class EventStreamFramer:
    """ConverseStream bytes in, chunk events out (a :class:`~.base.Framer`).

    Messages are cut at their length prefix (linear in the stream, whatever the read sizes;
    one message at most botocore's 16 MiB payload limit) and each complete message is decoded
    by botocore's ``EventStreamBuffer``, which checks both CRCs. Events become OpenAI chunks
    (:class:`._converse.StreamEvents`), exception messages ``error`` events (the shared decoder
    raises :class:`StreamError` for them), and the final ``metadata`` event ends the stream.
    """

    __slots__ = ("_buf", "_events", "_messages")

    def __init__(self, events: StreamEvents) -> None:
        self._events = events
        self._buf = bytearray()
        self._messages = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        from botocore.eventstream import EventStreamBuffer, ParserError

        buf = self._buf
        buf += chunk
        out: list[ServerSentEvent] = []
        pos = 0
        while len(buf) - pos >= 4:
            total = int.from_bytes(buf[pos : pos + 4], "big")
            if total < 16 or total > _MAX_MESSAGE:
                raise StreamError(
                    f"The Bedrock event stream is corrupt after {self._messages} messages: "
                    f"a message claims {total} bytes"
                )
            if len(buf) - pos < total:
                break
            parser = EventStreamBuffer()
            parser.add_data(bytes(buf[pos : pos + total]))
            pos += total
            try:
                message = parser.next()
            except (ParserError, StopIteration) as exc:
                raise StreamError(
                    f"The Bedrock event stream is corrupt after {self._messages} messages: "
                    f"{type(exc).__name__} {preview(str(exc), 200)}"
                ) from None
            self._messages += 1
            out.extend(self._convert(message.headers, message.payload))
        del buf[:pos]
        return out

    def flush(self) -> list[ServerSentEvent]:
        if self._buf and not self._events.done:
            raise StreamError(
                f"The Bedrock event stream ended inside a message, after {self._messages} "
                f"messages ({len(self._buf)} bytes of an incomplete one)"
            )
        return []

    def _convert(self, headers: Mapping[str, Any], payload: bytes) -> list[ServerSentEvent]:
        kind = headers.get(":message-type")
        if kind == "event":
            event = str(headers.get(":event-type"))
            chunk = self._events.event(event, _payload(payload, event))
            out = [ServerSentEvent(json.dumps(chunk))] if chunk is not None else []
            if self._events.done:
                out.append(ServerSentEvent("[DONE]"))
            return out
        if kind == "exception":
            name = str(headers.get(":exception-type") or "exception")
            body = _payload(payload, name, strict=False)
            text = body.get("message") if isinstance(body, Mapping) else None
            message = str(text if text is not None else preview(payload.decode("utf-8", "replace")))
        elif kind == "error":
            name = str(headers.get(":error-code") or "error")
            message = str(headers.get(":error-message") or "")
        else:
            raise ResponseValidationError(
                f"The Bedrock event stream sent a message of type {preview(str(kind), 60)!r}",
                body={k: str(v) for k, v in headers.items()},
            )
        error = {"error": {"message": f"{name}: {message}", "type": name, "code": name}}
        return [ServerSentEvent(json.dumps(error), event="error")]


def _payload(payload: bytes, event: str, *, strict: bool = True) -> object:
    try:
        return json.loads(payload) if payload else {}
    except (ValueError, RecursionError):
        if not strict:
            return None
        raise ResponseValidationError(
            f"A Bedrock {event} event is not JSON: {preview(payload.decode('utf-8', 'replace'))}",
            body=payload.decode("utf-8", "replace"),
        ) from None


class BedrockProvider(Provider):
    """AWS Bedrock's Converse API (``provider="bedrock"``).

    ``region`` (else ``AWS_REGION``, then ``AWS_DEFAULT_REGION``) picks
    ``https://bedrock-runtime.<region>.amazonaws.com``; ``profile`` an AWS profile for SigV4
    (else botocore's default chain, ``AWS_PROFILE`` included); ``credentials`` botocore
    credentials to sign with instead (``boto3.Session(...).get_credentials()``: an assumed
    role's refreshable credentials, say). ``additional_fields`` maps body
    parameters the model accepts beyond ``inferenceConfig`` to their
    ``additionalModelRequestFields`` names (none for Llama: every other parameter follows
    ``unsupported=``).
    """

    name = "bedrock"
    semconv_name = "aws.bedrock"
    #: the address for a region (``region``, else ``AWS_REGION``): see :meth:`default_base_url`
    base_url = "https://bedrock-runtime.{region}.amazonaws.com"
    base_url_env = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",)
    api_key_env = ("AWS_BEARER_TOKEN_BEDROCK",)
    self_hosted = False
    stream_options = False
    max_n = 1
    # Llama on Bedrock takes no toolChoice: only the implicit "auto".
    tool_choice_values = frozenset({"auto"})
    named_tool_choice = False
    notes = (
        "Converse API, not OpenAI-compatible: SigV4 (AWS credentials) or a Bedrock API key "
        "(AWS_BEARER_TOKEN_BEDROCK); region from AWS_REGION; output capped at 2048 tokens. "
        "Needs llama-client[bedrock]."
    )

    region: str | None = None
    profile: str | None = None
    #: botocore credentials (anything with ``get_frozen_credentials()``); None = the chain
    credentials: object | None = None
    additional_fields: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        credentials: object | None = None,
        additional_fields: Mapping[str, str] | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        if region is not None:
            self.region = _check_region(region, "region")
        if credentials is not None and not callable(
            getattr(credentials, "get_frozen_credentials", None)
        ):
            raise InvalidRequestError(
                "credentials", "must be botocore credentials (with get_frozen_credentials())"
            )
        self.profile = profile
        self.credentials = credentials
        self.additional_fields = dict(additional_fields or {})

    def __repr__(self) -> str:
        return f"<Provider {self.name!r} region={self.region or '(from AWS_REGION)'}>"

    # -- connection -----------------------------------------------------------------------------

    def _region(self, env: Mapping[str, str], base_url: str | None = None) -> str | None:
        if self.region:
            return self.region
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if env.get(name):
                return _check_region(env[name], f"the environment variable {name}")
        if base_url:
            from urllib.parse import urlsplit

            found = _HOST_REGION.match(urlsplit(base_url).hostname or "")
            if found:
                return found.group(1).lower()
        return None

    def default_base_url(self, env: Mapping[str, str]) -> str | None:
        region = self._region(env)
        if region is None:
            raise InvalidRequestError(
                "region",
                "provider 'bedrock' needs an AWS region: set AWS_REGION or use "
                "BedrockProvider(region='us-east-1')",
            )
        return (self.base_url or type(self).base_url or "").format(region=region)

    def request_signer(
        self, api_key: str | None, base_url: str, env: Mapping[str, str]
    ) -> Signer | None:
        _require_botocore()  # also decodes the event stream, whichever auth is used
        if api_key:
            return None  # a Bedrock API key: Authorization: Bearer, no signing
        region = self._region(env, base_url)
        if region is None:
            raise InvalidRequestError(
                "region",
                "SigV4 signing needs the AWS region: set AWS_REGION or use "
                "BedrockProvider(region=...)",
            )
        return SigV4Signer(region, profile=self.profile, credentials=self.credentials)

    # -- request --------------------------------------------------------------------------------

    def prepare(
        self,
        body: Mapping[str, Any],
        *,
        stream: bool,
        want_usage: bool = False,
        unsupported: UnsupportedPolicy = "warn",
    ) -> Prepared:
        if body.get("n") == 1:
            body = {k: v for k, v in body.items() if k != "n"}
        out = super().prepare(body, stream=stream, unsupported=unsupported)
        b = out.body
        if b.get("tool_choice") == "auto":
            del b["tool_choice"]  # Converse's only behaviour for Llama

        def refuse(param: str, reason: str) -> None:
            if unsupported == "error":
                raise UnsupportedParameterError(self.name, param, reason)
            out.dropped.append((param, reason))

        from ._converse import converse_body  # loaded on first use, like the tool support

        model = b["model"]
        out.body = converse_body(b, refuse=refuse, additional_fields=self.additional_fields)
        out.path = f"/model/{quote(model, safe='')}/{'converse-stream' if stream else 'converse'}"
        if stream:
            out.headers["Accept"] = "application/vnd.amazon.eventstream"
        return out

    # -- responses ------------------------------------------------------------------------------

    def parse_completion(self, response: httpx.Response, cls: type[M]) -> M:
        from pydantic import ValidationError

        from .._response import decode_body
        from ._converse import completion_dict, new_completion_id

        body = decode_body(response)
        request_id = response.headers.get("x-amzn-requestid")
        completion_id = f"chatcmpl-{request_id}" if request_id else new_completion_id()
        data = completion_dict(body, _model_of(response.request), completion_id)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ResponseValidationError(
                f"Unexpected Bedrock answer ({exc.error_count()} problem(s)): "
                f"{preview(response.text)}",
                request=response.request,
                body=body,
            ) from None

    def stream_framer(self, request: httpx.Request) -> EventStreamFramer:
        from ._converse import StreamEvents

        return EventStreamFramer(StreamEvents(_model_of(request)))

    def normalize_finish(self, reason: str | None, has_tool_calls: bool) -> str | None:
        mapped = _STOP_REASONS.get(reason) if reason is not None else None
        if mapped is not None:
            return mapped
        return super().normalize_finish(reason, has_tool_calls)

    # -- errors ---------------------------------------------------------------------------------

    def classify_error(self, exc: APIStatusError) -> APIStatusError:
        headers = exc.response.headers
        body = exc.body
        kind = headers.get("x-amzn-errortype", "").split(":")[0]
        if not kind and isinstance(body, Mapping) and isinstance(body.get("__type"), str):
            kind = body["__type"].rsplit("#", 1)[-1]
        if not kind:
            return super().classify_error(exc)
        text = error_info(body, exc.status_code).message
        message = f"Error code: {exc.status_code} - {kind}: {text}"
        lower = text.lower()
        cls: type[APIStatusError] = type(exc)
        if kind == "ThrottlingException":
            cls = RateLimitError
        elif kind == "AccessDeniedException":
            cls = PermissionDeniedError
        elif kind in _AUTH_ERRORS:
            cls = AuthenticationError
        elif kind == "ResourceNotFoundException":
            cls = NotFoundError
        elif kind == "ValidationException":
            if "too long" in lower or "context window" in lower or "too many input tokens" in lower:
                cls = ContextLengthExceededError
            elif isinstance(exc, APIStatusError) and exc.status_code == 400:
                cls = BadRequestError
            if "on-demand throughput" in lower:
                message += self._profile_hint(exc)
        kwargs: dict[str, Any] = {
            "response": exc.response,
            "body": body,
            "error_type": kind,
            "code": kind,
            "param": exc.param,
        }
        if issubclass(cls, RateLimitError):
            kwargs["retry_after"] = getattr(exc, "retry_after", None)
        new = cls(message, **kwargs)  # the constructor redacts the request's credentials
        new.__cause__ = exc.__cause__
        new.request_id = headers.get("x-amzn-requestid") or exc.request_id
        return new

    def _profile_hint(self, exc: APIStatusError) -> str:
        model = _model_of(exc.request) if exc.request is not None else ""
        region = self._region({}, str(exc.request.url) if exc.request is not None else None)
        prefix = next(
            (p for start, p in _PROFILE_PREFIXES if region and region.startswith(start)), "us."
        )
        if model and not model.startswith(tuple(p for _, p in _PROFILE_PREFIXES)):
            return (
                f" (this model is served through a cross-region inference profile: use the "
                f"model id {prefix + model!r}, or another region's prefix such as 'us.' / 'eu.')"
            )
        return " (use the model's inference-profile id, with a 'us.' / 'eu.' prefix)"
